"""`quoteflow recover ...`: the reconciler's pass on demand, its record, a re-drive by hand."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("now")
def now() -> None:
    """Run one reconcile pass now (the deployment runs one every minute)."""
    from flows.reconcile import reconcile
    from quoteflow.cli.context import use_stack_api

    use_stack_api()
    result = reconcile()
    for d in result.done:
        typer.echo(f"{d.kind:<11} {d.subject} run {d.run_id or '-'}: {d.detail}")
    if not result.done:
        typer.echo("nothing to reconcile")


@app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option(help="active | healed | dead_letter (default: all)")
    ] = None,
) -> None:
    """Runs the reconciler re-drove or dead-lettered, newest first."""
    from quoteflow.recovery import list_recoveries

    for r in list_recoveries(status=status):
        typer.echo(
            f"{r.run_id} {r.status:<11} {r.redrives} re-drive(s) {r.deployment}: {r.last_reason}"
        )


@app.command("redrive")
def redrive(run_id: str) -> None:
    """Re-drive one run by hand (after fixing what made it fail; lifts its dead letter)."""
    from quoteflow.cli.context import use_stack_api
    from quoteflow.recovery import flow_run_url, manual_redrive

    use_stack_api()
    try:
        count = manual_redrive(run_id)
    except ValueError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"re-driven (#{count}): {flow_run_url(run_id)}")


@app.command("release-email")
def release_email_cmd(
    quote_id: Annotated[str, typer.Argument(help="The quote whose email is in doubt.")],
    sent: Annotated[
        bool | None,
        typer.Option(
            "--sent/--not-sent",
            help="--sent: you found it in your Sent folder or the relay's log (recorded as "
            "sent); --not-sent: it did not go out (it is sent once more).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Settle a customer email whose delivery is in doubt, after checking the outbox."""
    from quoteflow.cli.context import use_stack_api
    from quoteflow.effect_recovery import ReleaseError, release_email

    if sent is None:
        typer.echo("say what you found: --sent or --not-sent", err=True)
        raise typer.Exit(2)
    use_stack_api()
    try:
        done = release_email(quote_id, sent=sent)
    except ReleaseError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    if done.verdict == "sent":
        typer.echo(f"recorded as sent: {done.message_id} (quote {quote_id}); nothing is re-sent")
    else:
        typer.echo(
            f"released: {done.message_id} (quote {quote_id}) may be sent once; {done.redrive or 'no run to re-drive: approve the email again'}"
        )
