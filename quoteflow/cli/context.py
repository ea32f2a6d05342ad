"""What every command that talks to Prefect needs: an API URL, never an ephemeral server
that nobody else can see. ``quoteflow.cli.main`` sets it from the stack before import."""

from __future__ import annotations

import typer
from prefect.settings import get_current_settings


def use_stack_api() -> str:
    """The Prefect API this process talks to; exit with advice when there is none."""
    url = get_current_settings().api.url
    if not url:
        typer.echo(
            "No Prefect server: set PREFECT_API_URL or start the local stack "
            "(`quoteflow stack up`).",
            err=True,
        )
        raise typer.Exit(1)
    return url
