"""Engines and sessions for the quoteflow database (SQLite file or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from quoteflow.settings import get_settings


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
