"""The one YAML reader: what people write loads; what makes a small file expensive (alias
bombs, deep nesting) is refused at once with its line, for lesson and tracer files alike."""

from __future__ import annotations

import subprocess
import sys

import pytest

from arkit_py.yamlio import MAX_DEPTH, YamlProblem, load_yaml


def bomb(levels: int) -> str:
    """Billion laughs: each anchor repeats the one before nine times (9**levels strings)."""
    lines = ['b0: &b0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_plain_yaml_loads_with_its_tree():
    data, node = load_yaml("id: fdg\nregions:\n  liver: {structures: [liver]}\nvalues: [1, 2.5, true, null]\n")
    assert data == {"id": "fdg", "regions": {"liver": {"structures": ["liver"]}}, "values": [1, 2.5, True, None]}
    assert node.start_mark.line == 0


@pytest.mark.parametrize("text,line", [
    ("a: &x 1\nb: *x\n", 1), ("a: 1\nb: &x [1]\n", 2), ("a: [1, *x]\n", 1), ("<<: {a: 1}\nb: &m {c: 2}\n", 2),
])
def test_anchors_and_aliases_are_refused_where_they_are(text, line):
    with pytest.raises(YamlProblem, match="anchors and aliases") as info:
        load_yaml(text)
    assert info.value.line == line


def test_nesting_is_bounded_without_recursion():
    ok = "x: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "\n"
    assert load_yaml(ok)[0]["x"] is not None
    for text in ("x: " + "[" * 200_000 + "]" * 200_000, "x: " + "{a: " * 50_000 + "1" + "}" * 50_000):
        with pytest.raises(YamlProblem, match="too deep"):
            load_yaml(text)


@pytest.mark.parametrize("text,problem", [
    ("a: 1\na: 2\n", "key 'a' appears twice"), ("a: [1,\n", "not valid YAML"), ("\x1f", r"U\+001F"),
    ("!!python/object:os.system x", "not valid YAML"),
])
def test_other_refusals_are_located_yaml_errors(text, problem):
    with pytest.raises(YamlProblem, match=problem):
        load_yaml(text)


@pytest.mark.parametrize("make,problem", [
    (lambda: bomb(10) + "base: fdg\nregions: {r1: {structures: *b9}}\n", "anchors and aliases"),
    (lambda: "base: fdg\nsources: " + "[" * 50_000 + "]" * 50_000 + "\n", "too deep"),
])
def test_tracer_files_refuse_bombs_at_once(tmp_path, make, problem):
    path = tmp_path / "bomb.yaml"
    path.write_text(make())
    r = subprocess.run([sys.executable, "-m", "arkit_py.cli", "tracer", "show", str(path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and str(path) in r.stderr and problem in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("text,problem", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"), ('{"1": NaN}', "NaN is not JSON"),
    ('{"1": Infinity}', "Infinity is not JSON"), ('{"1": "liver",}', "not valid JSON"),
])
def test_json_files_get_the_same_refusals(tmp_path, text, problem):
    from arkit_py.errors import InputError
    from arkit_py.sources.labeltables import read_label_table
    from arkit_py.yamlio import load_json

    with pytest.raises(YamlProblem, match=problem):
        load_json(text)
    path = tmp_path / "labels.json"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as info:
        read_label_table(str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)
