"""write_atomic: all or nothing, with the mode asked for."""

from __future__ import annotations

import os
import stat

import pytest

from arkit_py.errors import InputError
from arkit_py.fileio import write_atomic


def test_a_write_replaces_the_target_whole_with_its_mode(tmp_path):
    target = tmp_path / "key.pem"
    target.write_bytes(b"old")
    write_atomic(target, b"new key", mode=0o600, fsync=True)
    assert target.read_bytes() == b"new key" and stat.S_IMODE(os.stat(target).st_mode) == 0o600
    write_atomic(str(tmp_path / "out.bin"), b"glb")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "out.bin").st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem", "out.bin"]


def test_a_failed_write_leaves_the_target_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "curves.csv"
    target.write_bytes(b"before")

    def fail(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_atomic(target, b"after")
    assert target.read_bytes() == b"before" and [p.name for p in tmp_path.iterdir()] == ["curves.csv"]


def test_a_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="output folder does not exist"):
        write_atomic(tmp_path / "nope" / "x.bin", b"")
