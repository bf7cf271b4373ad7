"""A session's results, and their export as JSON, CSV and xAPI statements.

Participants appear only as per-session pseudonyms (``p-`` and 12 hex digits): the id a
browser keeps never leaves the server, and the same student has different pseudonyms in
different sessions (docs/security.md). Nicknames are never exported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid

from sqlalchemy import func, select

from .db import Answer, Database, Participant, SessionRow


def collect(db: Database, row: SessionRow, lesson: dict) -> dict:
    """``{code, lesson, participants, quizzes: [{quiz, step, kind, prompt, answers, correct,
    responses: [{participant, value, correct, at}]}]}`` for every quiz of ``lesson`` (the
    version the session started with, even if the library changed since)."""
    with db.session() as s:
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
            "responses": [{"participant": anonymous(row.code, a.participant_id), "value": json.loads(a.value_json),
                           "correct": a.correct, "at": a.updated_at.isoformat() + "Z"} for a in mine],
        })
    return {"code": row.code, "lesson": row.lesson_id, "participants": participants, "quizzes": quizzes}


def to_csv(results: dict) -> str:
    """One row per response: quiz, step, kind, participant, value (JSON), correct, at."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["quiz", "step", "kind", "participant", "value", "correct", "at"])
    for q in results["quizzes"]:
        for r in q["responses"]:
            w.writerow([q["quiz"], q["step"], q["kind"], r["participant"], json.dumps(r["value"]),
                        "" if r["correct"] is None else str(bool(r["correct"])).lower(), r["at"]])
    return out.getvalue()


def to_xapi(results: dict, home_page: str) -> list[dict]:
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


def anonymous(code: str, participant_id: str) -> str:
    """A stable pseudonym per session (the browser's id never leaves the server)."""
    return "p-" + hashlib.sha256(f"{code}:{participant_id}".encode()).hexdigest()[:12]


__all__ = ["anonymous", "collect", "to_csv", "to_xapi"]
