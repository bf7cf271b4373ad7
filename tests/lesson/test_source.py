"""lesson.yaml: the schema, the checks it cannot make, and errors that point at the line."""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arkit_py.errors import LessonError
from arkit_py.lesson.source import load_lesson, schema
from tests.lesson.conftest import template_text, write_lesson

LOCATED = re.compile(r"^.+lesson\.yaml:\d+:\d+: \S.*: .+$")


def test_the_template_loads_and_normalises(tmp_path):
    src = load_lesson(write_lesson(tmp_path))
    n = src.normalised
    assert n["schema_version"] == 1 and n["id"] == "demo"
    assert all(step["hologram"] == "body" for step in n["steps"])
    assert n["steps"][1]["quiz"] == {"id": "find-left-kidney", "kind": "identify",
                                     "prompt": "Tap the patient's left kidney.", "answer": ["kidney_left"]}


def test_the_schema_is_valid_json_schema():
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema())


def _error(tmp_path, old: str, new: str) -> str:
    text = template_text()
    assert old in text, old
    folder = write_lesson(tmp_path, text.replace(old, new, 1))
    with pytest.raises(LessonError) as info:
        load_lesson(folder)
    message = str(info.value)
    assert LOCATED.match(message), message
    assert "\n" not in message
    return message


def test_misspelt_structure_points_at_it_and_suggests(tmp_path):
    message = _error(tmp_path, "- {structure: liver, text: Liver}", "- {structure: livr, text: Liver}")
    line = template_text().splitlines().index("      - {structure: liver, text: Liver}") + 1
    assert message.endswith(f"lesson.yaml:{line}:21: steps[0].labels[0].structure: unknown structure 'livr' "
                            "(did you mean 'liver'?)")


@pytest.mark.parametrize("old,new,expected", [
    ('visible: ["system:digestive"', 'visible: ["system:digestiv"', "steps[0].visible[0]: unknown system 'digestiv' "
                                                                    "(did you mean 'system:digestive'?)"),
    ("minutes: 15", "minutes: fifteen", "minutes: must be an integer"),
    ("view: front}", "veiw: front}", "steps[0].framing.veiw: unknown field 'veiw' (did you mean 'view'?)"),
    ("kind: identify", "kind: identity", "steps[1].quiz.kind: must be one of"),
    ("id: demo", "id: other", "id: must be the folder name 'demo'"),
    ("review_status: unreviewed", "review_status: approved", "review_status: must be one of"),
    ("review_status: unreviewed", "review_status: reviewed", "names who reviewed it"),
    ("answer: [kidney_left]", "answer: [left kidney]", "'left kidney' is not the canonical name (write 'kidney_left')"),
    ("hologram: body\n    visible", "hologram: bdy\n    visible", "unknown hologram 'bdy' (did you mean 'body'?)"),
    ("    profile: phone", "    profile: phone\n    tracer: fgd", "unknown tracer 'fgd' (did you mean 'fdg'?)"),
    ("    profile: phone", "    profile: phone\n    window: [0, 5]", "only a hologram with a tracer"),
    ("authors: [\"Your Name\"]", "authors: []", "authors: must have at least 1 items"),
    ("title: The abdomen", "title: The abdomen\n    title: Again", "key 'title' appears twice"),
])
def test_located_errors(tmp_path, old, new, expected):
    assert expected in _error(tmp_path, old, new)


QUIZ = """
  - title: Quiz
    narration: A question.
    quiz:
{quiz}
"""


@pytest.mark.parametrize("quiz,expected", [
    ("      {id: q, kind: choice, prompt: P, options: [a, b], answer: [2]}", "option 2 does not exist"),
    ("      {id: q, kind: choice, prompt: P, options: [a, b], answer: [1, 1]}", "listed twice"),
    ("      {id: q, kind: numeric, prompt: P, answer: 370 MBq, tolerance: 5 min}", "is not an activity like the answer"),
    ("      {id: q, kind: numeric, prompt: P, answer: 370 parsecs-ish, tolerance: 5 %}", "answer"),
    ("      {id: q, kind: numeric, prompt: P, answer: 370 MBq, tolerance: 150 %}", "between 0 % and 100 %"),
    ("      {id: q, kind: numeric, prompt: P, answer: 370 MBq}", "missing field 'tolerance'"),
    ("      {id: find-left-kidney, kind: identify, prompt: P, answer: [liver]}", "already used in step 1"),
    ("      {id: q, kind: order, prompt: P, answer: [liver, liver]}", "listed twice"),
    ("      {id: q, kind: identify, prompt: P, answer: [liver], options: [a]}", "unknown field 'options'"),
])
def test_quiz_errors(tmp_path, quiz, expected):
    text = template_text() + QUIZ.format(quiz=quiz)
    folder = write_lesson(tmp_path, text)
    with pytest.raises(LessonError) as info:
        load_lesson(folder)
    assert expected in str(info.value) and LOCATED.match(str(info.value)), str(info.value)


