"""`quoteflow page serve`: Mike's approval page on a loopback address."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.callback()
def page() -> None:
    """Mike's approval page (proposed actions) in a browser, local only."""


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Loopback address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 4620,
) -> None:
    """Serve the approval page until interrupted (Ctrl-C)."""
    if not is_loopback(host):
        typer.echo(
            f"refusing to serve on {host}: the approval page decides without a login, so it "
            "binds loopback addresses only (127.0.0.1, ::1, localhost)",
            err=True,
        )
        raise typer.Exit(2)
    from quoteflow.cli.context import use_stack_api

    use_stack_api()  # approving a quote gate resumes its flow run through the Prefect API
    import uvicorn

    from quoteflow.approval_page import create_app
    from quoteflow.approval_page.app import LOOPBACK_HOSTS

    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"approval page on http://{shown}:{port}/  (Ctrl-C to stop)")
    uvicorn.run(
        create_app(allowed_hosts=LOOPBACK_HOSTS | {host.lower()}),
        host=host,
        port=port,
        proxy_headers=False,
        server_header=False,
        log_level="info",
    )
