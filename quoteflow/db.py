"""Engines and sessions for the quoteflow database (SQLite file or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from quoteflow.settings import get_settings

M = TypeVar("M", bound=SQLModel)


def _normalise(url: str) -> str:
    # PostgreSQL goes through psycopg 3, whatever scheme the operator wrote.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def configured_database_url() -> str:
    """The database URL of this process: from the Secret block named by
    ``QUOTEFLOW_DATABASE_BLOCK`` when one is configured (read once per process), else from
    the settings (QUOTEFLOW_DATABASE_URL or the SQLite file; no Prefect server needed)."""
    settings = get_settings()
    if settings.database_block:
        return database_url_from_block(settings.database_block)
    return settings.resolved_database_url


@lru_cache(maxsize=4)
def database_url_from_block(name: str) -> str:
    """The URL held by the Secret block ``name``; one API read per process and name."""
    from quoteflow import prefect_api

    value = prefect_api.gateway().read_secret(name)
    if "://" not in value:
        # Never echo the value: it holds the password.
        raise ValueError(f"Secret block {name!r} does not hold a database URL")
    return value


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process (the configured URL when none is given)."""
    return _engine(_normalise(url or configured_database_url()))


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    """SQLite gets WAL and a busy timeout so the fan-out's concurrent tasks can write
    without 'database is locked'."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def insert_once(session: Session, row: SQLModel) -> bool:
    """INSERT ``row`` unless one with the same unique key exists (``ON CONFLICT DO
    NOTHING``, on SQLite and PostgreSQL alike); True when this call inserted it. Unlike
    catching IntegrityError, a lost race leaves the caller's transaction usable."""
    table = type(row).__table__  # type: ignore[attr-defined]
    values = {c.name: getattr(row, c.name) for c in table.columns}
    values = {name: value for name, value in values.items() if value is not None}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(values).on_conflict_do_nothing()
    # A row comes back only when inserted (rowcount is not reliable with RETURNING).
    return session.execute(stmt.returning(*table.primary_key.columns)).first() is not None


def get_or_create(session: Session, row: M, **key: Any) -> M:
    """The stored row matching ``key`` (columns of a unique key of ``row``'s table),
    created from ``row`` first when there is none; safe when two writers race."""
    model = type(row)
    existing = session.execute(sa.select(model).filter_by(**key)).scalars().first()
    if existing is not None:
        return existing
    insert_once(session, row)
    return session.execute(sa.select(model).filter_by(**key)).scalars().one()
