"""The classroom's rules over the database, without Flask: lessons pinned per session,
join codes, control tokens, participants, answers, the public state, retention.

The public ``state`` (docs/api.md)::

    {rev, code, lesson: {id, title, sha256}, step, steps, playback: {time_s, playing, rate,
     at_ms}, highlight, quiz: {id, open, revealed, counts, answer?}, participants, ended,
     server_ms}

``rev`` grows by one per lecturer action; clients extrapolate playback from ``at_ms`` (the
server clock in ms) instead of receiving a time stream. Quiz answers never appear in what a
student receives before the lecturer reveals them. The state rules themselves are in
``state``, the quiz rules in ``quiz``, the results export in ``results``; every refusal is a
``SessionError`` (its HTTP status in ``errors.STATUS``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections import OrderedDict

from sqlalchemy import delete, func, select

from ..errors import SessionError
from .db import Answer, Database, LessonRow, LessonVersion, Participant, SessionRow, utcnow
from .quiz import grade, validate_answer
from .results import collect
from .state import apply_action, now_ms, step_state

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read off a projector
CODE_LENGTH = 6
PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SESSION_CODE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
LESSON_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    return (code or "").strip().upper()


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
            raise SessionError("lesson_gone", "this session's lesson is no longer on the server")
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
            raise SessionError("unknown_lesson", f"no lesson {lesson_id!r} in the library")
        lesson = self.lesson_version(row.sha256)  # the session is pinned to this version
        token = secrets.token_urlsafe(32)
        state = step_state(lesson, 0)
        with self.db.session() as s:
            for _ in range(20):
                code = new_code()
                if s.get(SessionRow, code) is None:
                    break
            else:  # pragma: no cover - 31^6 codes
                raise SessionError("busy", "no free join code")
            session = SessionRow(code=code, lesson_id=lesson_id, lesson_sha256=row.sha256,
                                 control_hash=token_hash(token), expires_at=utcnow() + dt.timedelta(hours=self.hours),
                                 rev=1, state_json=json.dumps(state))
            s.add(session)
            s.commit()
        return session, token

    def get(self, code: str) -> SessionRow:
        code = normalise_code(code)
        if not SESSION_CODE.match(code):
            raise SessionError("unknown_code", f"no session {code[:16]!r}")
        with self.db.session() as s:
            row = s.get(SessionRow, code)
        if row is None:
            raise SessionError("unknown_code", f"no session {code!r}")
        return row

    def check_joinable(self, row: SessionRow) -> None:
        if row.ended:
            raise SessionError("ended", "this session has ended")
        if row.expires_at < utcnow():
            raise SessionError("expired", "this session has expired")

    def authorise(self, row: SessionRow, token: str | None) -> None:
        if not token:
            raise SessionError("unauthorised", "the session's control token is needed (Authorization: Bearer ...)")
        if not hmac.compare_digest(token_hash(token), row.control_hash):
            raise SessionError("forbidden", "this token does not control this session")

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
            "slice": state.get("slice"),  # states stored before slices have none
            "participants": counts["participants"] if participants_live is None else participants_live,
            "ended": row.ended,
            "server_ms": now_ms(),
        }

    def control(self, code: str, token: str | None, action: dict) -> SessionRow:
        """Apply a lecturer action; returns the updated row (rev + 1)."""
        row = self.get(code)
        self.authorise(row, token)
        if row.ended:
            raise SessionError("ended", "this session has ended")
        if not isinstance(action, dict) or not isinstance(action.get("action"), str):
            raise SessionError("bad_action", "the body must be {\"action\": ...}")
        lesson = self.session_lesson(row)
        with self.db.session() as s:
            q = select(SessionRow).where(SessionRow.code == row.code)
            if not self.db.url.startswith("sqlite"):
                q = q.with_for_update()
            current = s.execute(q).scalar_one()
            if current.ended:
                raise SessionError("ended", "this session has ended")
            state = json.loads(current.state_json)
            apply_action(state, action, lesson)
            if action["action"] == "end":
                current.ended = True
                current.ended_at = utcnow()
            current.state_json = json.dumps(state)
            current.rev += 1
            s.commit()
            return current

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
                    raise SessionError("full", f"this session is full ({self.cap} participants)")
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
            raise SessionError("not_current", "this quiz is not the current one")
        if not quiz_state.get("open"):
            raise SessionError("closed", "this quiz is not open")
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
                raise SessionError("not_joined", "join the session first")
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
        """The session's results (``results.collect``), for the holder of its control token."""
        row = self.get(code)
        self.authorise(row, token)
        return collect(self.db, row, self.session_lesson(row))  # every quiz it asked, even if the library changed

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


__all__ = ["CODE_ALPHABET", "PARTICIPANT_ID", "SESSION_CODE", "Classroom", "new_code", "normalise_code", "token_hash"]
