"""`quoteflow blocks` sub-commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def register(
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="Local stack to fall back on (default: Settings)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--keep", help="Update existing blocks, or leave them.")
    ] = True,
) -> None:
    """Create or update the Prefect blocks (values: environment first, then the local stack)."""
    from blocks.register import BlockConfigError, register_blocks
    from quoteflow.stack import StackNotStarted, StackState, load_state

    state: StackState | None = None
    try:
        state = load_state(state_dir)
    except StackNotStarted as exc:
        if state_dir is not None:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
    if state is not None and state.prefect is not None and not os.environ.get("PREFECT_API_URL"):
        # For anything this process starts; register_blocks also pins its own client.
        os.environ["PREFECT_API_URL"] = state.prefect.api_url
    try:
        ids = register_blocks(state, overwrite=overwrite)
    except BlockConfigError as exc:
        typer.echo(f"cannot register blocks: {exc}", err=True)
        raise typer.Exit(1) from exc
    for name in ids:
        typer.echo(f"registered block {name}")
