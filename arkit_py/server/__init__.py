"""The classroom server (Flask + Flask-SocketIO): ``create_app``; only the CLI imports it."""

from .app import create_app

__all__ = ["create_app"]
