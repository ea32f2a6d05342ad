"""`quoteflow blocks` sub-commands."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def register(
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--keep", help="Update existing blocks, or leave them.")
    ] = True,
) -> None:
    """Create or update the Prefect blocks from the environment (NETSUITE_*, SMTP_*, AWS_*,
    QUOTEFLOW_S3_*; see blocks/register.py). `quoteflow stack up` registers the local stack's."""
    from blocks.register import BlockConfigError, register_blocks

    try:
        ids = register_blocks(overwrite=overwrite)
    except BlockConfigError as exc:
        typer.echo(f"cannot register blocks: {exc}", err=True)
        raise typer.Exit(1) from exc
    for name in ids:
        typer.echo(f"registered block {name}")
