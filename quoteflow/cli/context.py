"""What every command that talks to Prefect needs: an API URL, never an ephemeral server
that nobody else can see. ``quoteflow.cli.main`` points the process at one before import."""

from __future__ import annotations

from typing import NoReturn

import typer

from quoteflow.prefect_api import NoPrefectApi, require_api_url


def use_stack_api() -> str:
    """The Prefect API this process talks to; exit with advice when there is none."""
    try:
        return require_api_url()
    except NoPrefectApi as exc:
        typer.echo(f"{exc}.", err=True)
        raise typer.Exit(1) from exc


def refuse(exc: Exception) -> NoReturn:
    """Exit 1 saying why the command was refused (it changed nothing)."""
    typer.echo(f"refused: {exc}", err=True)
    raise typer.Exit(1) from exc
