"""A session's state and the lecturer's control actions on it. No database, no Flask.

The stored state (``SessionRow.state_json``)::

    {step, playback: {time_s, playing, rate, at_ms}, highlight,
     quiz: {id, open, revealed} | null, revealed: [quiz ids], slice: {...} | null}

``Classroom.public_state`` adds what clients see (rev, code, lesson, counts, participants,
ended, server_ms; docs/api.md). Playback is not streamed: clients extrapolate from
``at_ms`` (the server clock in ms) at ``rate``.
"""

from __future__ import annotations

import math
import time

from ..errors import SessionError


def now_ms() -> int:
    return int(time.time() * 1000)


def step_state(lesson: dict, step: int, previous: dict | None = None) -> dict:
    """The state at the start of ``step``: its time window, its quiz closed, the hologram's
    own playback speed; the highlight and the revealed quizzes carried over from ``previous``."""
    st = lesson["steps"][step]
    time_window = st.get("time") or {}
    quiz = st.get("quiz")
    legend = (lesson.get("holograms", {}).get(st.get("hologram")) or {}).get("legend") or {}
    # play at the hologram's own speed (its clip_s of playback for real_s of tracer time)
    rate = float(legend["real_s"]) / float(legend["clip_s"]) if legend.get("clip_s") and legend.get("real_s") else 1.0
    return {
        "step": step,
        "playback": {"time_s": float(time_window.get("start_s", 0.0)), "playing": bool(time_window.get("play", False)),
                     "rate": rate, "at_ms": now_ms()},
        "highlight": (previous or {}).get("highlight") if previous else None,
        "quiz": {"id": quiz["id"], "open": False, "revealed": False} if quiz else None,
        "revealed": (previous or {}).get("revealed", []),
        "slice": st.get("slice"),  # normalised in lesson.json
    }


def apply_action(state: dict, action: dict, lesson: dict) -> None:
    """Apply one lecturer action (``{"action": ..., ...}``) to ``state`` in place;
    SessionError for an action that is unknown or malformed."""
    kind = action["action"]
    steps = lesson["steps"]
    playback = state["playback"]
    now = now_ms()

    def current_time() -> float:
        if playback["playing"]:
            return playback["time_s"] + (now - playback["at_ms"]) / 1000.0 * playback["rate"]
        return playback["time_s"]

    if kind == "step":
        step = action.get("step")
        if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < len(steps):
            raise SessionError("bad_step", f"step must be 0 to {len(steps) - 1}")
        state.update(step_state(lesson, step, state))
    elif kind == "time":
        t = action.get("time_s")
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t) or t < 0:
            raise SessionError("bad_time", "time_s must be a number of seconds >= 0")
        playback.update(time_s=float(t), at_ms=now)
    elif kind == "play":
        rate = action.get("rate", 1)
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate <= 1e7:
            raise SessionError("bad_rate", "rate must be a number > 0")
        playback.update(time_s=current_time(), playing=True, rate=float(rate), at_ms=now)
    elif kind == "pause":
        playback.update(time_s=current_time(), playing=False, at_ms=now)
    elif kind == "highlight":
        structure = action.get("structure")
        if structure is not None:
            hid = steps[state["step"]].get("hologram")
            names = set((lesson.get("holograms", {}).get(hid) or {}).get("structures", []))
            if not isinstance(structure, str) or structure not in names:
                raise SessionError("bad_structure", f"no structure {structure!r} in this step's hologram")
        state["highlight"] = structure
    elif kind in ("open_quiz", "close_quiz", "reveal"):
        quiz = state.get("quiz")
        if not quiz:
            raise SessionError("no_quiz", "this step has no quiz")
        if kind == "open_quiz":
            quiz["open"] = True
        elif kind == "close_quiz":
            quiz["open"] = False
        else:
            quiz["open"], quiz["revealed"] = False, True
            if quiz["id"] not in state.setdefault("revealed", []):
                state["revealed"].append(quiz["id"])
    elif kind == "slice":
        if "slice" not in action:
            raise SessionError("bad_slice", 'send {"action": "slice", "slice": {...}} (or "slice": null for none)')
        value = action["slice"]
        if value is not None:
            from ..lesson.slicing import SliceError, normalise_slice

            hid = steps[state["step"]].get("hologram")
            holo = lesson.get("holograms", {}).get(hid) or {}
            if "ct" not in holo and "pet" not in holo:
                raise SessionError("bad_slice", "this step's hologram has no CT or PET to slice")
            try:
                value = normalise_slice(value)
            except SliceError as error:
                where = f"slice.{error.field}: " if error.field else ""
                raise SessionError("bad_slice", f"{where}{error.message}") from None
        state["slice"] = value
    elif kind == "end":
        pass
    else:
        raise SessionError("bad_action", f"unknown action {kind!r}")


__all__ = ["apply_action", "now_ms", "step_state"]