def test_numeric_answers_are_normalised_with_units(tmp_path):
    quiz = "      {id: q, kind: numeric, prompt: P, answer: 10 mCi, tolerance: 2 %}"
    src = load_lesson(write_lesson(tmp_path, template_text() + QUIZ.format(quiz=quiz)))
    q = src.normalised["steps"][2]["quiz"]
    assert q["answer_value"] == pytest.approx(370e6) and q["answer_kind"] == "activity"
    assert q["tolerance_relative"] == pytest.approx(0.02)


def test_missing_folder_and_file(tmp_path):
    with pytest.raises(LessonError, match="no such lesson folder"):
        load_lesson(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LessonError, match="no lesson.yaml"):
        load_lesson(tmp_path / "empty")


# -- fuzzing ------------------------------------------------------------------------------

BASE = yaml.safe_load(template_text())
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.just("system:skeletal"), st.just("liver"), st.just("12 parsecs"))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def _paths(node, where=()):
    yield where
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, where + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, where + (i,))


ALL_PATHS = [p for p in _paths(BASE) if p]


@st.composite
def mutated(draw):
    import copy

    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
        except (KeyError, IndexError, TypeError):
            continue
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        try:
            if action == "delete":
                del parent[path[-1]]
            elif action == "replace":
                parent[path[-1]] = draw(VALUES)
            elif isinstance(parent, dict):
                parent[draw(st.text(max_size=8))] = draw(VALUES)
            else:
                parent.append(draw(VALUES))
        except (KeyError, IndexError, TypeError, AttributeError):  # the parent is a scalar (None, a number)
            continue
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=mutated())
def test_mutated_lessons_load_or_fail_with_a_location(tmp_path, data):
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    folder = write_lesson(tmp_path, text)
    try:
        load_lesson(folder)
    except LessonError as error:
        assert LOCATED.match(str(error)), str(error)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_any_text_loads_or_fails_with_a_location(tmp_path, text):
    folder = write_lesson(tmp_path, text)
    try:
        load_lesson(folder)
    except LessonError as error:
        assert re.match(r"^.+lesson\.yaml:\d+:\d+: ", str(error)), str(error)


