"""Schema migrations (Alembic) for the quoteflow database, run from code.

The migration scripts live inside the package (``quoteflow/migrations``), so
``upgrade()`` works from an installed wheel and from any working directory.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from quoteflow.db import configured_database_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Every constraint gets a predictable name, so later migrations can drop or alter
# it by name on both SQLite (batch mode) and PostgreSQL.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def database_url(url: str | None = None) -> URL:
    """The URL to migrate: ``url`` or the configured one, PostgreSQL through psycopg 3."""
    parsed = make_url(url or configured_database_url())
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_file(url: URL) -> Path | None:
    db = url.database
    if (
        url.get_backend_name() == "sqlite"
        and db
        and db != ":memory:"
        and not db.startswith("file:")
    ):
        return Path(db).expanduser()
    return None


def _ensure_sqlite_parent(url: URL) -> None:
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def migration_engine(url: str | None = None) -> Engine:
    """A short-lived engine (no pool) so a migration never leaves connections behind."""
    parsed = database_url(url)
    _ensure_sqlite_parent(parsed)
    return sa.create_engine(parsed, poolclass=NullPool)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config built in code, pointing at the packaged migration scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # configparser interpolation: a literal '%' (e.g. an encoded password) must be doubled.
    rendered = database_url(url).render_as_string(hide_password=False)
    cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def head() -> str:
    """The newest revision shipped with this package."""
    revision = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if revision is None:  # pragma: no cover - the package always ships 0001
        raise RuntimeError(f"no migration scripts found in {MIGRATIONS_DIR}")
    return revision


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database at ``url`` (default: settings) up to ``revision``."""
    _ensure_sqlite_parent(database_url(url))
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision`` (default: drop everything)."""
    command.downgrade(alembic_config(url), revision)


def current(url: str | None = None) -> str | None:
    """The database's current revision, or None if it was never migrated."""
    path = _sqlite_file(database_url(url))
    if path is not None and not path.exists():
        return None  # do not create an empty SQLite file just to look at it
    engine = migration_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
