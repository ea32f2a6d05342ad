"""`quoteflow contract`: the workflow contract page, generated from the code."""

from __future__ import annotations

from typing import Annotated

import typer


def contract(
    no_live: Annotated[
        bool, typer.Option("--no-live", help="Leave out the live figures (no database read).")
    ] = False,
) -> None:
    """Print the customer_quote contract as Markdown: lanes 0-10 from the code's
    declarations, REAL/STUB per side effect, and live figures from the database."""
    from tasks.contract import contract_markdown

    typer.echo(contract_markdown(live=not no_live), nl=False)