def _bomb(levels: int = 9) -> str:
    """A billion-laughs YAML head: each anchor repeats the one before nine times."""
    lines = ['b0: &b0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("where", ["head", "narration"])
def test_alias_bombs_are_refused_at_once_with_their_line(tmp_path, where):
    text = template_text()
    if where == "head":
        text = _bomb() + text
    else:  # an anchor on a value deep in the lesson
        text = text.replace("narration: ", "narration: &n ", 1)
    folder = write_lesson(tmp_path, text)
    with pytest.raises(LessonError, match="anchors and aliases") as info:
        load_lesson(folder)
    assert LOCATED.match(str(info.value)), str(info.value)


@pytest.mark.parametrize("opening,closing", [("[", "]"), ("{a: ", "}"), ("- ", "")])
def test_deep_nesting_is_refused_with_its_line(tmp_path, opening, closing):
    if opening == "- ":  # block lists, one level per line
        text = template_text() + "extra:\n" + "\n".join("  " * (i + 1) + "-" for i in range(60)) + " x\n"
    else:  # flow style, 100,000 levels in one line
        text = template_text() + "extra: " + opening * 100_000 + "1" + closing * 100_000 + "\n"
    folder = write_lesson(tmp_path, text)
    with pytest.raises(LessonError, match="too deep") as info:
        load_lesson(folder)
    assert LOCATED.match(str(info.value)), str(info.value)


@pytest.mark.parametrize("source,expected", [
    ("phantom:mird-adult?voxel=0.01", "voxel must be between 0.25 and 20 mm"),
    ("phantom:mird-adult?voxel=nan", "voxel must be between"),
    ("phantom:mird-adult?sex=x", "sex must be male or female"),
    ("/etc/passwd", "is an absolute path"),
    ("../outside.nii.gz", "is outside the lesson folder"),
])
def test_validate_refuses_what_the_build_would(tmp_path, source, expected):
    (tmp_path / "outside.nii.gz").write_bytes(b"x")
    message = _error(tmp_path, "source: phantom:mird-adult?voxel=8", f"source: {source!r}")
    assert LOCATED.match(message) and "holograms.body.source" in message and expected in message, message


def test_validate_reads_the_lessons_tracer_file(tmp_path):
    folder = write_lesson(tmp_path, template_text().replace("    profile: phone", "    profile: phone\n    tracer: my.yaml"))
    (folder / "my.yaml").write_text("base: fdg\nsources: {s: 5}\n")
    with pytest.raises(LessonError, match=r"holograms\.body\.tracer: .*sources") as info:
        load_lesson(folder)
    assert LOCATED.match(str(info.value))
    (folder / "my.yaml").write_text(_bomb() + "base: fdg\n")
    with pytest.raises(LessonError, match="anchors and aliases"):
        load_lesson(folder)


# -- tracer fields: parsed by the CLI's parser, errors at the lesson field ----------------------

TRACED = "    profile: phone\n    tracer: fdg\n"


@pytest.mark.parametrize("field,value,expected", [
    ("activity", "3xx", "holograms.body.activity: cannot read '3xx' as a quantity (unknown unit 'xx')"),
    ("activity", "0 MBq", "holograms.body.activity: the activity must be positive, got '0 MBq'"),
    ("until", "'2'", "holograms.body.until: '2' has no unit"),
    ("clip", "0 s", "holograms.body.clip: must be positive, got '0 s'"),
    ("voiding", "soon", "holograms.body.voiding: cannot read 'soon'"),
    ("window", "[5, 1]", "holograms.body.window: must be [min, max] with max > min"),
])
def test_a_bad_tracer_field_names_the_lesson_field_not_a_flag(tmp_path, field, value, expected):
    message = _error(tmp_path, "    profile: phone", f"{TRACED}    {field}: {value}")
    line = template_text().splitlines().index("    profile: phone") + 3
    assert f"lesson.yaml:{line}:" in message and expected in message, message
    assert "--" not in message


def test_lesson_and_cli_give_the_same_uptake_options(tmp_path):
    from arkit_py.cli import _uptake_options, build_parser
    from arkit_py.lesson.source import uptake_options

    fields = {"activity": "300 MBq", "until": "90 min", "clip": "10 s", "window": "[0, 4]", "quantity": "suv",
              "voiding": "2 h", "nuclide": "F-18"}
    text = template_text().replace("    profile: phone", TRACED + "".join(f"    {k}: {v}\n" for k, v in fields.items()))
    lesson = uptake_options(load_lesson(write_lesson(tmp_path, text)), "body")
    args = build_parser().parse_args(["hologram", "-o", "x.glb", "--tracer", "fdg", "--activity", "300MBq",
                                      "--until", "90min", "--clip", "10s", "--window", "0:4", "--quantity", "suv",
                                      "--voiding", "2h", "--nuclide", "F-18"])
    assert lesson == _uptake_options(args)
    assert lesson.activity_bq == pytest.approx(300e6) and lesson.window == (0.0, 4.0) and lesson.voiding_s == 7200


def test_a_tracer_file_beside_the_lesson_is_resolved_and_named_generically(tmp_path):
    from arkit_py.lesson.source import uptake_options

    text = template_text().replace("    profile: phone", "    profile: phone\n    tracer: mine.yaml\n    voiding: none")
    folder = write_lesson(tmp_path, text)
    (folder / "mine.yaml").write_text("base: fdg\nid: mine\n", encoding="utf-8")
    src = load_lesson(folder)
    assert src.normalised["holograms"]["body"]["tracer"] == "tracer file"
    options = uptake_options(src, "body")
    assert options.tracer == str(src.folder / "mine.yaml") and options.no_voiding and options.voiding_s is None
