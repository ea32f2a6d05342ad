"""`quoteflow recover ...`: the reconciler's pass on demand, its record, a re-drive by hand."""

from __future__ import annotations

from typing import Annotated

import typer

from quoteflow.cli.context import refuse

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
    """Runs that look stranded now, the last successful pass of each recurring deployment,
    and the runs the reconciler re-drove or dead-lettered (newest first)."""
    from quoteflow.cli.context import use_stack_api
    from quoteflow.recovery import list_recoveries

    use_stack_api()
    _print_liveness()
    typer.echo("re-driven or dead-lettered runs:")
    for r in list_recoveries(status=status):
        typer.echo(
            f"  {r.run_id} {r.status:<11} {r.redrives} re-drive(s) {r.deployment}: {r.last_reason}"
        )


def _print_liveness() -> None:
    from quoteflow import liveness
    from quoteflow.models import utcnow
    from quoteflow.presentation import format_when, span

    now = utcnow()
    stranded = liveness.stranded_runs(now)
    typer.echo(
        f"stranded runs (no process: silent past {liveness.bound().total_seconds():.0f} s, "
        f"{liveness.bound('PENDING').total_seconds():.0f} s for a submitted run):"
    )
    for run in stranded:
        typer.echo(f"  {run.run_id} {run.name}: {run.describe()}")
    if not stranded:
        typer.echo("  none")
    typer.echo("last successful pass of each recurring deployment:")
    for last in liveness.last_passes():
        when = (
            f"{format_when(last.ended_at)} "
            f"({span((now - last.ended_at).total_seconds())} ago), run {last.run_id}"
            if last.ended_at
            else "never"
        )
        typer.echo(f"  {last.deployment:<40} {when}")


@app.command("redrive")
def redrive(run_id: str) -> None:
    """Re-drive one run by hand (after fixing what made it fail; lifts its dead letter).
    A run still Running or Pending whose process is gone is marked Crashed first; a live
    one is refused."""
    from quoteflow.cli.context import use_stack_api
    from quoteflow.prefect_api import flow_run_url
    from quoteflow.recovery_commands import redrive_by_hand

    use_stack_api()
    try:
        count, before = redrive_by_hand(run_id)
    except ValueError as exc:
        refuse(exc)
    typer.echo(f"{before}re-driven (#{count}): {flow_run_url(run_id)}")


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
        refuse(exc)
    if done.verdict == "sent":
        typer.echo(f"recorded as sent: {done.message_id} (quote {quote_id}); nothing is re-sent")
    else:
        typer.echo(
            f"released: {done.message_id} (quote {quote_id}) may be sent once; {done.redrive or 'no run to re-drive: approve the email again'}"
        )
