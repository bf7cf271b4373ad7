"""The documentation holds together: every relative link in the repository's Markdown files
reaches a file of the repository (and a heading of it, for ``#anchor``s, by GitHub's slug
rules); every ``docs/<name>.md`` path that code, YAML or JS names exists (with its heading);
no file points at documents outside the repository; the README stays an overview.

"The repository's files" are what git tracks, plus new files not ignored yet, so the test
also holds on a working tree before its commit.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
SELF = PurePosixPath(Path(__file__).resolve().relative_to(ROOT).as_posix())
README_MAX_LINES = 260

# Where code may name a docs/ page: every text file below these folders.
CODE_ROOTS = ("arkit_py/", "lessons/", "web_ar/", "tests/", "benchmarks/", "scripts/", ".ci/")
CODE_EXCLUDED = ("node_modules/", "arkit_py/web/static/")

# Documents that are not part of the repository and must not be referred to: the team's
# design notes and research notes, and the folder of third-party studies they came with
# (tests/data/ holds, with its source and licence, what a test needs).
OUTSIDE = [
    (re.compile(r"DESIGN\.md"), "DESIGN.md"),
    (re.compile(r"STYLE\.md"), "STYLE.md"),
    (re.compile(r"(?<![\w/.-])research/|\.\./research/"), "research/ (notes outside the repository)"),
    (re.compile(r"(?<![\w.-])extdata/"), "extdata/ (studies outside the repository)"),
]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
HTML_ID = re.compile(r"""<[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.I)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.M)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1", re.S)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
DOCS_PATH = re.compile(r"(?<![\w/.-])((?:\.\./)*docs/[\w./-]*?\.md)(#[\w-]+)?")


@cache
def repo_files() -> frozenset[str]:
    """Tracked files and new files that are not ignored, as POSIX paths from the root."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError) as e:  # an unpacked sdist has no git
        pytest.skip(f"git ls-files failed: {e}")
    return frozenset(p for p in out.decode().split("\0") if p and (ROOT / p).is_file())


@cache
def repo_dirs() -> frozenset[str]:
    dirs = set()
    for f in repo_files():
        parent = PurePosixPath(f).parent
        while str(parent) != ".":
            dirs.add(str(parent))
            parent = parent.parent
    return frozenset(dirs)


def markdown_files() -> list[str]:
    return sorted(f for f in repo_files() if f.endswith(".md"))


def read_text(path: str) -> str | None:
    data = (ROOT / path).read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown text with fenced code blocks blanked (line numbers kept)."""
    lines = text.split("\n")
    fence: str | None = None
    for i, line in enumerate(lines):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
                lines[i] = ""
        else:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip()[len(m.group(1)):].strip():
                fence = None
            lines[i] = ""
    return lines


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text lower-cased, punctuation dropped
    (letters, digits, ``_`` and ``-`` stay), spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: str) -> frozenset[str]:
    return anchors_in((ROOT / path).read_text(encoding="utf-8"))


def anchors_in(text: str) -> frozenset[str]:
    """Every anchor of a Markdown text: heading slugs (duplicates numbered -1, -2, ... as
    GitHub does) and explicit HTML ids."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(text):
        m = HEADING.match(line)
        if m:
            slug = github_slug(m.group(2))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
        found.update(HTML_ID.findall(line))
    return frozenset(found)


def links(path: str) -> list[tuple[int, str]]:
    return links_in((ROOT / path).read_text(encoding="utf-8"))


def links_in(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every inline link, image and reference definition outside
    code blocks and code spans."""
    text = "\n".join(prose_lines(text))
    # blank code spans paragraph by paragraph (keeping newlines), so a stray backtick
    # cannot swallow the rest of the file
    paragraphs = re.split(r"(\n[ \t]*\n)", text)
    text = "".join(CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), p) for p in paragraphs)
    found = []
    for pattern in (INLINE_LINK, REFERENCE_DEF):
        for m in pattern.finditer(text):
            target = m.group(1)
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            found.append((text.count("\n", 0, m.start()) + 1, target))
    return found


