"""`quoteflow draft` and `quoteflow actions ...`: Mike's approval path from a terminal.
The same functions (quoteflow.approvals) serve the approval page and the API."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from quoteflow.cli.context import refuse
from quoteflow.presentation import format_when
from quoteflow.quote import QuoteRequest

if TYPE_CHECKING:
    from quoteflow.models import ActionView

app = typer.Typer(no_args_is_help=True)

ApproverOption = Annotated[
    str | None, typer.Option(help="A configured approver (default: the first configured).")
]


def _line(a: ActionView) -> str:
    expires = f" expires {format_when(a.expires_at)}" if a.expires_at else ""
    return f"#{a.id:<5} {a.status:<9} {a.action_type:<24} {a.entity_ref}{expires}"


def draft(
    customer_id: Annotated[str, typer.Option(help="Customer (NetSuite internal id).")],
    items: Annotated[str, typer.Option(help="Comma-separated item codes.")],
    school_year: Annotated[str, typer.Option(help="e.g. 2026-27")],
    quote_id: Annotated[str | None, typer.Option(help="Revise this quote.")] = None,
    catalog: Annotated[str | None, typer.Option()] = None,
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Do not render a PDF.")] = False,
) -> None:
    """Stage a quote_draft proposed action; approving it starts a customer-quote run."""
    try:
        request = QuoteRequest(
            customer_id=customer_id,
            item_codes=[c.strip() for c in items.split(",") if c.strip()],
            school_year=school_year,
            quote_id=quote_id,
            catalog=catalog,
            include_pdf=not no_pdf,
        )
    except ValidationError as exc:
        for err in exc.errors():
            typer.echo(f"{'.'.join(map(str, err['loc']))}: {err['msg']}", err=True)
        raise typer.Exit(2) from exc
    from quoteflow.approvals import draft_quote

    action = draft_quote(request)
    typer.echo(
        f"staged quote draft #{action.id}; approve it with: quoteflow actions approve {action.id}"
    )


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="pending|approved|rejected|expired")] = None,
    action_type: Annotated[str | None, typer.Option("--type")] = None,
) -> None:
    """List proposed actions, newest first."""
    from quoteflow.approvals import list_actions

    for a in list_actions(status=status, action_type=action_type):
        typer.echo(_line(a))


@app.command()
def show(action_id: int) -> None:
    """Show one proposed action with its payload."""
    from quoteflow.approvals import ApprovalError, get_action

    try:
        a = get_action(action_id)
    except ApprovalError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(_line(a))
    typer.echo(f"approver {a.approver}  flow run {a.flow_run_id or '-'}")
    typer.echo(f"payload hash {a.payload_hash}  (pass it as --expect-hash to decide on this)")
    if a.decided_at:
        typer.echo(f"decided {format_when(a.decided_at)} notes: {a.decision_notes or ''}")
    if a.approved_payload_hash:
        typer.echo(f"approved hash {a.approved_payload_hash}")
    typer.echo(json.dumps(a.payload, indent=2, default=str))


def _parse_overrides(values: list[str]) -> dict[str, str]:
    """ITEM=PRICE pairs; the prices are checked by the contract's one price rule."""
    from quoteflow.decision import DecisionError, parse_price

    out: dict[str, str] = {}
    for v in values:
        code, sep, price = v.partition("=")
        if not sep or not code.strip():
            raise typer.BadParameter(f"--price {v!r}: expected ITEM=PRICE, e.g. FS-1001=41.50")
        if code.strip() in out:
            raise typer.BadParameter(f"--price {v!r}: {code.strip()} is given twice")
        try:
            parse_price(code.strip(), price)
        except DecisionError as exc:
            raise typer.BadParameter(f"--price {v!r}: {exc}") from exc
        out[code.strip()] = price.strip()
    return out


@app.command("approve")
def approve_cmd(
    action_id: int,
    notes: Annotated[str | None, typer.Option(help="Why (kept on the action).")] = None,
    price: Annotated[
        list[str] | None,
        typer.Option(help="Price override ITEM=PRICE (quote gates only); repeatable."),
    ] = None,
    approver: ApproverOption = None,
    expect_hash: Annotated[
        str | None,
        typer.Option(help="The payload hash `actions show` printed: refuse if it changed."),
    ] = None,
    confirm: Annotated[
        bool,
        typer.Option(
            "--confirm",
            help="Approve prices that are zero, below cost, under the margin floor, or "
            "more than 3x / under 1/3 of the quoted price.",
        ),
    ] = False,
) -> None:
    """Approve a pending proposed action (a quote gate resumes its waiting run)."""
    from quoteflow.approvals import ApprovalError, approve
    from quoteflow.cli.context import use_stack_api

    overrides = _parse_overrides(price or [])
    use_stack_api()
    try:
        a = approve(
            action_id,
            approver=approver,
            notes=notes,
            price_overrides=overrides,
            expected_hash=expect_hash,
            confirm=confirm,
        )
    except ApprovalError as exc:
        refuse(exc)
    typer.echo(f"approved {_line(a)}")
    typer.echo(f"approved hash {a.approved_payload_hash}")
    from quoteflow.channel_feedback import start_report

    typer.echo(start_report(a))


@app.command("reject")
def reject_cmd(
    action_id: int,
    notes: Annotated[str | None, typer.Option(help="Why (kept on the action).")] = None,
    approver: ApproverOption = None,
    expect_hash: Annotated[
        str | None,
        typer.Option(help="The payload hash `actions show` printed: refuse if it changed."),
    ] = None,
) -> None:
    """Reject a pending proposed action."""
    from quoteflow.approvals import ApprovalError, reject
    from quoteflow.cli.context import use_stack_api

    use_stack_api()
    try:
        a = reject(action_id, approver=approver, notes=notes, expected_hash=expect_hash)
    except ApprovalError as exc:
        refuse(exc)
    typer.echo(f"rejected {_line(a)}")


@app.command("reopen")
def reopen_cmd(
    action_id: int,
    notes: Annotated[str | None, typer.Option(help="Why (kept on the new draft).")] = None,
    approver: ApproverOption = None,
) -> None:
    """Quote again an expired or rejected quote gate: same request, same quote id."""
    from quoteflow.approvals import ApprovalError, reopen
    from quoteflow.cli.context import use_stack_api

    use_stack_api()
    try:
        draft = reopen(action_id, approver=approver, notes=notes)
    except ApprovalError as exc:
        refuse(exc)
    typer.echo(f"re-opened as draft {_line(draft)}; its quote comes back for approval")
