"""Alembic environment for quoteflow: one database, URL from the config (set in code by
``quoteflow.migrate``) or, when run from the ``alembic`` CLI, from quoteflow settings."""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from quoteflow.migrate import NAMING_CONVENTION, database_url

config = context.config
if config.config_file_name is not None:  # the alembic CLI with alembic.ini; not quoteflow.migrate
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def target_metadata() -> sa.MetaData:
    """The models' metadata, copied under the naming convention, for autogenerate."""
    from sqlmodel import SQLModel

    import quoteflow.models  # noqa: F401  (registers the tables)

    named = sa.MetaData(naming_convention=NAMING_CONVENTION)
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(named)
    return named


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render custom column types as plain SQLAlchemy ones, so migration scripts never
    import quoteflow.models or sqlmodel (the models change; a migration must not)."""
    if type_ != "type":
        return False
    from sqlmodel.sql.sqltypes import AutoString

    from quoteflow.models import UTCDateTime

    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata(),
        compare_type=True,
        render_item=_render_item,
        # Every migration must run on SQLite, which cannot ALTER most things: autogenerate
        # batch operations (plain ALTERs on PostgreSQL), whichever database it compared.
        render_as_batch=True,
        literal_binds=connection is None,
    )


def run_migrations_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url") or str(database_url()))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or database_url().render_as_string(
        hide_password=False
    )
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _configure(connection=conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
