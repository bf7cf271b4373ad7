"""Waiting on the classroom pages' events (web_ar/classroom/features/events.js) instead of
sleeping or polling: ``arkit:loaded`` (a step's hologram is in the view), ``arkit:state``
(a lesson state was applied), ``arkit:ar-status`` (AR available / unsupported, a session
started / placed / ended) and ``arkit:answer`` (an answer was taken).

Every event is also recorded in ``window.__arkitEvents`` as it fires, so a wait first looks
at what already happened (an event that fired before the wait began is not missed), then
listens. ``since`` (from ``mark(page)``) leaves out what happened before a point, for an
event that may have fired earlier with the same detail (a step visited twice).
"""

from __future__ import annotations

import json

from playwright.sync_api import Error as PlaywrightError

WAIT = """async ([name, since, timeout, current]) => {
    const ok = (d) => { return Boolean(%s); };
    const earlier = (window.__arkitEvents || []).slice(since).filter((e) => e.name === name);
    const seen = (current ? earlier.slice(-1) : earlier).find((e) => ok(e.detail));
    if (seen) return seen.detail;
    return await new Promise((resolve, reject) => {
        const on = (e) => {
            if (!ok(e.detail)) return;
            clearTimeout(timer);
            window.removeEventListener(name, on);
            resolve(e.detail);
        };
        const timer = setTimeout(() => {
            window.removeEventListener(name, on);
            const last = (window.__arkitEvents || []).filter((e) => e.name === name).slice(-5).map((e) => e.detail);
            reject(new Error(`arkit-event-timeout ${JSON.stringify(last)}`));
        }, timeout);
        window.addEventListener(name, on);
    });
}"""


def mark(page) -> int:
    """How many events the page has recorded so far (a ``since`` for ``wait_event``)."""
    return page.evaluate("() => (window.__arkitEvents || []).length")


def events(page, name: str | None = None) -> list[dict]:
    """The events recorded so far: [{name, detail, at_ms}] (only ``name``'s if given)."""
    return [e for e in page.evaluate("() => JSON.parse(JSON.stringify(window.__arkitEvents || []))")
            if name is None or e["name"] == name]


def wait_event(page, name: str, where: str = "true", timeout: float = 15_000, since: int = 0,
               current: bool = False) -> dict:
    """Waits until the page dispatches ``name`` with a detail ``d`` for which ``where`` (JS)
    holds, or has done so since event number ``since``; returns the detail. ``current``:
    of the events already recorded only the last ``name`` counts (what the page shows now,
    not what it showed once)."""
    try:
        return page.evaluate(WAIT % where, [name, since, timeout, current])
    except PlaywrightError as err:
        if "arkit-event-timeout" not in str(err):
            raise
        last = str(err).split("arkit-event-timeout", 1)[1].strip().splitlines()[0]
        raise AssertionError(f"no {name} with {where} within {timeout / 1000:g} s; the last ones: {last}") from None


def wait_loaded(page, step: int | None = None, timeout: float = 45_000, since: int = 0) -> dict:
    """The view shows ``step``'s hologram (the last ``arkit:loaded`` is for ``step``, or a
    new one comes; any step when None)."""
    where = "true" if step is None else f"d.step === {json.dumps(step)}"
    return wait_event(page, "arkit:loaded", where, timeout, since, current=True)


def wait_state(page, where: str = "true", timeout: float = 15_000, since: int = 0) -> dict:
    """The page's lesson state has ``where`` (JS on ``d``: step, quiz, playback, ...): the last
    ``arkit:state`` applied, or a new one."""
    return wait_event(page, "arkit:state", where, timeout, since, current=True)


def wait_ar_status(page, status: str, timeout: float = 15_000, since: int = 0) -> dict:
    """``arkit:ar-status`` with ``status`` (available, unsupported, started, placed, ended, error)."""
    return wait_event(page, "arkit:ar-status", f"d.status === {json.dumps(status)}", timeout, since)
