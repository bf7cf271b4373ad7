"""Where the server keeps its data: ``--data``, else ``ARKIT_DATA_DIR``, else the platform's
user data folder (platformdirs), never the current folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from arkit_py.server import datadir


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    """No ARKIT_DATA_DIR; the user data folder under tmp_path (XDG_DATA_HOME on Linux, and
    platformdirs itself wherever the tests run)."""
    home = tmp_path / "xdg"
    monkeypatch.delenv("ARKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda appname=None, appauthor=None, **_: str(home / appname))
    return home / "arkit"


def test_the_default_is_the_user_data_folder(xdg):
    assert datadir.default_data_dir() == xdg
    assert datadir.data_dir() == xdg.resolve()


def test_the_default_is_what_platformdirs_says(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.delenv("ARKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    assert datadir.default_data_dir() == Path(platformdirs.user_data_dir("arkit", appauthor=False))


def test_arkit_data_dir_and_data_override(xdg, tmp_path, monkeypatch):
    monkeypatch.setenv("ARKIT_DATA_DIR", str(tmp_path / "env"))
    assert datadir.data_dir() == (tmp_path / "env").resolve()
    assert datadir.data_dir(tmp_path / "given") == (tmp_path / "given").resolve()


def test_create_app_defaults_to_it(xdg):
    from arkit_py.server import create_app

    app = create_app({"LECTURER_KEY": "k" * 24, "ASYNC_MODE": "threading", "TESTING": True})
    try:
        assert app.config["DATA_DIR"] == str(xdg)
        assert (xdg / "arkit.db").is_file()
    finally:
        app.extensions["arkit_db"].dispose()


@pytest.mark.parametrize("extra", [[], ["--data", "chosen"]])
def test_serve_prints_where_it_keeps_its_data(xdg, tmp_path, monkeypatch, capsys, extra):
    from arkit_py import cli_server
    from arkit_py.cli import build_parser

    cwd = tmp_path / "checkout"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("ARKIT_LECTURER_KEY", "serve-test-key-0123456789")
    served = []
    monkeypatch.setattr(cli_server, "_serve", lambda app, args, certfile, keyfile: served.append(app))
    # the command itself, without main(): main patches the process for gevent before a real serve
    args = build_parser().parse_args(["serve", "--host", "127.0.0.1", "--port", "8999", "--tls", "off", *extra])
    assert args.func(args) == 0
    want = (cwd / "chosen").resolve() if extra else xdg.resolve()
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"arkit: data: {want}"
    assert served[0].config["DATA_DIR"] == str(want) and (want / "arkit.db").is_file()
    assert sorted(p.name for p in cwd.iterdir()) == (["chosen"] if extra else [])  # no arkit-data/ here
    served[0].extensions["arkit_db"].dispose()
