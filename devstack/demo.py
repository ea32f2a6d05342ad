"""The demo: Mike's day, end to end, through the real deployments on the local stack.

stack up -> migrate + seed -> blocks -> deploy -> worker -> Mike drafts a quote in Slack
(/quote in words, Create quote: the approved draft's event starts customer-quote) -> the
run waits at its gate -> Mike changes one price in Slack and approves -> fan-out -> approve the email (an event starts send-quote-email) -> verify
sweep -> summary.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from pydantic import BaseModel

from quoteflow.quote import money
from quoteflow.settings import get_settings

Say = Callable[[str], None]


class DemoSummary(BaseModel):
    quote_id: str
    customer: str
    school_year: str
    lines: list[dict[str, str]]
    subtotal: str
    price_override: dict[str, str]
    pdf_key: str | None
    pdf_local_copy: str | None
    netsuite_estimate_id: str | None
    email_message_id: str | None
    email_to: str | None
    verify: dict[str, str]
    runs: dict[str, str]
    prefect_ui: str
    seconds: float


def _step(say: Say, n: int, text: str) -> None:
    say(f"[{n:>2}] {text}")


def run_demo(say: Say = print) -> DemoSummary:
    """Run the whole day; raises with a clear message if any stage does not happen."""
    started = time.monotonic()
    from devstack.stack import Stack

    settings = get_settings()
    _step(say, 1, "Starting the local stack (Prefect server, S3, NetSuite, SMTP)...")
    state = Stack().up()
    assert state.prefect is not None
    from quoteflow.prefect_api import pointed_at

    with pointed_at(state.prefect.api_url):
        return _day(say, state, settings, started)


def sync_mirror_from_stack(state) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """A full mirror pass from the stack's fake NetSuite (seeded with the demo dataset),
    signed with the stack's dev credentials; rows per table. Raises if a table failed."""
    from devstack.stack.state import load_netsuite_credentials
    from quoteflow.mirror.config import load_config
    from quoteflow.mirror.service import sync_all
    from quoteflow.netsuite import NetSuiteClient

    creds = load_netsuite_credentials(state.state_dir)
    with NetSuiteClient(
        base_url=state.netsuite.base_url,
        account_id=creds.account_id,
        consumer_key=creds.consumer_key.get_secret_value(),
        consumer_secret=creds.consumer_secret.get_secret_value(),
        token_id=creds.token_id.get_secret_value(),
        token_secret=creds.token_secret.get_secret_value(),
    ) as client:
        results = sync_all(client, load_config(), full=True)
    failed = [f"{r.table}: {r.error}" for r in results if r.error]
    if failed:
        raise RuntimeError("mirror sync from the fake NetSuite failed: " + "; ".join(failed))
    return {r.table: r.row_count for r in results}