def resolve(source: str, target: str) -> tuple[str | None, str | None, str | None]:
    """(repository path or None for the same file, anchor or None, problem or None)."""
    target, _, anchor = target.partition("#")
    target = unquote(target.split("?", 1)[0])
    if not target:
        return None, anchor or None, None
    base = PurePosixPath("") if target.startswith("/") else PurePosixPath(source).parent
    parts: list[str] = []
    for part in (base / target.lstrip("/")).parts:
        if part == "..":
            if not parts:
                return None, None, f"{target} points outside the repository"
            parts.pop()
        elif part != ".":
            parts.append(part)
    path = "/".join(parts)
    if path not in repo_files() and path not in repo_dirs():
        return None, None, f"{target}: no such file in the repository"
    return path, anchor or None, None


def check_anchor(path: str, anchor: str) -> str | None:
    if not path.endswith(".md") or path not in repo_files():
        return None  # line anchors of code files, folders: GitHub's own
    if anchor.lower() not in anchors(path):
        return f"{path} has no heading for #{anchor}"
    return None


def test_markdown_files_are_found():
    files = markdown_files()
    for expected in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md", "benchmarks/README.md"):
        assert expected in files, f"{expected} is missing"
    assert any(f.startswith("docs/") for f in files)


def test_relative_links_resolve():
    problems = []
    for md in markdown_files():
        for line, target in links(md):
            if SCHEME.match(target) or target.startswith("//"):
                continue  # http(s), mailto: not ours to check offline
            path, anchor, problem = resolve(md, target)
            if problem is None and anchor:
                problem = check_anchor(path or md, anchor)
            if problem:
                problems.append(f"{md}:{line}: ({target}) {problem}")
    assert not problems, "broken links:\n" + "\n".join(problems)


def code_files() -> list[str]:
    return sorted(f for f in repo_files()
                  if f.startswith(CODE_ROOTS) and not f.endswith(".md")
                  and not any(x in f for x in CODE_EXCLUDED) and f != str(SELF))


def test_docs_named_in_code_exist():
    problems = []
    for f in code_files():
        text = read_text(f)
        if text is None:
            continue
        for m in DOCS_PATH.finditer(text):
            path = re.sub(r"^(?:\.\./)+", "", m.group(1))
            line = text.count("\n", 0, m.start()) + 1
            if path not in repo_files():
                problems.append(f"{f}:{line}: {m.group(0)}: no such document")
            elif m.group(2):
                problem = check_anchor(path, m.group(2)[1:])
                if problem:
                    problems.append(f"{f}:{line}: {m.group(0)}: {problem}")
    assert not problems, "documents named in code that do not exist:\n" + "\n".join(problems)


def test_no_references_outside_the_repository():
    problems = []
    for f in sorted(repo_files()):
        if f == str(SELF) or f.startswith(".git/"):
            continue
        text = read_text(f)
        if text is None:
            continue
        for pattern, what in OUTSIDE:
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                problems.append(f"{f}:{line}: refers to {what}")
    assert not problems, "references to documents outside the repository:\n" + "\n".join(problems)


def test_readme_is_an_overview():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"


@pytest.mark.parametrize(("heading", "slug"), [
    ("The two commands", "the-two-commands"),
    ("`arkit hologram`: anatomy to a GLB", "arkit-hologram-anatomy-to-a-glb"),
    ("HTTPS and trusting the local certificate authority", "https-and-trusting-the-local-certificate-authority"),
    ("Behind a proxy (nginx)", "behind-a-proxy-nginx"),
    ("Reading DICOM: `benchmarks/dicom_series.py`", "reading-dicom-benchmarksdicom_seriespy"),
    ("What is coloured -- and why", "what-is-coloured----and-why"),
    ("[Budgets](#budgets)", "budgets"),
])
def test_github_slug(heading, slug):
    assert github_slug(heading) == slug


def test_links_and_headings_outside_code():
    text = ("[a](x.md) `[b](y.md)` ![i](<img one.png> \"title\")\n\n```sh\n[c](z.md)\n# not a heading\n```\n"
            "# Real one\n## Real one\n<a id=\"here\"></a>\n[d](#real-one-1)\n\n[ref]: ../up.md#top\n")
    assert links_in(text) == [(1, "x.md"), (1, "img one.png"), (10, "#real-one-1"), (12, "../up.md#top")]
    assert anchors_in(text) == {"real-one", "real-one-1", "here"}
