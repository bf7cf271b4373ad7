"""Sessions, their state and answers: the classroom's rules, without Flask.

The public ``state`` (DESIGN.md "Server and live sessions")::

    {rev, code, lesson: {id, title, sha256}, step, playback: {time_s, playing, rate, at_ms},
     highlight, quiz: {id, open, revealed, counts}, participants, ended}

``rev`` grows by one per lecturer action; clients extrapolate playback from ``at_ms`` (the
server clock in ms) instead of receiving a time stream. Quiz answers never appear in what a
student receives before the lecturer reveals them.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import math
import re
import secrets
import time
import uuid
from collections import OrderedDict

from sqlalchemy import delete, func, select

from ..units import UnitError, parse_quantity, parse_typed
from .db import Answer, Database, LessonRow, LessonVersion, Participant, SessionRow, utcnow

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read off a projector
CODE_LENGTH = 6
PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SESSION_CODE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
LESSON_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ANSWER_FIELDS = ("answer", "answer_value", "answer_kind", "tolerance", "tolerance_value", "tolerance_relative",
                 "explanation")


class ApiError(Exception):
    """An error an API caller or a socket client sees: HTTP status, a code, one line."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def now_ms() -> int:
    return int(time.time() * 1000)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    return (code or "").strip().upper()


def strip_answers(lesson: dict, revealed: set[str] | None = None) -> dict:
    """The lesson as a student may see it: quiz answers removed except for revealed quizzes."""
    revealed = revealed or set()
    out = json.loads(json.dumps(lesson))
    for step in out.get("steps", []):
        quiz = step.get("quiz")
        if quiz and quiz.get("id") not in revealed:
            for key in ANSWER_FIELDS:
                quiz.pop(key, None)
    for step, original in zip(out.get("steps", []), lesson.get("steps", [])):
        quiz = original.get("quiz")
        if quiz and quiz.get("kind") == "order" and quiz["id"] not in revealed:
            # students get the items to order, shuffled by a fixed seed (not the answer order)
            items = sorted(quiz["answer"], key=lambda s: hashlib.sha256((quiz["id"] + s).encode()).hexdigest())
            step["quiz"]["items"] = items
    return out


def grade(quiz: dict, value) -> bool | None:
    """Whether ``value`` answers ``quiz`` correctly (None: not gradable)."""
    kind = quiz.get("kind")
    if kind == "identify":
        return isinstance(value, str) and value in quiz["answer"]
    if kind == "choice":
        chosen = value if isinstance(value, list) else [value]
        return sorted(chosen) == sorted(quiz["answer"])
    if kind == "order":
        return isinstance(value, list) and value == quiz["answer"]
    if kind == "numeric":
        if not isinstance(value, str):
            value = f"{value}"
        try:
            got = parse_quantity(value, quiz["answer_kind"])
        except UnitError:
            return False
        target = quiz["answer_value"]
        if "tolerance_relative" in quiz:
            return abs(got - target) <= quiz["tolerance_relative"] * abs(target) + 1e-12
        return abs(got - target) <= quiz.get("tolerance_value", 0.0) + 1e-12 * max(1.0, abs(target))
    return None


