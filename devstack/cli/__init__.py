"""The dev plugin of the ``quoteflow`` CLI (see ``quoteflow.cli.plugins``): the commands of
the local stack, the demo data and the demo, and the local stack's Prefect API."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from quoteflow.cli.db import UrlOption, database_errors, migrate_and_report


def install(app: typer.Typer) -> None:
    """Add ``stack``, ``demo`` and ``db seed`` to the ``quoteflow`` CLI; in a checkout every
    command keeps its state in <checkout>/.var (unless QUOTEFLOW_STATE_DIR is set)."""
    from devstack import use_checkout_state_dir
    from devstack.cli import stack as stack_cmd
    from quoteflow.cli import db as db_cmd

    use_checkout_state_dir()

    app.add_typer(
        stack_cmd.app, name="stack", help="Start, stop and inspect the local service stack."
    )
    app.command("demo")(demo)
    db_cmd.app.command("seed")(seed)


def local_api_url() -> str | None:
    """The Prefect API of the local stack in QUOTEFLOW_STATE_DIR (default <repo>/.var), or
    None when it was never brought up there."""
    from devstack.stack import StackNotStarted, load_state

    try:
        state = load_state()
    except (StackNotStarted, ValueError):
        return None
    return state.prefect.api_url if state.prefect is not None else None


def demo(
    as_json: Annotated[
        bool, typer.Option("--json", help="Also print the summary as one JSON object, last line.")
    ] = False,
) -> None:
    """Mike's day end to end on the local stack: draft, approve, fan-out, email, verify."""
    from devstack.demo import render_summary, run_demo

    try:
        summary = run_demo(say=lambda text: typer.echo(text, err=as_json))
    except (RuntimeError, TimeoutError, AssertionError) as exc:
        typer.echo(f"demo failed: {exc}", err=True)
        typer.echo("logs: .var/logs/ (worker.log, prefect.log, ...)", err=True)
        raise typer.Exit(1) from exc
    typer.echo(render_summary(summary), err=as_json)
    if as_json:
        typer.echo(json.dumps(summary.model_dump(mode="json")))


@database_errors
def seed(url: UrlOption = None) -> None:
    """Migrate, then load the demo dataset (idempotent: re-running changes nothing)."""
    from devstack import seed as demo_data

    migrate_and_report(url)
    counts = demo_data.load_demo_data(url)
    typer.echo(f"demo data loaded ({counts.inserted} new rows):")
    for table, n in counts.per_table().items():
        typer.echo(f"  {table:<20} {n:>5}")
    typer.echo(
        f"demo customer {demo_data.DEMO_CUSTOMER_ID}, school year {demo_data.DEMO_SCHOOL_YEAR}, "
        f"items {' '.join(demo_data.DEMO_ITEM_CODES)}"
    )
