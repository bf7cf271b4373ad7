"""What the command modules share (``cli``, ``cli_tracer``, ``cli_lesson``): writing an
output atomically and reading a person's weight or height. Imports nothing of the CLI, so
the command modules import it and not each other."""

from __future__ import annotations

import os
import tempfile

from .errors import InputError


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: a reader never
    sees half a file, and a failure leaves no output behind."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(path, "output folder does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".arkit-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise



def person_quantity(option: str, text: str | None, kind: str, unit: str, bounds: tuple[float, float], what: str):
    """A body weight (g) or height (cm) typed with or without a unit; None when not given."""
    from .units import UnitError, parse_quantity

    if text is None:
        return None
    try:
        value = parse_quantity(text, kind, default_unit=unit)
    except UnitError as error:
        raise InputError(None, f"{option}: {error}") from None
    if not bounds[0] <= value <= bounds[1]:
        raise InputError(None, f"{option} must be {what}, got {text!r}")
    return value
