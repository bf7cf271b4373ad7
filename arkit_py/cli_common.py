"""What the command modules share (``cli``, ``cli_tracer``, ``cli_lesson``): writing an
output atomically. Imports nothing of the CLI, so the command modules import it and not
each other. Tracer and colour options (activity, window, weight, height...) are parsed by
:mod:`arkit_py.tracer.options`, for the CLI and lessons alike."""

from __future__ import annotations

from .fileio import write_atomic

__all__ = ["write_atomic"]
