"""`quoteflow verify` sub-commands: run the verify sweep now."""

from __future__ import annotations

from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True)

MAX_DETAIL_WIDTH = 90


@app.callback()
def verify() -> None:
    """Run the verify checks (contract section 8) that customer-quote runs staged."""


def sweep_artifact_rows(flow_run_id: Any) -> list[dict[str, str]]:
    """The rows of the sweep's table artifact, as the Prefect UI shows them."""
    from quoteflow.prefect_api import sweep_artifact_rows as rows_of
    from tasks.verify import SWEEP_ARTIFACT_KEY

    return rows_of(flow_run_id, SWEEP_ARTIFACT_KEY)


def format_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    """A plain-text table (long details cut to fit a terminal line)."""

    def cell(row: dict[str, str], col: str) -> str:
        text = str(row.get(col, ""))
        return text if len(text) <= MAX_DETAIL_WIDTH else text[: MAX_DETAIL_WIDTH - 3] + "..."

    widths = {c: max([len(c)] + [len(cell(r, c)) for r in rows]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(cell(r, c).ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


@app.command()
def now(
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=5000, help="Checks per batch.")
    ] = 200,
) -> None:
    """Run the verify-checks flow now and print what it did."""
    from quoteflow.cli.context import use_stack_api

    use_stack_api()
    from flows.verify_checks import verify_checks

    state = verify_checks(batch_size=batch_size, return_state=True)
    if not state.is_completed():
        typer.echo(f"verify-checks ended {state.name}: {state.message}", err=True)
        raise typer.Exit(1)
    counts: dict[str, int] = state.result()
    rows = sweep_artifact_rows(state.state_details.flow_run_id)
    if rows:
        typer.echo(format_table(rows, ["run id", "check", "quote", "status", "attempts", "detail"]))
        typer.echo("")
    typer.echo(format_table([{k: str(v) for k, v in counts.items()}], list(counts)))