def validate_answer(quiz: dict, value, structures: set[str]) -> object:
    """The answer in canonical form, or ApiError 422."""
    kind = quiz["kind"]
    if kind == "identify":
        if not isinstance(value, str) or value not in structures:
            raise ApiError(422, "bad_answer", "an identify answer is a structure of the hologram")
        return value
    if kind == "choice":
        chosen = value if isinstance(value, list) else [value]
        if not chosen or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(quiz["options"])
                                 for i in chosen) or len(set(chosen)) != len(chosen):
            raise ApiError(422, "bad_answer", "a choice answer is one or more option numbers")
        return sorted(chosen)
    if kind == "order":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) \
                or sorted(value) != sorted(quiz["answer"]):
            raise ApiError(422, "bad_answer", "an order answer lists every item once")
        return value
    if kind == "numeric":
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or len(str(value)) > 64:
            raise ApiError(422, "bad_answer", "a numeric answer is a number with its unit, e.g. 370 MBq")
        text = str(value)
        try:
            got, got_kind = parse_typed(text)
        except UnitError as error:
            raise ApiError(422, "bad_answer", str(error)) from None
        want = quiz["answer_kind"]
        if got_kind != want:
            expected = "a plain number (no unit)" if want == "dimensionless" else \
                f"{'an' if want[0] in 'aeiou' else 'a'} {want.replace('_', ' ')} with its unit"
            raise ApiError(422, "bad_answer", f"the answer is {expected}")
        if not math.isfinite(got):
            raise ApiError(422, "bad_answer", "not a finite number")
        return text
    raise ApiError(422, "bad_answer", "unknown quiz kind")


