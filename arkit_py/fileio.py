"""Writing a file so that nobody sees half of it: ``write_atomic``, the one helper every
output goes through (holograms, curves, bundles, certificates and keys).

The data goes to a temporary file in the target's folder, is flushed (and with ``fsync`` made
durable), given its mode, and renamed over the target; on any failure the temporary file is
removed and the target is untouched.
"""

from __future__ import annotations

import os
import tempfile

from .errors import InputError


def write_atomic(path: str | os.PathLike, data: bytes, *, mode: int | None = None, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    mode : the file's permissions (default: an ordinary file, 0666 less the umask; 0600 for
        a key). fsync : also flush it to the disk before the rename (keys, certificates).
    InputError when the folder does not exist."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(path, "output folder does not exist")
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=".arkit-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
