"""`quoteflow db` sub-commands: migrate, status (a checkout adds `seed`, see quoteflow.cli.plugins).

Heavy imports (alembic, the models) happen inside the commands, so that other
``quoteflow`` commands do not pay for them."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Annotated, ParamSpec, TypeVar

import typer

app = typer.Typer(no_args_is_help=True)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="SQLAlchemy URL of the database "
        "(default: QUOTEFLOW_DATABASE_URL, else the SQLite file in the state dir).",
        show_default=False,
    ),
]

P = ParamSpec("P")
R = TypeVar("R")


def _shown(url: str | None) -> str:
    from quoteflow.migrate import database_url

    return database_url(url).render_as_string(hide_password=True)


def database_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a database error into a short message (no traceback) and exit code 1."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return fn(*args, **kwargs)
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc  # the driver's own words, if any
            message = str(cause).strip()
            typer.secho(f"database error: {type(cause).__name__}: {message}", fg="red", err=True)
            raise typer.Exit(1) from exc

    return wrapper


def migrate_and_report(url: str | None) -> None:
    """Apply pending migrations and say what changed."""
    from quoteflow import migrate as migrations

    before = migrations.current(url)
    target = migrations.head()
    migrations.upgrade(url)
    if before == target:
        typer.echo(f"{_shown(url)}: already at {target} (head)")
    else:
        typer.echo(f"{_shown(url)}: migrated {before or 'empty'} -> {target} (head)")


@app.command()
@database_errors
def migrate(url: UrlOption = None) -> None:
    """Apply all pending migrations (alembic upgrade head)."""
    migrate_and_report(url)


@app.command()
@database_errors
def status(url: UrlOption = None) -> None:
    """Show the current revision and the row count of every quoteflow table."""
    import sqlalchemy as sa
    from sqlmodel import SQLModel

    import quoteflow.models  # noqa: F401  (registers the tables)
    from quoteflow import migrate as migrations

    revision = migrations.current(url)
    target = migrations.head()
    if revision is None:
        state = "not migrated; run `quoteflow db migrate`"
    elif revision == target:
        state = "up to date"
    else:
        state = f"behind head {target}; run `quoteflow db migrate`"
    typer.echo(f"database: {_shown(url)}")
    typer.echo(f"revision: {revision or '-'} ({state})")
    if revision is None:
        return
    engine = migrations.migration_engine(url)
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
            typer.echo("rows:")
            for table in sorted(SQLModel.metadata.tables.values(), key=lambda t: t.name):
                if table.name not in present:
                    typer.echo(f"  {table.name:<24} (missing)")
                    continue
                n = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                typer.echo(f"  {table.name:<24} {n:>6}")
    finally:
        engine.dispose()