class Classroom:
    """Session rules over the database. ``cap``: participants per session; ``hours``: how
    long a session can be joined; ``retention_days``: when its answers are purged."""

    def __init__(self, db: Database, *, cap: int = 500, hours: float = 12.0, retention_days: float = 30.0):
        self.db, self.cap, self.hours, self.retention_days = db, cap, hours, retention_days
        self._versions: OrderedDict[str, dict] = OrderedDict()

    # -- lessons ---------------------------------------------------------------------

    def lesson_row(self, lesson_id: str) -> LessonRow | None:
        if not isinstance(lesson_id, str) or not LESSON_SLUG.match(lesson_id):
            return None  # never a query with text no lesson id can be (NUL breaks PostgreSQL)
        with self.db.session() as s:
            return s.get(LessonRow, lesson_id)

    def lesson_version(self, sha256: str) -> dict:
        """The exact lesson.json a session started with (parsed once: versions never change)."""
        cached = self._versions.get(sha256)
        if cached is not None:
            self._versions.move_to_end(sha256)
            return cached
        with self.db.session() as s:
            row = s.get(LessonVersion, sha256)
        if row is None:
            raise ApiError(410, "lesson_gone", "this session's lesson is no longer on the server")
        lesson = row.lesson
        self._versions[sha256] = lesson
        while len(self._versions) > 64:
            self._versions.popitem(last=False)
        return lesson

    def session_lesson(self, row: SessionRow) -> dict:
        """The lesson of a session: the version it started with, whatever the library holds now.
        Callers must not change it (it is shared)."""
        return self.lesson_version(row.lesson_sha256)

    # -- sessions --------------------------------------------------------------------

    def create(self, lesson_id: str) -> tuple[SessionRow, str]:
        row = self.lesson_row(lesson_id)
        if row is None:
            raise ApiError(404, "unknown_lesson", f"no lesson {lesson_id!r} in the library")
        lesson = self.lesson_version(row.sha256)  # the session is pinned to this version
        token = secrets.token_urlsafe(32)
        state = self._step_state(lesson, 0)
        with self.db.session() as s:
            for _ in range(20):
                code = new_code()
                if s.get(SessionRow, code) is None:
                    break
            else:  # pragma: no cover - 31^6 codes
                raise ApiError(503, "busy", "no free join code")
            session = SessionRow(code=code, lesson_id=lesson_id, lesson_sha256=row.sha256,
                                 control_hash=token_hash(token), expires_at=utcnow() + dt.timedelta(hours=self.hours),
                                 rev=1, state_json=json.dumps(state))
            s.add(session)
            s.commit()
        return session, token

    @staticmethod
    def _step_state(lesson: dict, step: int, previous: dict | None = None) -> dict:
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
        }

    def get(self, code: str) -> SessionRow:
        code = normalise_code(code)
        if not SESSION_CODE.match(code):
            raise ApiError(404, "unknown_code", f"no session {code[:16]!r}")
        with self.db.session() as s:
            row = s.get(SessionRow, code)
        if row is None:
            raise ApiError(404, "unknown_code", f"no session {code!r}")
        return row

    def check_joinable(self, row: SessionRow) -> None:
        if row.ended:
            raise ApiError(409, "ended", "this session has ended")
        if row.expires_at < utcnow():
            raise ApiError(410, "expired", "this session has expired")

    def authorise(self, row: SessionRow, token: str | None) -> None:
        if not token:
            raise ApiError(401, "unauthorised", "the session's control token is needed (Authorization: Bearer ...)")
        if not hmac.compare_digest(token_hash(token), row.control_hash):
            raise ApiError(403, "forbidden", "this token does not control this session")

    def counts(self, row: SessionRow, state: dict) -> dict:
        quiz = state.get("quiz")
        with self.db.session() as s:
            participants = s.scalar(select(func.count()).select_from(Participant)
                                    .where(Participant.session_code == row.code)) or 0
            if not quiz:
                return {"participants": participants}
            answers = s.execute(select(Answer.value_json, Answer.correct).where(
                Answer.session_code == row.code, Answer.quiz_id == quiz["id"])).all()
        out = {"participants": participants, "answered": len(answers)}
        if quiz.get("revealed"):
            dist: dict[str, int] = {}
            for value_json, _ in answers:
                dist[value_json] = dist.get(value_json, 0) + 1
            out["distribution"] = [{"value": json.loads(k), "count": n} for k, n in sorted(dist.items())]
            out["correct"] = sum(1 for _, c in answers if c)
        return out

    def public_state(self, row: SessionRow, *, participants_live: int | None = None) -> dict:
        lesson = self.session_lesson(row)
        state = json.loads(row.state_json)
        counts = self.counts(row, state)
        quiz = state.get("quiz")
        if quiz is not None:
            quiz = {**quiz, "counts": counts}
            if quiz.get("revealed"):
                full = lesson["steps"][state["step"]].get("quiz") or {}
                quiz["answer"] = full.get("answer")
        return {
            "rev": row.rev,
            "code": row.code,
            "lesson": {"id": row.lesson_id, "title": lesson["title"], "sha256": row.lesson_sha256},
            "step": state["step"],
            "steps": len(lesson["steps"]),
            "playback": state["playback"],
            "highlight": state.get("highlight"),
            "quiz": quiz,
            "participants": counts["participants"] if participants_live is None else participants_live,
            "ended": row.ended,
            "server_ms": now_ms(),
        }

    def control(self, code: str, token: str | None, action: dict) -> SessionRow:
        """Apply a lecturer action; returns the updated row (rev + 1)."""
        row = self.get(code)
        self.authorise(row, token)
        if row.ended:
            raise ApiError(409, "ended", "this session has ended")
        if not isinstance(action, dict) or not isinstance(action.get("action"), str):
            raise ApiError(422, "bad_action", "the body must be {\"action\": ...}")
        lesson = self.session_lesson(row)
        with self.db.session() as s:
            q = select(SessionRow).where(SessionRow.code == row.code)
            if not self.db.url.startswith("sqlite"):
                q = q.with_for_update()
            current = s.execute(q).scalar_one()
            if current.ended:
                raise ApiError(409, "ended", "this session has ended")
            state = json.loads(current.state_json)
            self._apply(state, action, lesson)
            if action["action"] == "end":
                current.ended = True
                current.ended_at = utcnow()
            current.state_json = json.dumps(state)
            current.rev += 1
            s.commit()
            return current

    def _apply(self, state: dict, action: dict, lesson: dict) -> None:
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
                raise ApiError(422, "bad_step", f"step must be 0 to {len(steps) - 1}")
            new = self._step_state(lesson, step, state)
            state.update(new)
        elif kind == "time":
            t = action.get("time_s")
            if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t) or t < 0:
                raise ApiError(422, "bad_time", "time_s must be a number of seconds >= 0")
            playback.update(time_s=float(t), at_ms=now)
        elif kind == "play":
            rate = action.get("rate", 1)
            if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate <= 1e7:
                raise ApiError(422, "bad_rate", "rate must be a number > 0")
            playback.update(time_s=current_time(), playing=True, rate=float(rate), at_ms=now)
        elif kind == "pause":
            playback.update(time_s=current_time(), playing=False, at_ms=now)
        elif kind == "highlight":
            structure = action.get("structure")
            if structure is not None:
                hid = steps[state["step"]].get("hologram")
                names = set((lesson.get("holograms", {}).get(hid) or {}).get("structures", []))
                if not isinstance(structure, str) or structure not in names:
                    raise ApiError(422, "bad_structure", f"no structure {structure!r} in this step's hologram")
            state["highlight"] = structure
        elif kind in ("open_quiz", "close_quiz", "reveal"):
            quiz = state.get("quiz")
            if not quiz:
                raise ApiError(409, "no_quiz", "this step has no quiz")
            if kind == "open_quiz":
                quiz["open"] = True
            elif kind == "close_quiz":
                quiz["open"] = False
            else:
                quiz["open"], quiz["revealed"] = False, True
                if quiz["id"] not in state.setdefault("revealed", []):
                    state["revealed"].append(quiz["id"])
        elif kind == "end":
            pass
        else:
            raise ApiError(422, "bad_action", f"unknown action {kind!r}")

    # -- students --------------------------------------------------------------------

    def join(self, row: SessionRow, participant_id: str | None, nickname: str | None) -> str:
        """Register (or recognise) a student; returns the participant id."""
        self.check_joinable(row)
        if not participant_id or not PARTICIPANT_ID.match(participant_id):
            participant_id = uuid.uuid4().hex
        nickname = (nickname or "").strip()[:40]
        with self.db.session() as s:
            existing = s.scalar(select(Participant).where(Participant.session_code == row.code,
                                                          Participant.participant_id == participant_id))
            if existing is None:
                count = s.scalar(select(func.count()).select_from(Participant)
                                 .where(Participant.session_code == row.code)) or 0
                if count >= self.cap:
                    raise ApiError(403, "full", f"this session is full ({self.cap} participants)")
                s.add(Participant(session_code=row.code, participant_id=participant_id, nickname=nickname))
            elif nickname:
                existing.nickname = nickname
            s.commit()
        return participant_id

    def is_participant(self, row: SessionRow, participant_id: str) -> bool:
        with self.db.session() as s:
            return s.scalar(select(Participant.id).where(Participant.session_code == row.code,
                                                         Participant.participant_id == participant_id)) is not None

    def answer(self, code: str, participant_id: str, quiz_id: str, value) -> dict:
        row = self.get(code)
        self.check_joinable(row)
        state = json.loads(row.state_json)
        quiz_state = state.get("quiz")
        if not quiz_state or quiz_state["id"] != quiz_id:
            raise ApiError(409, "not_current", "this quiz is not the current one")
        if not quiz_state.get("open"):
            raise ApiError(409, "closed", "this quiz is not open")
        lesson = self.session_lesson(row)
        step = lesson["steps"][state["step"]]
        quiz = step["quiz"]
        names = set((lesson.get("holograms", {}).get(step.get("hologram")) or {}).get("structures", []))
        canonical = validate_answer(quiz, value, names)
        correct = grade(quiz, canonical)
        with self.db.session() as s:
            known = s.scalar(select(Participant.id).where(Participant.session_code == row.code,
                                                          Participant.participant_id == participant_id))
            if known is None:
                raise ApiError(403, "not_joined", "join the session first")
            existing = s.scalar(select(Answer).where(Answer.session_code == row.code, Answer.quiz_id == quiz_id,
                                                     Answer.participant_id == participant_id))
            if existing is None:
                s.add(Answer(session_code=row.code, quiz_id=quiz_id, participant_id=participant_id,
                             value_json=json.dumps(canonical), correct=correct))
            else:
                existing.value_json, existing.correct, existing.updated_at = json.dumps(canonical), correct, utcnow()
            s.commit()
        return {"ok": True}

    # -- results ---------------------------------------------------------------------

    def results(self, code: str, token: str | None) -> dict:
        row = self.get(code)
        self.authorise(row, token)
        lesson = self.session_lesson(row)  # every quiz the session asked, even if the library changed
        with self.db.session() as s:
            answers = s.execute(select(Answer).where(Answer.session_code == row.code)
                                .order_by(Answer.quiz_id, Answer.participant_id)).scalars().all()
            participants = s.scalar(select(func.count()).select_from(Participant)
                                    .where(Participant.session_code == row.code)) or 0
        quizzes = []
        for i, step in enumerate(lesson["steps"]):
            quiz = step.get("quiz")
            if not quiz:
                continue
            mine = [a for a in answers if a.quiz_id == quiz["id"]]
            quizzes.append({
                "quiz": quiz["id"], "step": i, "kind": quiz["kind"], "prompt": quiz["prompt"],
                "answers": len(mine), "correct": sum(1 for a in mine if a.correct),
                "responses": [{"participant": _anonymous(row.code, a.participant_id), "value": json.loads(a.value_json),
                               "correct": a.correct, "at": a.updated_at.isoformat() + "Z"} for a in mine],
            })
        return {"code": row.code, "lesson": row.lesson_id, "participants": participants, "quizzes": quizzes}

    def results_csv(self, results: dict) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["quiz", "step", "kind", "participant", "value", "correct", "at"])
        for q in results["quizzes"]:
            for r in q["responses"]:
                w.writerow([q["quiz"], q["step"], q["kind"], r["participant"], json.dumps(r["value"]),
                            "" if r["correct"] is None else str(bool(r["correct"])).lower(), r["at"]])
        return out.getvalue()

    def results_xapi(self, results: dict, home_page: str) -> list[dict]:
        """xAPI statements with anonymous actors (accounts on the server's home page)."""
        statements = []
        for q in results["quizzes"]:
            for r in q["responses"]:
                statements.append({
                    "actor": {"objectType": "Agent", "account": {"homePage": home_page, "name": r["participant"]}},
                    "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
                    "object": {"objectType": "Activity",
                               "id": f"{home_page.rstrip('/')}/lessons/{results['lesson']}#quiz={q['quiz']}",
                               "definition": {"type": "http://adlnet.gov/expapi/activities/cmi.interaction",
                                              "name": {"en-US": q["prompt"][:200]}}},
                    "result": {"response": json.dumps(r["value"]), **({"success": bool(r["correct"])}
                                                                      if r["correct"] is not None else {})},
                    "context": {"registration": str(uuid.UUID(hashlib.sha256(results["code"].encode()).hexdigest()[:32]))},
                    "timestamp": r["at"],
                })
        return statements

    def purge(self, older_than_days: float | None = None) -> int:
        """Delete sessions (with participants and answers) ended or expired more than the
        retention period ago; returns how many."""
        days = self.retention_days if older_than_days is None else older_than_days
        cutoff = utcnow() - dt.timedelta(days=days)
        with self.db.session() as s:
            codes = s.execute(select(SessionRow.code).where(SessionRow.expires_at < cutoff)).scalars().all()
            if codes:
                s.execute(delete(Answer).where(Answer.session_code.in_(codes)))
                s.execute(delete(Participant).where(Participant.session_code.in_(codes)))
                s.execute(delete(SessionRow).where(SessionRow.code.in_(codes)))
            s.commit()
        return len(codes)


def _anonymous(code: str, participant_id: str) -> str:
    """A stable pseudonym per session (the browser's id never leaves the server)."""
    return "p-" + hashlib.sha256(f"{code}:{participant_id}".encode()).hexdigest()[:12]
