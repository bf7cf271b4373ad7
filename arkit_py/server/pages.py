"""The pages: student join (``/j/<code>``), projection (``/p/<code>``), lecturer console
(``/l/<code>#<control_token>``: the token stays in the fragment, never in a URL the server
sees), self-paced (``/lessons/<id>``), the library (``/``) and the certificate trust page
(``/trust``). Server-rendered shells (Jinja, autoescaped) with the client's scripts from
``/static/``; no inline script (the Content-Security-Policy forbids it).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, send_from_directory

from ..errors import SessionError
from .classroom import normalise_code

bp = Blueprint("pages", __name__, template_folder="templates")
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"


def _session_or_error(code: str):
    room = current_app.extensions["arkit_classroom"]
    try:
        row = room.get(code)
        return row, room.session_lesson(row)["title"], None
    except SessionError as error:
        return None, None, error


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/j/<code>")
def join(code: str):
    row, title, error = _session_or_error(code)
    if error is None:
        try:
            current_app.extensions["arkit_classroom"].check_joinable(row)
        except SessionError as e:
            error = e
    if error is not None:
        status = {"unknown_code": 404, "ended": 410, "expired": 410}.get(error.code, 400)
        return render_template("problem.html", code=normalise_code(code), error=error), status
    return render_template("join.html", code=row.code, title=title)


@bp.get("/p/<code>")
def projection(code: str):
    row, title, error = _session_or_error(code)
    if error is not None:
        return render_template("problem.html", code=normalise_code(code), error=error), 404
    return render_template("projection.html", code=row.code, title=title)


@bp.get("/l/<code>")
def lecturer(code: str):
    row, title, error = _session_or_error(code)
    if error is not None:
        return render_template("problem.html", code=normalise_code(code), error=error), 404
    return render_template("lecturer.html", code=row.code, title=title)


@bp.get("/lessons/<lesson_id>")
def self_paced(lesson_id: str):
    row = current_app.extensions["arkit_classroom"].lesson_row(lesson_id)
    if row is None:
        abort(404)
    return render_template("self_paced.html", lesson_id=row.id, title=row.title)


@bp.get("/trust")
def trust():
    from .tls import DEVICE_STEPS, ensure_ca, trust_page_info

    ca = ensure_ca(current_app.config["DATA_DIR"])
    return render_template("trust.html", info=trust_page_info(ca), steps=DEVICE_STEPS)


@bp.get("/trust/arkit-ca.pem")
def trust_pem():
    from .tls import ensure_ca

    ca = ensure_ca(current_app.config["DATA_DIR"])
    return current_app.response_class(ca.cert_pem, mimetype="application/x-pem-file",
                                      headers={"Content-Disposition": "attachment; filename=arkit-ca.pem"})


@bp.get("/trust/arkit-ca.crt")
def trust_der():
    from .tls import ensure_ca, trust_page_info

    info = trust_page_info(ensure_ca(current_app.config["DATA_DIR"]))
    return current_app.response_class(info["der"], mimetype="application/x-x509-ca-cert",
                                      headers={"Content-Disposition": "attachment; filename=arkit-ca.crt"})


@bp.get("/static/<path:name>")
def static(name: str):
    response = send_from_directory(STATIC, name, max_age=3600)
    if name.endswith(".wasm"):
        response.mimetype = "application/wasm"
    if "/chunks/" in name or "/assets/" in name:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"  # hashed names
    else:
        response.headers["Cache-Control"] = "no-cache"  # fixed names: revalidate after an upgrade
    return response
