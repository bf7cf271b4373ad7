"""What a restart must keep: sessions with their state, participants, answers, the lesson
library, the studio's lesson sources with their history, build jobs, studio sign-ins and the
server's secret. SQLAlchemy; an SQLite file by default, PostgreSQL by URL.
"""

from __future__ import annotations

import datetime as dt
import json
import os

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON}


class Setting(Base):
    __tablename__ = "arkit_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LessonRow(Base):
    __tablename__ = "arkit_lessons"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))  # of lesson.json: identifies this version
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(16))  # "folder" or "upload"
    lesson_json: Mapped[str] = mapped_column(Text)  # the full lesson.json (answers included)
    signed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def lesson(self) -> dict:
        return json.loads(self.lesson_json)


class LessonVersion(Base):
    """One exact lesson.json, by its SHA-256: what a session was started with stays here
    while the library's lesson is replaced or deleted (docs/api.md: a session keeps its lesson)."""

    __tablename__ = "arkit_lesson_versions"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    lesson_json: Mapped[str] = mapped_column(Text)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def lesson(self) -> dict:
        return json.loads(self.lesson_json)


class SessionRow(Base):
    __tablename__ = "arkit_sessions"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String(64))
    lesson_sha256: Mapped[str] = mapped_column(String(64))
    control_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ended: Mapped[bool] = mapped_column(Boolean, default=False)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    rev: Mapped[int] = mapped_column(Integer, default=1)
    state_json: Mapped[str] = mapped_column(Text)  # step, playback, highlight, quiz


class Participant(Base):
    __tablename__ = "arkit_participants"
    __table_args__ = (UniqueConstraint("session_code", "participant_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_code: Mapped[str] = mapped_column(ForeignKey("arkit_sessions.code", ondelete="CASCADE"), index=True)
    participant_id: Mapped[str] = mapped_column(String(64))
    nickname: Mapped[str] = mapped_column(String(40), default="")
    joined_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Answer(Base):
    __tablename__ = "arkit_answers"
    __table_args__ = (UniqueConstraint("session_code", "quiz_id", "participant_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_code: Mapped[str] = mapped_column(ForeignKey("arkit_sessions.code", ondelete="CASCADE"), index=True)
    quiz_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str] = mapped_column(String(64))
    value_json: Mapped[str] = mapped_column(Text)
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class StudioLogin(Base):
    """A signed-in studio browser: the SHA-256 of its cookie's random token (the token itself
    is never stored), its CSRF token, the SHA-256 of the key it signed in with (a new key ends
every sign-in), and when it stops being valid."""

    __tablename__ = "arkit_studio_logins"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    csrf: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64))  # of the lecturer key it signed in with
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class LessonSource(Base):
    """A lesson's lesson.yaml as the studio edits it: the text, its version and its etag
    (what ``If-Match`` names). Its files live in ``<data>/sources/<id>/``."""

    __tablename__ = "arkit_lesson_sources"
    lesson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    yaml: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    etag: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SourceVersion(Base):
    """Every saved lesson.yaml, kept: the history a revert goes back to."""

    __tablename__ = "arkit_source_versions"
    __table_args__ = (UniqueConstraint("lesson_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lesson_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    yaml: Mapped[str] = mapped_column(Text)
    etag: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(200), default="")
    saved_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class BuildJob(Base):
    """A build off the request thread: a lesson's bundle (``kind`` "bundle") or one hologram
    for the studio's 3D view ("hologram"). ``owner`` is host:pid of the server process that
    runs it (a restart marks its running builds failed)."""

    __tablename__ = "arkit_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    hologram: Mapped[str | None] = mapped_column(String(64), nullable=True)
    yaml: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[float] = mapped_column(default=0.0)
    step: Mapped[str] = mapped_column(String(200), default="waiting for a free builder")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


def _private_file(path: str) -> None:
    """The SQLite file readable by its owner only (nicknames, answers, the server's secret);
    SQLite gives its -wal and -shm files the same mode."""
    if not path or path.startswith(":"):
        return
    if os.path.exists(path):
        os.chmod(path, 0o600)
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


class Database:
    """An engine and a session factory; ``Database(url)`` creates the tables."""

    def __init__(self, url: str):
        kwargs = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.url = url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            _private_file(url[len("sqlite:///"):])
        self.engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _pragmas(conn, _record):  # durable and concurrent enough for one laptop
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        Base.metadata.create_all(self.engine)
        self.session = sessionmaker(self.engine, expire_on_commit=False)
        self._versions_for_old_lessons()

    def _versions_for_old_lessons(self) -> None:
        """Databases from before lesson versions: give every library lesson its version row."""
        from sqlalchemy.exc import IntegrityError

        with self.session() as s:
            known = set(s.execute(select(LessonVersion.sha256)).scalars())
            missing = [r for r in s.execute(select(LessonRow)).scalars() if r.sha256 not in known]
            for r in missing:
                s.add(LessonVersion(sha256=r.sha256, lesson_id=r.id, title=r.title, lesson_json=r.lesson_json))
            if missing:
                try:
                    s.commit()
                except IntegrityError:  # another process did it first
                    s.rollback()

    def setting(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(Setting, key)
            return row.value if row else None

    def setting_default(self, key: str, make) -> str:
        """The stored value of ``key``, or ``make()`` stored now (first writer wins)."""
        value = self.setting(key)
        if value is not None:
            return value
        from sqlalchemy.exc import IntegrityError

        with self.session() as s:
            s.add(Setting(key=key, value=make()))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
        return self.setting(key)  # type: ignore[return-value]

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["Answer", "BuildJob", "Database", "LessonRow", "LessonSource", "LessonVersion", "Participant", "SessionRow",
           "Setting", "SourceVersion", "StudioLogin", "select", "utcnow"]
