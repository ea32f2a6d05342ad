"""`quoteflow page serve`: Mike's approval page on a loopback address."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.callback()
def page() -> None:
    """Mike's approval page (proposed actions) in a browser."""


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def configured_password_hash() -> str | None:
    """The page password hash: from the environment, else its Secret block, else none."""
    from quoteflow.settings import get_settings

    settings = get_settings()
    if settings.page_password_hash is not None:
        return settings.page_password_hash.get_secret_value()
    from quoteflow import prefect_api

    try:
        return prefect_api.gateway().read_secret(settings.page_password_block)
    except ValueError:  # no such block: no password configured
        return None
    except Exception as exc:  # the Prefect API is not up (yet): serve as if none is set
        typer.echo(f"could not read the page password block ({exc}); no login", err=True)
        return None


def _mail_host() -> str | None:
    """The SMTP relay Mike's notices leave through (None when its block cannot be read)."""
    from quoteflow.settings import get_settings

    try:
        from prefect_email import EmailServerCredentials

        return str(EmailServerCredentials.load(get_settings().smtp_block, _sync=True).smtp_server)
    except Exception:  # no block, or the API is not up: nothing to compare with
        return None


@app.command("hash-password")
def hash_password_cmd() -> None:
    """Print the hash of a new page password (typed twice, never echoed); put it in
    QUOTEFLOW_PAGE_PASSWORD_HASH or a Secret block named by QUOTEFLOW_PAGE_PASSWORD_BLOCK."""
    from quoteflow.approval_page.auth import hash_password

    password = typer.prompt("New page password", hide_input=True, confirmation_prompt=True)
    try:
        typer.echo(hash_password(password))
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; beyond loopback a password is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 4620,
) -> None:
    """Serve the approval page until interrupted (Ctrl-C)."""
    from quoteflow.cli.context import use_stack_api

    use_stack_api()  # approving a quote gate resumes its flow run through the Prefect API
    from urllib.parse import urlsplit

    from quoteflow.approval_page.security import LOOPBACK_HOSTS
    from quoteflow.links import loopback_link_warning
    from quoteflow.settings import get_settings

    password_hash = configured_password_hash()
    if not is_loopback(host) and password_hash is None:
        typer.echo(
            f"refusing to serve on {host}: beyond loopback the page needs a login. Set "
            "QUOTEFLOW_PAGE_PASSWORD_HASH (make one with `quoteflow page hash-password`).",
            err=True,
        )
        raise typer.Exit(2)
    import uvicorn

    from quoteflow.approval_page import create_app

    public = urlsplit(get_settings().public_base_url)
    warning = loopback_link_warning(get_settings().public_base_url, _mail_host())
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    allowed = LOOPBACK_HOSTS | {host.lower()} | ({public.hostname} if public.hostname else set())
    shown = f"[{host}]" if ":" in host else host
    login = "login required" if password_hash else "no login: loopback only"
    typer.echo(f"approval page on http://{shown}:{port}/  ({login}; Ctrl-C to stop)")
    from quoteflow.approval_page.proxy import page_server_config

    trusted = get_settings().page_trusted_proxies
    if trusted:
        typer.echo(f"client addresses from X-Forwarded-For of {', '.join(trusted)}")
    app = create_app(
        allowed_hosts=allowed,
        password_hash=password_hash,
        secure_cookies=public.scheme == "https",
    )
    uvicorn.Server(page_server_config(app, host=host, port=port, trusted_proxies=trusted)).run()
