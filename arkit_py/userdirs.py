"""arkit's folders in the user's account: the data folder (the server's database and
bundles, imported phantoms), ``ARKIT_DATA_DIR`` when set, else the platform's user data
folder for arkit (``platformdirs.user_data_dir("arkit")``: ``~/.local/share/arkit`` on
Linux, honouring ``XDG_DATA_HOME``; ``~/Library/Application Support/arkit`` on macOS;
``%LOCALAPPDATA%\\arkit`` on Windows). Never the current folder.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "ARKIT_DATA_DIR"


def default_data_dir() -> Path:
    """``ARKIT_DATA_DIR`` when set, else the platform's user data folder for arkit."""
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("arkit", appauthor=False))
