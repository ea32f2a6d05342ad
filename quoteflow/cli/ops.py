"""`quoteflow deploy` and `quoteflow worker ...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

worker_app = typer.Typer(no_args_is_help=True)


def deploy(
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show the deployments and where the worker will find their flows; "
            "contact no Prefect server.",
        ),
    ] = False,
    project_dir: Annotated[
        Path | None,
        typer.Option(
            "--project-dir",
            help="Directory the worker runs the flows from (default QUOTEFLOW_PROJECT_DIR, "
            "else where the quoteflow packages are installed).",
        ),
    ] = None,
) -> None:
    """Create the work pool and NetSuite limit, then `prefect deploy --all`."""
    from deployments.deploy import deploy_all, deploy_plan

    if dry_run:
        plan = deploy_plan(project_dir)
        typer.echo(f"prefect.yaml  {plan.prefect_file}")
        typer.echo(f"project dir   {plan.project_dir}")
        for d in plan.deployments:
            starts = "; ".join([*d.schedules, *(f"on {t}" for t in d.triggers)] or ["by hand"])
            mark = "ok" if d.found else "MISSING"
            typer.echo(f"{d.name:<20} {d.entrypoint:<45} {mark:<7} pool {d.work_pool}; {starts}")
        if plan.missing:
            typer.echo(f"{len(plan.missing)} deployment(s) without their flow file", err=True)
            raise typer.Exit(1)
        typer.echo(f"{len(plan.deployments)} deployments; nothing was deployed (dry run).")
        return

    from quoteflow.cli.context import use_stack_api

    use_stack_api()
    typer.echo(deploy_all(project_dir))


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
