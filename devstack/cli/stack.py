"""`quoteflow stack` sub-commands: up, down, status."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from devstack.stack import SERVICE_NAMES, Stack, StackError, StackPorts, StackState

app = typer.Typer(no_args_is_help=True)

StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", help="Stack state directory (default: QUOTEFLOW_STATE_DIR or <repo>/.var)."
    ),
]
ServicesOption = Annotated[
    str | None,
    typer.Option(
        "--services",
        help=f"Comma-separated subset of: {', '.join(SERVICE_NAMES)} (default: all).",
    ),
]


def _services(value: str | None) -> list[str] | None:
    return None if value is None else [s for s in value.split(",") if s.strip()]


def describe(state: StackState) -> str:
    """Where everything is, for people: one line per service and the PREFECT_API_URL hint."""
    lines: list[str] = []
    if state.prefect:
        lines.append(f"Prefect UI      {state.prefect.ui_url}")
        lines.append(f"Prefect API     {state.prefect.api_url}")
    if state.s3:
        lines.append(f"S3 endpoint     {state.s3.endpoint_url}  bucket {state.s3.bucket}")
    if state.netsuite:
        lines.append(
            f"NetSuite (fake) {state.netsuite.base_url}  account {state.netsuite.account_id}"
        )
    if state.smtp:
        lines.append(
            f"SMTP sink       {state.smtp.host}:{state.smtp.port}  maildir {state.smtp.maildir}"
        )
    if state.slack:
        lines.append(f"Slack (fake)    {state.slack.api_url}")
    if state.page:
        lines.append(f"Approval page   {state.page.url}/")
        lines.append(f"Slack app       {state.page.url}/slack/events")
    lines.append(f"State file      {state.state_file}")
    lines.append(f"Logs            {state.state_dir / 'logs'}")
    if state.prefect:
        lines.append("")
        lines.append(f"export PREFECT_API_URL={state.prefect.api_url}")
    if state.page and not os.environ.get("QUOTEFLOW_PUBLIC_BASE_URL"):
        # Workers started from this shell build the links in Mike's notices.
        lines.append(f"export QUOTEFLOW_PUBLIC_BASE_URL={state.page.url}")
    return "\n".join(lines)


@app.command()
def up(
    state_dir: StateDirOption = None,
    services: ServicesOption = None,
    prefect_port: Annotated[int | None, typer.Option(help="Prefect server port [4200].")] = None,
    s3_port: Annotated[int | None, typer.Option(help="S3 (moto) port [4566].")] = None,
    netsuite_port: Annotated[int | None, typer.Option(help="Fake NetSuite port [4610].")] = None,
    smtp_port: Annotated[int | None, typer.Option(help="SMTP sink port [2525].")] = None,
    slack_port: Annotated[int | None, typer.Option(help="Fake Slack port [4630].")] = None,
    page_port: Annotated[int | None, typer.Option(help="Approval page port [4620].")] = None,
) -> None:
    """Start the services that are not running, reuse the ones that are; with all of them
    up, register quoteflow's blocks pointing at them."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    overrides = {
        "prefect": prefect_port,
        "s3": s3_port,
        "netsuite": netsuite_port,
        "smtp": smtp_port,
        "slack": slack_port,
        "page": page_port,
    }
    given = {k: v for k, v in overrides.items() if v is not None}
    ports = StackPorts(**given) if given else None
    stack = Stack(state_dir, ports)
    typer.echo("Starting the local stack (a fresh Prefect database takes ~30 s)...")
    try:
        state = stack.up(_services(services))
    except StackError as exc:
        typer.echo(str(exc), err=True)
        typer.echo(describe(stack.state))
        raise typer.Exit(1) from exc
    typer.echo(describe(state))
    if all(getattr(state, name) is not None for name in ("prefect", "s3", "netsuite", "smtp")):
        _register_blocks(state)


def _register_blocks(state: StackState) -> None:
    """Point quoteflow's blocks at this stack's services (unchanged blocks are left alone)."""
    from blocks.register import BlockConfigError
    from devstack.stack.blocks import register_stack_blocks

    try:
        names = register_stack_blocks(state)
    except BlockConfigError as exc:
        typer.echo(f"cannot register blocks: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Blocks          {', '.join(names)}")


@app.command()
def down(state_dir: StateDirOption = None, services: ServicesOption = None) -> None:
    """Stop the services (terminate each process group, kill it if it lingers), and the
    local worker when the whole stack goes down."""
    stack = Stack(state_dir)
    if services is None:
        from deployments.worker import stop_worker

        if stop_worker(stack.state_dir):
            typer.echo("Stopped the worker.")
    try:
        stack.down(_services(services))
    except StackError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Stopped. State file: {stack.state_file}")


@app.command()
def status(state_dir: StateDirOption = None, services: ServicesOption = None) -> None:
    """A table of the services; exit code 1 if any of them is down."""
    stack = Stack(state_dir)
    try:
        wanted = set(_services(services) or SERVICE_NAMES)
        unknown = wanted - set(SERVICE_NAMES)
        if unknown:
            raise StackError(f"unknown service(s) {sorted(unknown)}")
    except StackError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    report = {name: s for name, s in stack.status().items() if name in wanted}
    typer.echo(f"{'SERVICE':<10} {'STATE':<6} {'PID':<8} URL")
    for name, entry in report.items():
        pid = str(entry.pid) if entry.pid is not None else "-"
        url = entry.url or "-"
        detail = f"  ({entry.detail})" if entry.detail else ""
        typer.echo(f"{name:<10} {'up' if entry.up else 'down':<6} {pid:<8} {url}{detail}")
    typer.echo(f"state file: {stack.state_file}")
    if not all(entry.up for entry in report.values()):
        raise typer.Exit(1)
