"""One engine per database URL (SQLite by default, PostgreSQL through psycopg 3) and Alembic upgrades."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

_engines: dict[str, Engine] = {}
_schema_ready: set[str] = set()
_lock = threading.Lock()
_auto_migrate = True
POOL_SIZE, MAX_OVERFLOW = 20, 20  # per process, PostgreSQL only
_MIGRATION_LOCK_KEY = 7_406_221_950  # any constant: one advisory lock for triageflow's migrations


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 here; SQLite paths get their folder created."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _engine(url: str) -> Engine:
    """The process-wide engine for `url`, built once; no schema check (migrations and revision reads use it)."""
    key = normalize_url(url)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            if key.startswith("sqlite"):
                engine = create_engine(key, connect_args={"check_same_thread": False})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                # as many pooled connections as the service's request threads use at once: beyond the pool, each
                # request opened and closed a PostgreSQL connection of its own (most of a webhook's answer time)
                engine = create_engine(key, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)
            _engines[key] = engine
        return engine


def engine_for(url: str) -> Engine:
    """The process-wide engine for `url`, its schema brought up to date on first use (see `ensure_schema`)."""
    engine = _engine(url)
    key = normalize_url(url)
    if key not in _schema_ready:
        ensure_schema(url)
        _schema_ready.add(key)
    return engine


class SchemaNotReady(RuntimeError):
    """The database is behind the code and migrating on first use is switched off."""


def set_auto_migrate(enabled: bool) -> None:
    """TRIAGE_AUTO_MIGRATE: migrate on first use (default), or leave it to a release step (`triage db upgrade`)."""
    global _auto_migrate
    _auto_migrate = enabled


def ensure_schema(url: str) -> None:
    """Bring the schema to the newest revision, as Prefect's own server does on start. Concurrent first starts
    take turns (a file lock beside a SQLite file, an advisory lock on PostgreSQL) and the second finds it done."""
    head = head_revision()
    if current_revision(url) == head:
        return
    if not _auto_migrate:
        raise SchemaNotReady(f"the database {make_url(normalize_url(url)).render_as_string(hide_password=True)} "
                             f"is at schema {current_revision(url) or 'none'}, this code needs {head}: "
                             "run `triage db upgrade` (TRIAGE_AUTO_MIGRATE is off)")
    with _migration_lock(url):
        if current_revision(url) != head:
            upgrade(url)


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    parsed = make_url(normalize_url(url))
    if parsed.drivername.startswith("postgresql"):
        with _engine(url).connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
                conn.commit()
        return
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        import fcntl

        with open(Path(parsed.database).expanduser().with_suffix(".migrate-lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    yield


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _schema_ready.clear()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error: nothing half-written."""
    with Session(engine_for(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "triageflow" / "migrations"))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at `url` up to `revision` with the project's Alembic migrations."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with _engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration this code ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