def _day(say: Say, state, settings, started: float) -> DemoSummary:  # type: ignore[no-untyped-def]
    from deployments.deploy import deploy_all, deployment_specs, work_pool_name
    from deployments.worker import start_worker
    from devstack.fake_slack import blocks_text, buttons
    from devstack.stack.blocks import register_stack_blocks
    from quoteflow.approvals import find_action, gate_entity_ref
    from quoteflow.db import session_scope
    from quoteflow.migrate import upgrade
    from quoteflow.models import (
        ActionType,
        OutboundEmailLog,
        Quote,
        QuoteLine,
        WorkflowVerifyResult,
    )
    from quoteflow.prefect_api import flow_runs_of, read_flow_run, wait_for_flow_run
    from quoteflow.quote import QuotePreview

    ui = state.prefect.ui_url
    _step(say, 2, f"Migrating {settings.resolved_database_url}; syncing it from the fake NetSuite")
    upgrade()
    synced = sync_mirror_from_stack(state)
    say(f"     {synced}")
    _step(say, 3, "Registering blocks (credentials live there, not in code)")
    register_stack_blocks(state)
    names = ", ".join(d["name"] for d in deployment_specs())
    _step(say, 4, f"Deploying prefect.yaml ({names})")
    deploy_all()
    links = {"QUOTEFLOW_PUBLIC_BASE_URL": state.page.url} if state.page else {}
    worker = start_worker(
        work_pool_name(),
        api_url=state.prefect.api_url,
        extra_env={k: v for k, v in links.items() if k not in os.environ},
    )
    say(f"     worker pid {worker.pid}, log {worker.log_file}")

    t0 = datetime.now(UTC) - timedelta(seconds=5)
    slack = _fake_slack(state)
    _step(say, 5, f"Mike types in Slack: /quote {SLACK_TEXT}")
    preview_answer = slack.answer_to(slack.slash(SLACK_TEXT)[1])
    for line in blocks_text(preview_answer["blocks"]).splitlines():
        say(f"     | {line}")
    create = buttons(preview_answer["blocks"])["draft_create"]
    created = slack.answer_to(slack.press("draft_create", create)[1])
    _step(say, 6, f"Mike presses Create quote: {blocks_text(created['blocks'])}")

    def quote_run():  # type: ignore[no-untyped-def]
        runs = flow_runs_of("customer-quote/customer-quote", since=t0)
        return runs[0] if runs else None

    run = wait_for_flow_run(
        quote_run,
        lambda r: r.state is not None and r.state.is_paused(),
        timeout=180,
        what="the customer-quote run to suspend at Mike's approval gate",
    )
    run_id = str(run.id)
    gate = find_action(ActionType.quote_gate, gate_entity_ref(run_id))
    assert gate is not None, "the run suspended without staging its proposed action"
    preview = QuotePreview.model_validate(gate.payload["preview"])
    waiting = (
        "no process held while Mike decides"
        if run.state.name == "Suspended"
        else "its process waits hot for Mike's answer, then suspends"
    )
    say(f"     run {run.name} is {run.state.name}: {waiting}")
    for w in preview.warnings:
        say(f"     warning {w.check}: {w.message} {w.item_codes}")

    # Mike lifts the line under the margin floor to a 20% margin, from Slack.
    low = next(
        (line for line in preview.quotable_lines if "below_margin_floor" in line.flags),
        preview.quotable_lines[0],
    )
    cost = low.cost_basis or low.case_price or Decimal("1")
    new_price = money(Decimal(cost) / Decimal("0.80"))
    message = slack.wait_for(
        lambda c: (
            c["method"] == "chat.postMessage"
            and preview.quote_id in blocks_text(c["args"].get("blocks", []))
        ),
        timeout=60,
        what="the quote's message in Slack",
    )
    _step(
        say,
        7,
        f"Slack shows quote {preview.quote_id}; Mike presses Change prices, sets "
        f"{low.item_code} to {new_price} (was {low.case_price}) and confirms the review",
    )
    mark = slack.mark()
    slack.press(
        "gate_prices", buttons(message["args"]["blocks"])["gate_prices"], message_ts=message["ts"]
    )
    modal = slack.wait_for(lambda c: c["method"] == "views.open", since=mark)["args"]["view"]
    review = slack.submit_view(modal, {f"price.{low.item_code}": str(new_price)}).json()
    slack.submit_view(review["view"], {})
    run = wait_for_flow_run(
        lambda: read_flow_run(run_id),
        lambda r: r.state is not None and r.state.is_final(),
        timeout=240,
        what="the customer-quote run to finish its fan-out",
    )
    if not run.state.is_completed():
        raise RuntimeError(f"customer-quote ended {run.state.name}: {run.state.message}")
    say(f"     fan-out done: {run.state.name}")

    email = find_action(ActionType.send_quote, f"quote:{preview.quote_id}")
    assert email is not None, "no email draft was staged"
    _step(
        say,
        8,
        f"Mike approves the email draft #{email.id} to {email.payload['to']} in Slack; the event starts send-quote-email...",
    )
    t1 = datetime.now(UTC) - timedelta(seconds=5)
    email_message = slack.wait_for(
        lambda c: (
            c["method"] == "chat.postMessage"
            and f"Email for quote {preview.quote_id}" in blocks_text(c["args"].get("blocks", []))
        ),
        timeout=60,
        what="the email draft's message in Slack",
    )
    slack.press(
        "gate_approve",
        buttons(email_message["args"]["blocks"])["gate_approve"],
        message_ts=email_message["ts"],
    )
    send_run = wait_for_flow_run(
        lambda: next(iter(flow_runs_of("send-quote-email/send-quote-email", since=t1)), None),
        lambda r: r.state is not None and r.state.is_final(),
        timeout=180,
        what="the send-quote-email run",
    )
    if not send_run.state.is_completed():
        raise RuntimeError(
            f"send-quote-email ended {send_run.state.name}: {send_run.state.message}"
        )

    with session_scope() as s:
        due = s.execute(
            sa.select(sa.func.max(WorkflowVerifyResult.due_at)).where(
                WorkflowVerifyResult.run_id == run_id
            )
        ).scalar_one()
    wait = max(0.0, (due - datetime.now(UTC)).total_seconds()) if due else 0.0
    _step(
        say,
        9,
        f"Running the verify sweep (verify-checks deployment){f' once its checks are due in {wait:.0f} s' if wait else ''}...",
    )
    time.sleep(wait + 1)
    from prefect.deployments import run_deployment

    verify_run = run_deployment("verify-checks/verify-checks", timeout=180)
    if not verify_run.state or not verify_run.state.is_completed():
        raise RuntimeError(
            f"verify-checks ended {verify_run.state.name if verify_run.state else '?'}"
        )

    with session_scope() as s:
        quote = s.get(Quote, preview.quote_id)
        assert quote is not None
        lines = (
            s.execute(
                sa.select(QuoteLine)
                .where(QuoteLine.quote_id == quote.id)
                .order_by(QuoteLine.line_no)
            )
            .scalars()
            .all()
        )
        sent = (
            s.execute(
                sa.select(OutboundEmailLog).where(OutboundEmailLog.related_quote_id == quote.id)
            )
            .scalars()
            .first()
        )
        checks = (
            s.execute(sa.select(WorkflowVerifyResult).where(WorkflowVerifyResult.run_id == run_id))
            .scalars()
            .all()
        )
        line_rows = [
            {
                "item": line.item_code,
                "description": line.description,
                "case_price": str(line.case_price),
                "source": line.price_source,
            }
            for line in lines
        ]
        verify = {c.check_name: c.status for c in checks}
        subtotal, pdf_key, ns_id = str(quote.subtotal), quote.pdf_key, quote.netsuite_id
    local_pdf = _download_pdf(pdf_key, settings.state_dir / "demo") if pdf_key else None
    return DemoSummary(
        quote_id=preview.quote_id,
        customer=f"{preview.customer_name} ({preview.customer_id})",
        school_year=preview.school_year,
        lines=line_rows,
        subtotal=subtotal,
        price_override={"item": low.item_code, "from": str(low.case_price), "to": str(new_price)},
        pdf_key=pdf_key,
        pdf_local_copy=str(local_pdf) if local_pdf else None,
        netsuite_estimate_id=ns_id,
        email_message_id=sent.message_id if sent else None,
        email_to=sent.to_addr if sent else None,
        verify=verify,
        runs={
            "customer-quote": f"{ui}/runs/flow-run/{run_id}",
            "send-quote-email": f"{ui}/runs/flow-run/{send_run.id}",
            "verify-checks": f"{ui}/runs/flow-run/{verify_run.id}",
        },
        prefect_ui=ui,
        seconds=round(time.monotonic() - started, 1),
    )


