"""`quoteflow mirror import-pricing FILE.csv --school-year 2026-27 [--dry-run]`: a pricing
spreadsheet into pricing_master, all rows or none (quoteflow.mirror.pricing_import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quoteflow.cli.db import database_errors


@database_errors
def import_pricing(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV with the columns customer_id,item_code,case_price[,cost_basis].",
        ),
    ],
    school_year: Annotated[
        str, typer.Option("--school-year", help="School year the prices apply to, e.g. 2026-27.")
    ],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check the file and show what would change; write nothing."),
    ] = False,
) -> None:
    """Import customer prices for a school year from a CSV file (every row or none)."""
    from quoteflow.mirror.pricing_import import import_pricing as run_import
    from quoteflow.presentation import import_summary, price_move_text
    from quoteflow.settings import get_settings

    report = run_import(
        file.read_bytes(), school_year=school_year, file_name=file.name, dry_run=dry_run
    )
    if not report.ok:
        typer.secho(
            f"{file.name}: nothing written, {len(report.errors)} problem(s):", fg="red", err=True
        )
        for error in report.errors:
            typer.echo(f"  {error}", err=True)
        raise typer.Exit(1)
    typer.echo(import_summary(report))
    if report.largest_moves:
        typer.echo(f"Largest price moves ({len(report.largest_moves)}):")
        for move in report.largest_moves:
            typer.echo(f"  {price_move_text(move, get_settings().currency)}")
    if report.written:
        typer.secho("Saved: every row, in one transaction.", fg="green")
    else:
        typer.echo("Dry run: nothing written.")
