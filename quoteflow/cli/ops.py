"""`quoteflow demo`, `quoteflow deploy` and `quoteflow worker ...`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

worker_app = typer.Typer(no_args_is_help=True)


def demo(
    as_json: Annotated[
        bool, typer.Option("--json", help="Also print the summary as one JSON object, last line.")
    ] = False,
) -> None:
    """Mike's day end to end on the local stack: draft, approve, fan-out, email, verify."""
    from quoteflow.demo import render_summary, run_demo

    try:
        summary = run_demo(say=lambda text: typer.echo(text, err=as_json))
    except (RuntimeError, TimeoutError, AssertionError) as exc:
        typer.echo(f"demo failed: {exc}", err=True)
        typer.echo("logs: .var/logs/ (worker.log, prefect.log, ...)", err=True)
        raise typer.Exit(1) from exc
    typer.echo(render_summary(summary), err=as_json)
    if as_json:
        typer.echo(json.dumps(summary.model_dump(mode="json")))


def deploy() -> None:
    """Create the work pool and NetSuite limit, then `prefect deploy --all`."""
    from deployments.deploy import deploy_all
    from quoteflow.cli.context import use_stack_api

    use_stack_api()
    typer.echo(deploy_all())


@worker_app.command("start")
def worker_start() -> None:
    """Start a process worker for the quoteflow work pool (in the background)."""
    from deployments.deploy import work_pool_name
    from deployments.worker import start_worker
    from quoteflow.cli.context import use_stack_api

    info = start_worker(work_pool_name(), api_url=use_stack_api())
    typer.echo(f"worker pid {info.pid} on pool {info.pool}; log {info.log_file}")


@worker_app.command("stop")
def worker_stop() -> None:
    """Stop the background worker and the flow runs it is running."""
    from deployments.worker import stop_worker

    typer.echo("worker stopped" if stop_worker() else "no worker running")