SLACK_TEXT = "cedar ridge chicken, beef patty, pizza, 1% milk, apples, black beans for 26-27"


def _fake_slack(state):  # type: ignore[no-untyped-def]
    """Slack as Mike uses it: the stack's fake Slack, talking to the page's Slack app."""
    from devstack.fake_slack import FakeSlack
    from devstack.stack.state import load_slack_credentials

    assert state.slack is not None and state.page is not None
    secret = load_slack_credentials(state.state_dir).signing_secret.get_secret_value()
    return FakeSlack(state.slack.url, f"{state.page.url}/slack/events", secret)


def _download_pdf(key: str, directory: Path) -> Path:
    from prefect_aws import S3Bucket

    data = S3Bucket.load(get_settings().s3_bucket_block).read_path(key)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / key.rsplit("/", 1)[-1]
    path.write_bytes(data)
    return path


def render_summary(s: DemoSummary) -> str:
    """The summary for people."""
    out = [
        "",
        f"Quote {s.quote_id} for {s.customer}, school year {s.school_year}",
    ]
    for line in s.lines:
        mark = " (override)" if line["source"] == "override" else ""
        out.append(f"  {line['item']:<9} {line['case_price']:>9}  {line['description']}{mark}")
    out += [
        f"  subtotal {s.subtotal}",
        f"Price override   {s.price_override['item']}: {s.price_override['from']} -> {s.price_override['to']}",
        f"PDF              {s.pdf_key}  (local copy: {s.pdf_local_copy})",
        f"NetSuite         estimate id {s.netsuite_estimate_id}",
        f"Email            {s.email_message_id} to {s.email_to}",
        "Verify           " + ", ".join(f"{k}={v}" for k, v in s.verify.items()),
        "Prefect UI runs:",
        *[f"  {name:<17} {url}" for name, url in s.runs.items()],
        f"Done in {s.seconds} s. The stack keeps running: explore {s.prefect_ui}",
        "Stop it (and the worker) with: uv run quoteflow stack down",
    ]
    return "\n".join(out)
