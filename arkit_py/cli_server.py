"""``arkit serve``, ``arkit demo`` and ``arkit sessions purge`` (a thin shell).

The data folder is ``--data``, else ``ARKIT_DATA_DIR``, else the user data folder
(``server/datadir.py``); serve and demo print it when they start.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from .errors import InputError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DATA_HELP = ("the data folder: SQLite file, lecturer key, local CA, uploads (default $ARKIT_DATA_DIR, else the user "
             "data folder, e.g. ~/.local/share/arkit)")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _config(args: argparse.Namespace) -> dict:
    data = Path(args.data).resolve()
    config = {"DATA_DIR": str(data), "LESSONS_DIR": str(Path(args.lessons).resolve()) if args.lessons else None,
              "DATABASE_URL": args.database, "REDIS_URL": args.redis, "ASYNC_MODE": "gevent"}
    for key in ("LECTURER_KEY", "RETENTION_DAYS", "SESSION_HOURS", "SECRET_KEY", "STUDIO_HOURS", "BUILD_TIMEOUT_S",
                "BUILD_CACHE"):
        value = os.environ.get(f"ARKIT_{key}")
        if value:
            config[key] = value
    for key in LIMITS:  # docs/security.md
        value = os.environ.get(f"ARKIT_{key}")
        if value:
            try:
                config[key] = int(value)
            except ValueError:
                raise InputError(f"ARKIT_{key}", f"must be a whole number, got {value!r}") from None
            if config[key] < 0:
                raise InputError(f"ARKIT_{key}", f"must be 0 or more, got {value!r}")
    if getattr(args, "proxy_hops", None) is not None:
        config["PROXY_HOPS"] = args.proxy_hops
    return config


LIMITS = ("SESSION_CAP", "JOINS_PER_MINUTE", "ANSWERS_PER_MINUTE", "EVENTS_PER_SECOND", "POINTER_PER_SECOND",
          "MAX_JSON_BYTES", "PROXY_HOPS", "STUDIO_LOGINS_PER_MINUTE", "BUILD_JOBS")


def _tls(args: argparse.Namespace, data: Path, hosts: list[str]):
    """(certfile, keyfile, scheme) for --tls auto|off|CERT,KEY."""
    mode = args.tls
    if mode == "off":
        return None, None, "http"
    if mode == "auto":
        if _is_loopback(args.host):
            return None, None, "http"  # localhost is a secure context already
        from .server.tls import ensure_ca, ensure_leaf

        ensure_ca(data)
        cert, key = ensure_leaf(data, hosts)
        return str(cert), str(key), "https"
    parts = mode.split(",")
    if len(parts) != 2 or not all(os.path.isfile(p) for p in parts):
        raise InputError(None, "--tls must be auto, off, or CERT,KEY (two existing files)")
    return parts[0], parts[1], "https"


def _hosts(args: argparse.Namespace) -> list[str]:
    if args.host in ("0.0.0.0", "::", ""):
        from .server.tls import lan_addresses

        return lan_addresses()
    return [args.host]


def _serve(app, args: argparse.Namespace, certfile, keyfile) -> None:
    socketio = app.extensions["arkit_socketio"]
    kwargs = {}
    if certfile:
        kwargs.update(certfile=certfile, keyfile=keyfile)
    socketio.run(app, host=args.host, port=args.port, log_output=False, **kwargs)


def _data(args: argparse.Namespace, *, announce: bool = True) -> Path:
    """The data folder (created), stored back in ``args.data`` as an absolute path."""
    from .server.datadir import data_dir

    data = data_dir(args.data)
    data.mkdir(parents=True, exist_ok=True)
    args.data = str(data)
    if announce:
        print(f"arkit: data: {data}", file=sys.stderr)
    return data


def _announce(app, base: str) -> None:
    key = app.config["LECTURER_KEY_VALUE"]
    if app.config.get("LECTURER_KEY_NEW"):
        print(f"arkit: lecturer key (new, kept in {Path(app.config['DATA_DIR']) / 'lecturer.key'}): {key}",
              file=sys.stderr)
    print(f"arkit: serving {base}  (library {base}/, studio {base}/studio, trust page {base}/trust)", file=sys.stderr)


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import create_app

    data = _data(args)
    hosts = _hosts(args)
    certfile, keyfile, scheme = _tls(args, data, hosts)
    config = _config(args)
    host_for_url = "localhost" if _is_loopback(args.host) else (hosts[0] if hosts else args.host)
    base = args.public_url or f"{scheme}://{host_for_url}:{args.port}"
    config["PUBLIC_URL"] = base
    app = create_app(config)
    _announce(app, base)
    _serve(app, args, certfile, keyfile)
    return 0


def _repo_lessons() -> Path | None:
    for candidate in (Path.cwd() / "lessons", Path(__file__).resolve().parent.parent / "lessons"):
        if (candidate / "fdg" / "lesson.yaml").is_file():
            return candidate
    return None


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the example lessons if needed, serve on the LAN with TLS, open a session on
    ``fdg`` and print the lecturer, join and trust URLs and the join QR."""
    from .lesson.bundle import build_lessons
    from .server import create_app

    data = _data(args)
    dist = data / "lessons"
    dist.mkdir(parents=True, exist_ok=True)
    source = _repo_lessons()
    if source is None:
        raise InputError(None, "arkit demo needs the example lessons (lessons/fdg/lesson.yaml); run it from the "
                               "arkit checkout")
    folders = sorted(p.parent for p in source.glob("*/lesson.yaml"))
    for result in build_lessons(folders, dist, progress=lambda m: print(f"arkit: {m}", file=sys.stderr)):
        print(f"arkit: {result.bundle.name}: {'built' if result.built else 'up to date'}", file=sys.stderr)
    args.lessons = str(dist)
    hosts = _hosts(args)
    certfile, keyfile, scheme = _tls(args, data, hosts)
    host_for_url = "localhost" if _is_loopback(args.host) or not hosts else hosts[0]
    base = args.public_url or f"{scheme}://{host_for_url}:{args.port}"
    config = _config(args)
    config["PUBLIC_URL"] = base
    app = create_app(config)
    _seed_studio(app, folders)
    _announce(app, base)
    row, token = app.extensions["arkit_classroom"].create(args.lesson)
    join = f"{base}/j/{row.code}"
    print(f"\n  lecturer:   {base}/l/{row.code}#{token}\n  projection: {base}/p/{row.code}\n  join:       {join}\n"
          f"  trust page: {base}/trust\n  code:       {row.code}\n")
    try:
        import qrcode

        qr = qrcode.QRCode(border=2)
        qr.add_data(join)
        qr.print_ascii(out=sys.stdout, invert=True)
    except ImportError:  # pragma: no cover - qrcode is a dependency
        pass
    sys.stdout.flush()
    _serve(app, args, certfile, keyfile)
    return 0


