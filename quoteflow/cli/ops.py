"""`quoteflow deploy` and `quoteflow worker ...`."""

from __future__ import annotations

import typer

worker_app = typer.Typer(no_args_is_help=True)


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
