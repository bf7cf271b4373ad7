"""``arkit lesson ...``: new, validate, build, keygen, sign, inspect (a thin shell)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from importlib import resources
from pathlib import Path

from .errors import InputError


def cmd_new(args: argparse.Namespace) -> int:
    lesson_id = args.id
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", lesson_id):
        raise InputError(None, f"lesson id {lesson_id!r}: lower-case letters, digits and single hyphens (e.g. fdg-basics)")
    folder = Path(args.dir) / lesson_id
    if folder.exists():
        raise InputError(str(folder), "already exists")
    template = (resources.files("arkit_py") / "lesson" / "template.yaml").read_text(encoding="utf-8")
    title = lesson_id.replace("-", " ").capitalize()
    folder.mkdir(parents=True)
    (folder / "lesson.yaml").write_text(template.replace("{id}", lesson_id).replace("{title}", title), encoding="utf-8")
    print(f"arkit: wrote {folder / 'lesson.yaml'}; next: arkit lesson build {folder} -o dist/", file=sys.stderr)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .lesson.source import load_lesson

    for folder in args.folders:
        src = load_lesson(folder)
        steps = src.data["steps"]
        quizzes = sum(1 for s in steps if "quiz" in s)
        print(f"{src.path}: ok ({len(steps)} steps, {quizzes} quizzes, {len(src.data['holograms'])} holograms, "
              f"{src.data['review_status']})")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    import time

    from .lesson.bundle import build_lessons

    if args.jobs is not None and args.jobs < 1:
        raise InputError(None, f"--jobs must be at least 1, got {args.jobs}")
    t = time.perf_counter()
    results = build_lessons(args.folders, args.output, cache_dir=args.cache, use_cache=not args.no_cache,
                            jobs=args.jobs,
                            progress=None if args.quiet else (lambda m: print(f"arkit: {m}", file=sys.stderr)))
    if not args.quiet:
        for result in results:
            print(f"arkit: wrote {result.bundle} ({result.bundle.stat().st_size / 1e6:.2f} MB; holograms built "
                  f"{len(result.built)}, from cache {len(result.cached)})", file=sys.stderr)
        print(f"arkit: {len(results)} lesson(s) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from .lesson.signing import generate_key

    private, public, key_id = generate_key(args.key)
    print(f"arkit: wrote {private} (private, keep it secret) and {public} (public; key id {key_id})", file=sys.stderr)
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from .lesson.bundle import sign_bundle

    signature = sign_bundle(args.bundle, args.key)
    print(f"arkit: signed {args.bundle} with key {signature['key_id']}", file=sys.stderr)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .lesson.bundle import read_bundle
    from .lesson.signing import read_trusted_keys

    trusted = read_trusted_keys(args.trust) if args.trust else None
    bundle = read_bundle(args.bundle, require_signature=args.require_signature, trusted_keys=trusted)
    lesson = bundle.lesson
    report = {
        "bundle": str(bundle.path),
        "id": lesson["id"], "title": lesson["title"], "schema_version": lesson["schema_version"],
        "review_status": lesson["review_status"],
        "steps": len(lesson["steps"]),
        "quizzes": [s["quiz"]["id"] for s in lesson["steps"] if "quiz" in s],
        "holograms": {hid: {k: a["path"] for k, a in h.get("assets", {}).items()} for hid, h in lesson["holograms"].items()},
        "files": bundle.manifest["files"],
        "signed_by": bundle.signed_by,
        "checks": "ok",
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['bundle']}: {lesson['id']} ({lesson['title']}), schema {lesson['schema_version']}, "
          f"{lesson['review_status']}")
    print(f"  {report['steps']} steps, quizzes: {', '.join(report['quizzes']) or 'none'}")
    for f in bundle.manifest["files"]:
        print(f"  {f['path']}  {f['size']:,} bytes  sha256 {f['sha256'][:16]}…")
    print(f"  signature: {'valid, key ' + bundle.signed_by if bundle.signed_by else 'none'}")
    print("  checks: manifest, hashes, sizes, paths and schema version ok")
    return 0


def add_parser(sub) -> None:
    t = sub.add_parser("lesson", help="lessons: scaffold, validate, build bundles, sign, inspect")
    ts = t.add_subparsers(dest="lesson_command", required=True)

    p = ts.add_parser("new", help="scaffold lessons/<id>/lesson.yaml (a lesson that builds)")
    p.add_argument("id")
    p.add_argument("--dir", default="lessons", help="the lessons folder (default lessons/)")
    p.set_defaults(func=cmd_new)

    p = ts.add_parser("validate", help="check lesson folders against the schema and the structure table")
    p.add_argument("folders", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = ts.add_parser("build", help="write <out>/<id>.arlesson for each lesson folder")
    p.add_argument("folders", nargs="+")
    p.add_argument("-o", "--output", required=True, help="output folder (e.g. dist/)")
    p.add_argument("--cache", help="hologram cache folder (default: holograms/ in $ARKIT_CACHE or the user "
                                            "cache folder, ~/.cache/arkit on Linux)")
    p.add_argument("--no-cache", action="store_true", help="rebuild every hologram")
    p.add_argument("--jobs", type=int, help="holograms built at once, in separate processes (default: the CPUs, "
                                            "at most 4)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_build)

    p = ts.add_parser("keygen", help="a new Ed25519 key pair: KEY (private, 0600) and KEY.pub")
    p.add_argument("key")
    p.set_defaults(func=cmd_keygen)

    p = ts.add_parser("sign", help="sign a bundle (signature.json over manifest.json)")
    p.add_argument("bundle")
    p.add_argument("--key", required=True, help="private key from `arkit lesson keygen`")
    p.set_defaults(func=cmd_sign)

    p = ts.add_parser("inspect", help="check a bundle and print what it holds")
    p.add_argument("bundle")
    p.add_argument("--require-signature", action="store_true", help="refuse an unsigned bundle")
    p.add_argument("--trust", help="trusted public keys: a file (one base64 key a line) or a folder of .pub files")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inspect)