def _seed_studio(app, folders: list[Path]) -> None:
    """The example lessons' own lesson.yaml (comments and all) as their studio sources, the
    first time: the studio then edits what was written, not a text recovered from a bundle."""
    import shutil

    from .server.sourcestore import current_source, save_source, source_dir

    with app.app_context():
        for folder in folders:
            current = current_source(folder.name)
            if current is not None and not current["recovered"]:
                continue
            target = source_dir(folder.name)
            target.mkdir(parents=True, exist_ok=True)
            for p in folder.iterdir():
                if p.name != "lesson.yaml" and p.is_file():
                    shutil.copy2(p, target / p.name)
            text = (folder / "lesson.yaml").read_text(encoding="utf-8")
            save_source(folder.name, text, if_match="*" if current else None, note=f"from lessons/{folder.name}")


def cmd_purge(args: argparse.Namespace) -> int:
    from .server import create_app

    app = create_app({"DATA_DIR": str(_data(args, announce=False)), "DATABASE_URL": args.database,
                      "ASYNC_MODE": "threading", "LECTURER_KEY": "purge-only"})
    n = app.extensions["arkit_classroom"].purge(args.older_than)
    print(f"arkit: purged {n} session{'s' if n != 1 else ''} with their participants and answers", file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    for name, func, helptext in (("serve", cmd_serve, "run the classroom server"),
                                 ("demo", cmd_demo, "build the example lessons, serve them on the LAN and open a "
                                                    "session on the fdg lesson")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--lessons", help="folder of .arlesson bundles to serve")
        p.add_argument("--data", help=DATA_HELP)
        p.add_argument("--host", default="0.0.0.0", help="address to listen on (default all; 127.0.0.1 for this "
                                                         "machine only)")
        p.add_argument("--port", type=int, default=8443 if name == "demo" else 8443)
        p.add_argument("--tls", default="auto", help="auto (https on LAN addresses with the local CA, http on "
                                                     "loopback), off, or CERT,KEY")
        p.add_argument("--public-url", help="the URL students use, e.g. https://arkit.school.example")
        p.add_argument("--database", help="SQLAlchemy URL (default SQLite in the data folder), e.g. "
                                          "postgresql+psycopg://user@host/arkit")
        p.add_argument("--redis", help="Redis URL for several server processes, e.g. redis://localhost:6379/0")
        p.add_argument("--proxy-hops", type=int, metavar="N",
                       help="trusted proxies in front of the server (1 behind nginx): the students' addresses come "
                            "from X-Forwarded-For only then (default ARKIT_PROXY_HOPS or 0)")
        if name == "demo":
            p.add_argument("--lesson", default="fdg", help="the lesson to open a session on (default fdg)")
        p.set_defaults(func=func)
    s = sub.add_parser("sessions", help="classroom sessions")
    ss = s.add_subparsers(dest="sessions_command", required=True)
    p = ss.add_parser("purge", help="delete sessions (with answers and nicknames) past the retention period")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--database")
    p.add_argument("--older-than", type=float, help="days (default: ARKIT_RETENTION_DAYS or 30)")
    p.set_defaults(func=cmd_purge)
