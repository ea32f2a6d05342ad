"""`quoteflow mirror` sub-commands: sync the NetSuite mirror now, and show where it stands."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.callback()
def mirror() -> None:
    """The local mirror of NetSuite (customers, items, profiles, pricing, programs)."""


@app.command()
def sync(
    table: Annotated[
        str | None, typer.Option("--table", help="Only this mirrored table (default: all).")
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Read every row; drop or mark what NetSuite no longer has."),
    ] = False,
) -> None:
    """Sync from NetSuite now with the NetSuite block (what the mirror-sync deployment runs).

    429, 5xx and timeouts are retried with the step retry policy (QUOTEFLOW_RETRY_*); each
    attempt resumes where the last committed page left off."""
    from blocks.netsuite import NetSuiteCredentials
    from quoteflow.mirror.config import MirrorConfigError, load_config
    from quoteflow.mirror.service import tables_to_sync
    from quoteflow.mirror.sync import MirrorSyncError, TableResult, alert_if_stale, sync_table
    from quoteflow.netsuite.errors import NetSuiteError
    from quoteflow.run_rules import retry_delays
    from quoteflow.settings import get_settings

    settings = get_settings()
    try:
        config = load_config()
        tables = tables_to_sync(config, table)
    except (MirrorConfigError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    netsuite = NetSuiteCredentials.load(settings.netsuite_block, _sync=True)
    delays = retry_delays(
        settings.retry_attempts, settings.retry_base_seconds, settings.retry_max_seconds
    )
    failed = False
    with netsuite.get_client() as client:
        for name in tables:
            for attempt in range(len(delays) + 1):
                try:
                    result = sync_table(client, config, name, full=full)
                    break
                except NetSuiteError as exc:
                    if not exc.retryable or attempt == len(delays):
                        result = TableResult(table=name, full=full, error=str(exc))
                        break
                    typer.echo(f"{name}: {exc}; retrying in {delays[attempt]:g} s", err=True)
                    time.sleep(delays[attempt])
                except MirrorSyncError as exc:
                    result = TableResult(table=name, full=full, error=str(exc))
                    break
            if result.error:
                failed = True
                alerted = alert_if_stale(name)
                typer.echo(f"{name}: FAILED {result.error}" + (" (alerted)" if alerted else ""))
            else:
                extra = ""
                if full:
                    extra = f", {result.rows_marked} marked, {result.rows_deleted} deleted"
                typer.echo(
                    f"{name}: {result.rows_written} rows in {result.pages} page(s){extra}; "
                    f"{result.row_count} mirrored ({result.seconds:g} s)"
                )
    if failed:
        raise typer.Exit(1)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Per mirrored table: rows, watermark, last success, last error."""
    from quoteflow.cli.verify import format_table
    from quoteflow.mirror.config import load_config
    from quoteflow.mirror.service import status as mirror_status

    rows = mirror_status(load_config())
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in rows], indent=2))
        return
    table = [
        {
            "table": r.table,
            "rows": str(r.rows),
            "watermark": (r.watermark or "-") + (" (resuming)" if r.in_progress else ""),
            "last success": r.last_success_at or "never",
            "last full": r.last_full_at or "never",
            "last error": f"{r.last_error_at}: {r.last_error}" if r.last_error else "-",
        }
        for r in rows
    ]
    typer.echo(
        format_table(
            table, ["table", "rows", "watermark", "last success", "last full", "last error"]
        )
    )
