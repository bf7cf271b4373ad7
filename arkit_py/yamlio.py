"""The one YAML reader for every file arkit reads (lesson.yaml, tracer files).

YAML as people write it, and nothing that makes a small file expensive: PyYAML's safe
loader (no Python tags) with three refusals, each a ``YamlProblem`` located in the file:

- anchors and aliases (``&a`` / ``*a``): a 16 kB file of nested aliases expands to
  billions of nodes; lessons and tracers have no use for them;
- nesting deeper than ``MAX_DEPTH`` (a 100,000-deep ``[[[[...`` would otherwise end in a
  RecursionError);
- a key given twice in one mapping (the second would silently win).

``load_yaml(text)`` returns the data and the composed node tree (for positions); callers
turn a ``YamlProblem`` into their own error (``LessonError`` with line and column,
``InputError`` for a tracer file).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

MAX_DEPTH = 40  # mappings and lists inside each other; a lesson needs about 8


@dataclass
class YamlProblem(Exception):
    """Why a YAML text was refused, and where (1-based line and column)."""

    problem: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


class _Loader(yaml.SafeLoader):
    """SafeLoader without anchors or aliases, with bounded nesting and unique keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise YamlProblem("anchors and aliases (&name, *name) are not allowed: write the value out",
                              event.start_mark.line + 1, event.start_mark.column + 1)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlProblem(f"too deep: lists and mappings nest at most {MAX_DEPTH} levels", event.start_mark.line + 1,
                              event.start_mark.column + 1)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key (a list): SafeLoader refuses it below
                duplicate = False
            if duplicate:
                raise YamlProblem(f"not valid YAML: key {key!r} appears twice", key_node.start_mark.line + 1,
                                  key_node.start_mark.column + 1)
        return super().construct_mapping(node, deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)


def load_yaml(text: str) -> tuple[object, yaml.Node | None]:
    """(data, node tree) of one YAML document; ``YamlProblem`` on anything refused."""
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except YamlProblem:
        raise
    except yaml.reader.ReaderError as error:
        what = f"U+{error.character:04X}" if isinstance(error.character, int) else repr(error.character)
        raise YamlProblem(f"not valid YAML: character {what} is not allowed") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or "syntax error"
        raise YamlProblem(f"not valid YAML: {problem}", (mark.line + 1) if mark else 1,
                          (mark.column + 1) if mark else 1) from None
    except RecursionError:  # belt and braces: MAX_DEPTH stops this long before
        raise YamlProblem(f"too deep: lists and mappings nest at most {MAX_DEPTH} levels") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node


def load_json(text: str | bytes) -> object:
    """A JSON document (label tables, sidecars) with the same refusals: NaN and Infinity
    (not JSON), nesting past any parser's recursion. ``YamlProblem`` with the line."""
    import json

    def constant(name: str):
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as error:
        raise YamlProblem(f"not valid JSON: {error.msg}", error.lineno, error.colno) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise YamlProblem(f"not valid JSON: {error}") from None
    except RecursionError:
        raise YamlProblem("not valid JSON: nested too deeply") from None
