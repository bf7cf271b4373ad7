"""The exceptions arkit raises on purpose.

::

    ArkitError                 anything the user can fix; the CLI prints one line, exit code 2
     +-- InputError            an unreadable or invalid volume, label table or curve file
     +-- LessonError           a lesson source or bundle that fails its schema or checks
     +-- SessionError          a request the classroom server refuses (code, message)
     +-- DependencyError       an optional dependency that is not installed

Bad arguments to library functions stay ``ValueError`` / ``TypeError``: those are bugs in
the caller, not in the user's data. A traceback from the CLI means a bug in arkit.
"""

from __future__ import annotations

import os


class ArkitError(Exception):
    """Base class: a problem the user can fix, told in one line."""


class InputError(ArkitError):
    """An input file (volume, label table, curves) that cannot be used.

    ``path`` is the path as the user gave it; the message is ``<path>: <problem>``.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{problem}")


class LessonError(ArkitError):
    """A lesson source or bundle that fails validation.

    With a location the message reads ``<path>:<line>:<col>: <field>: <problem>``
    (``lessons/fdg/lesson.yaml:14:5: steps[2].visible: unknown structure 'livr'``); a bundle
    problem reads ``<path>: <problem>``.
    """

    def __init__(self, problem: str, *, path: str | os.PathLike | None = None, line: int | None = None,
                 column: int | None = None, field: str | None = None):
        self.path = None if path is None else str(path)
        self.line, self.column, self.field, self.problem = line, column, field, problem
        where = self.path or ""
        if where and line is not None:
            where += f":{line}:{column or 1}"
        text = f"{field}: {problem}" if field else problem
        super().__init__(f"{where}: {text}" if where else text)


class SessionError(ArkitError):
    """A request the classroom server refuses: an unknown, expired or ended session, a
    missing or wrong key, a malformed body, answer or action, a bad upload.

    ``code`` is a stable, machine-readable identifier (``unknown_code``, ``bad_answer``...)
    that clients switch on; ``message`` is one line for people. The server turns the code into
    an HTTP status through one table (``arkit_py.server.errors.STATUS``); the live protocol
    acks it as ``{ok: false, error: code, message}``.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class DependencyError(ArkitError):
    """An optional dependency is missing; the message says how to install it."""

    def __init__(self, package: str, purpose: str):
        super().__init__(f"{purpose} needs the Python package '{package}': pip install {package}")
