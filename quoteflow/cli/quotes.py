"""`quoteflow quotes list|show|accept|decline`: find quotes and record the customer's
answer. The same functions (quoteflow.quote_book, quoteflow.lifecycle) serve the page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from quoteflow.cli.context import refuse
from quoteflow.presentation import format_day, format_when

if TYPE_CHECKING:
    from quoteflow.quote_book import QuoteDetail, QuoteSummary

app = typer.Typer(no_args_is_help=True)


def _line(q: QuoteSummary) -> str:
    valid = format_day(q.valid_until) if q.valid_until else "-"
    return (
        f"{q.id:<24} {q.status:<10} {q.school_year}  {q.customer_id:<8} "
        f"{q.customer_name[:28]:<28} {q.currency} {q.subtotal:>11,.2f}  valid until {valid}"
    )


@app.command("list")
def list_(
    customer: Annotated[str | None, typer.Option(help="Customer id or part of its name.")] = None,
    status: Annotated[
        str | None, typer.Option(help="proposed|sent|accepted|rejected|expired|superseded")
    ] = None,
    school_year: Annotated[str | None, typer.Option(help="e.g. 2026-27")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 200,
) -> None:
    """List quotes, newest first."""
    from quoteflow.quote_book import QuoteFilter, list_quotes

    try:
        search = QuoteFilter(customer=customer, status=status, school_year=school_year, limit=limit)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(map(str, err["loc"])) or "search"
            typer.echo(f"{loc}: {err.get('input')!r}: {err['msg']}", err=True)
        raise typer.Exit(2) from exc
    quotes = list_quotes(search)
    for q in quotes:
        typer.echo(_line(q))
    if not quotes:
        typer.echo("no quotes match", err=True)


def _show(d: QuoteDetail) -> None:
    q = d.quote
    typer.echo(_line(q))
    typer.echo(
        f"subtotal {q.currency} {q.subtotal:,.2f}  cost {d.cost_total:,.2f}  "
        f"margin {q.margin_pct if q.margin_pct is not None else '-'}%"
    )
    typer.echo(f"PDF {d.pdf_key or '-'}   NetSuite estimate {q.netsuite_id or '-'}")
    typer.echo(f"email: {d.email_status}")
    typer.echo(f"run {d.flow_run_id or '-'} ({d.run_status or 'no run log'})")
    if q.supersedes_quote_id:
        typer.echo(f"revises {q.supersedes_quote_id}")
    if d.superseded_by:
        typer.echo(f"superseded by {', '.join(d.superseded_by)}")
    typer.echo("lines:")
    for ln in d.lines:
        typer.echo(
            f"  {ln.line_no:>3} {ln.item_code:<12} {ln.description[:34]:<34} x{ln.quantity:<4} "
            f"{ln.case_price:>10,.2f} {ln.line_total:>11,.2f}  {ln.price_source}"
        )
    if d.proposals:
        typer.echo("proposed pricing:")
        for p in d.proposals:
            old = f"{p.old_price:,.2f}" if p.old_price is not None else "none"
            typer.echo(
                f"  {p.item_code:<12} {old} -> {p.new_price:,.2f}  {p.status:<8} "
                f"by {p.approver} {format_when(p.proposed_at)}"
            )
    for push in d.pushes:
        typer.echo(
            f"NetSuite {push.record_type}: {push.status} after {push.attempts} attempt(s)"
            + (f" ({push.last_error})" if push.last_error else "")
        )
    for v in d.verify:
        typer.echo(f"verify {v.check_name}: {v.status}" + (f" ({v.detail})" if v.detail else ""))
    typer.echo("history:")
    for h in d.history:
        who = f" by {h.by}" if h.by else ""
        notes = f": {h.notes}" if h.notes else ""
        typer.echo(f"  {format_when(h.at)} {h.what}{who}{notes}")
    if d.allowed_actions:
        typer.echo(f"next: quoteflow quotes {'|'.join(d.allowed_actions)} {q.id}")


@app.command()
def show(quote_id: str) -> None:
    """One quote: lines, totals, proposed pricing, PDF, NetSuite, email, verify, history."""
    from quoteflow.quote_book import get_quote

    detail = get_quote(quote_id)
    if detail is None:
        typer.echo(f"quote {quote_id} does not exist", err=True)
        raise typer.Exit(1)
    _show(detail)


def _transition(quote_id: str, action: str, notes: str | None, actor: str | None) -> None:
    from quoteflow.cli.context import use_stack_api
    from quoteflow.lifecycle import TransitionRefused, transition

    use_stack_api()  # the transition's event is mirrored to Prefect
    try:
        result = transition(quote_id, action, actor=actor, notes=notes)
    except TransitionRefused as exc:
        refuse(exc)
    typer.echo(result.message)


NotesOption = Annotated[
    str | None, typer.Option(help="What the customer said (kept with the event).")
]
ActorOption = Annotated[
    str | None, typer.Option(help="Who records it (default: the first configured approver).")
]


@app.command()
def accept(quote_id: str, notes: NotesOption = None, actor: ActorOption = None) -> None:
    """The customer accepted: lifecycle accepted; proposed prices go to pricing_master."""
    _transition(quote_id, "accept", notes, actor)


@app.command()
def decline(quote_id: str, notes: NotesOption = None, actor: ActorOption = None) -> None:
    """The customer declined: lifecycle rejected; proposed prices are closed."""
    _transition(quote_id, "decline", notes, actor)
