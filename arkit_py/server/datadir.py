"""Where the server keeps its data: the SQLite file, the lecturer key, the local CA, the
uploaded bundles and their assets.

In order: the folder given (``arkit serve --data DIR``), else ``ARKIT_DATA_DIR``, else the
platform's user data folder for arkit (``platformdirs.user_data_dir("arkit")``:
``~/.local/share/arkit`` on Linux, honouring ``XDG_DATA_HOME``; ``~/Library/Application
Support/arkit`` on macOS; ``%LOCALAPPDATA%\\arkit`` on Windows). Never the current folder, so
a server started from a checkout leaves nothing in it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..userdirs import DATA_ENV as ENV
from ..userdirs import default_data_dir


def data_dir(given: str | os.PathLike | None = None) -> Path:
    """The data folder to use (absolute): ``given``, or ``default_data_dir()``."""
    path = Path(given).expanduser() if given else default_data_dir()
    return path.resolve()


__all__ = ["ENV", "data_dir", "default_data_dir"]
