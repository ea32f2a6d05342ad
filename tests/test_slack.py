"""Mike quotes and decides from Slack, through the real approval page process (its Slack app
at /slack/events), a real worker and the stack's fake Slack.

Two customer-quote runs for the whole module: one drafted with /quote, re-priced in the
modal and approved (then pressed again); one refused while its payload had changed, refused
to a non-approver, then rejected."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from devstack.fake_slack import MIKE_USER, STRANGER_USER, FakeSlack, blocks_text, buttons
from devstack.stack.state import load_slack_credentials
from quoteflow.approvals import (
    find_action,
    gate_entity_ref,
)
from quoteflow.db import get_engine, session_scope
from quoteflow.models import ActionType, ProposedAction, Quote, QuoteLine
from quoteflow.prefect_api import flow_runs_of, read_flow_run, wait_for_flow_run
from quoteflow.quote import QuotePreview
from quoteflow.slack import render
from tests.fixtures.page import free_port

CUSTOMER_TEXT = "cedar ridge chicken, 1% milk, apples for 26-27"


@pytest.fixture(scope="module")
def slack_page(stack, seeded_db, tmp_path_factory) -> Iterator[str]:
    """`quoteflow page serve` as its own process, on the session database and stack, with
    the fake Slack's Mike mapped to the approver mike."""
    from devstack.stack.services import quoteflow_command

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("slack-page") / "page.log"
    env = {
        **os.environ,
        "PREFECT_API_URL": stack.prefect.api_url,
        "QUOTEFLOW_DATABASE_URL": seeded_db,
        "QUOTEFLOW_SLACK_APPROVERS": json.dumps({MIKE_USER: "mike"}),
        "QUOTEFLOW_PUBLIC_BASE_URL": url,
    }
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [*quoteflow_command(), "page", "serve", "--port", str(port)],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the page did not start"
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def slack(stack, slack_page) -> FakeSlack:
    creds = load_slack_credentials(stack.state_dir)
    return FakeSlack(
        stack.slack.url, f"{slack_page}/slack/events", creds.signing_secret.get_secret_value()
    )


@pytest.fixture(scope="module")
def hot_worker(stack, seeded_db, tmp_path_factory) -> Iterator[Any]:
    """Deployments and a process worker; gates wait hot (decisions act within a second)."""
    from deployments.deploy import deploy_all, work_pool_name
    from deployments.worker import start_worker, stop_worker

    deploy_all()
    state_dir = tmp_path_factory.mktemp("slack-worker")
    yield start_worker(work_pool_name(), api_url=stack.prefect.api_url, state_dir=state_dir)
    stop_worker(state_dir)


def _drafts() -> int:
    with session_scope() as s:
        return s.execute(
            sa.select(sa.func.count())
            .select_from(ProposedAction)
            .where(ProposedAction.action_type == ActionType.quote_draft)
        ).scalar_one()


def _responses(slack: FakeSlack, response_url: str, timeout: float = 30) -> dict[str, Any]:
    rid = response_url.rsplit("/", 1)[-1]
    return slack.wait_for(
        lambda c: c["method"] == "response_url" and c["args"]["id"] == rid,
        timeout=timeout,
        what=f"answer to {rid}",
    )["args"]


def _draft_through_slack(slack: FakeSlack, text: str) -> None:
    """/quote text -> preview -> Create quote (pressed twice: one draft)."""
    answer, response_url = slack.slash(text)
    assert answer.status_code == 200
    preview = _responses(slack, response_url)
    shown = blocks_text(preview["blocks"])
    assert "Cedar Ridge Unified School District" in shown and "2026-27" in shown
    for code in ("FS-1001", "FS-1005", "FS-1007"):
        assert code in shown
    assert "$" in shown  # this customer's prices
    create = buttons(preview["blocks"])[render.DRAFT_CREATE]
    before = _drafts()
    answer, response_url = slack.press(render.DRAFT_CREATE, create)
    assert answer.status_code == 200
    created = blocks_text(_responses(slack, response_url)["blocks"])
    assert "Quote draft #" in created and "created" in created
    # A second press of the same Create quote stages nothing more.
    answer, response_url = slack.press(render.DRAFT_CREATE, create)
    _responses(slack, response_url)
    assert _drafts() == before + 1


def _waiting_runs(since: datetime, count: int) -> list[str]:
    """The ids of ``count`` customer-quote runs created since ``since`` once all wait at
    their gates, oldest first."""
    deadline = time.monotonic() + 240
    while True:
        runs = flow_runs_of("customer-quote/customer-quote", since=since)
        paused = [r for r in runs if r.state is not None and r.state.is_paused()]
        if len(paused) >= count:
            return [str(r.id) for r in sorted(paused, key=lambda r: r.created)][:count]
        assert time.monotonic() < deadline, f"{len(paused)} of {count} runs at their gates"
        time.sleep(1)


@pytest.fixture(scope="module")
def gates(slack, hot_worker) -> dict[str, Any]:
    """Two quotes drafted from Slack, each waiting at its gate with its Slack message."""
    mark = slack.mark()  # the fake Slack lives on with the stack: only this module's calls
    since = datetime.now(UTC) - timedelta(seconds=5)
    _draft_through_slack(slack, CUSTOMER_TEXT)
    _draft_through_slack(slack, CUSTOMER_TEXT)
    runs = _waiting_runs(since, 2)
    found = {}
    for name, run_id in zip(("approve", "reject"), runs, strict=True):
        deadline = time.monotonic() + 60
        while (gate := find_action(ActionType.quote_gate, gate_entity_ref(run_id))) is None:
            assert time.monotonic() < deadline, "no gate staged"
            time.sleep(0.5)
        posted = slack.wait_for(
            lambda c, g=gate: (
                c["method"] == "chat.postMessage"
                and buttons(c["args"].get("blocks", []))
                .get(render.GATE_APPROVE, "")
                .startswith(f'{{"a":{g.id},')
            ),
            since=mark,
            timeout=60,
            what=f"gate #{gate.id}'s message",
        )
        found[name] = {"run_id": run_id, "gate": gate, "message": posted}
    return found


def _message_now(slack: FakeSlack, message: dict[str, Any]) -> list[dict[str, Any]]:
    """The message's blocks as last updated."""
    updates = [
        c
        for c in slack.calls("chat.update")
        if c["args"]["ts"] == message["ts"] and c["args"]["channel"] == message["args"]["channel"]
    ]
    return (updates[-1]["args"] if updates else message["args"])["blocks"]


def test_quote_in_words_reprice_and_approve(slack, gates):
    g = gates["approve"]
    gate, message = g["gate"], g["message"]
    preview = QuotePreview.model_validate(gate.payload["preview"])
    shown = blocks_text(message["args"]["blocks"])
    # The message: customer, lines with prices and margins, the deadline in Mike's zone.
    assert preview.customer_name in shown and "margin" in shown
    assert "Decide by" in shown and ("CST" in shown or "CDT" in shown)
    value = buttons(message["args"]["blocks"])[render.GATE_PRICES]

    mark = slack.mark()
    answer, _ = slack.press(render.GATE_PRICES, value, message_ts=message["ts"])
    assert answer.status_code == 200
    opened = slack.wait_for(lambda c: c["method"] == "views.open", since=mark)
    modal = opened["args"]["view"]
    target = preview.quotable_lines[0]
    field = f"{render.PRICE_BLOCK_PREFIX}{target.item_code}"
    # The price rule of the decision contract: a bad price is refused, naming the rule.
    bad = slack.submit_view(modal, {field: "12,50"})
    assert bad.json()["response_action"] == "errors"
    assert "decimal comma" in bad.json()["errors"][field]
    assert find_action(ActionType.quote_gate, gate.entity_ref).status == "pending"
    # A good price goes to the review step (the page's), which approves on submit.
    review = slack.submit_view(modal, {field: "99.99"})
    assert review.json()["response_action"] == "update"
    review_view = review.json()["view"]
    assert "99.99" in blocks_text(review_view["blocks"])
    mark = slack.mark()
    assert slack.submit_view(review_view, {}).status_code == 200

    run = wait_for_flow_run(
        lambda: read_flow_run(g["run_id"]),
        lambda r: r.state is not None and r.state.is_final(),
        timeout=180,
        what="customer-quote to finish",
    )
    assert run.state.is_completed(), run.state.message
    decided = find_action(ActionType.quote_gate, gate.entity_ref)
    assert decided.status == "approved" and decided.approver == "mike"
    with Session(get_engine()) as s:
        quote = s.exec(select(Quote).where(Quote.flow_run_id == g["run_id"])).one()
        line = s.exec(
            select(QuoteLine).where(
                QuoteLine.quote_id == quote.id, QuoteLine.item_code == target.item_code
            )
        ).one()
    assert str(line.case_price) == "99.99"

    # The message follows the outcome: who decided, the quote row, the PDF link, the estimate.
    def followed(c: dict[str, Any]) -> bool:
        text = blocks_text(c["args"].get("blocks", []))
        return (
            c["method"] == "chat.update"
            and c["args"]["ts"] == message["ts"]
            and quote.id in text
            and "estimate id" in text
            and f"/actions/{decided.id}/pdf" in text
        )

    updated = blocks_text(slack.wait_for(followed, since=mark, timeout=60)["args"]["blocks"])
    assert "Approved by mike at" in updated
    assert "→ $99.99" in updated
    assert f"/actions/{decided.id}/pdf" in updated

    # A second press decides nothing and says who decided when.
    approve = buttons(message["args"]["blocks"])[render.GATE_APPROVE]
    answer, response_url = slack.press(render.GATE_APPROVE, approve, message_ts=message["ts"])
    said = _responses(slack, response_url)
    assert said["text"].startswith("Already approved by mike at")
    assert said["response_type"] == "ephemeral"
    with Session(get_engine()) as s:
        assert len(s.exec(select(Quote).where(Quote.flow_run_id == g["run_id"])).all()) == 1

    # The email draft waits in Slack the same way, with its own buttons.
    email = slack.wait_for(
        lambda c: (
            c["method"] == "chat.postMessage"
            and f"Email for quote {quote.id}" in blocks_text(c["args"].get("blocks", []))
        ),
        timeout=60,
        what="the email draft's message",
    )
    assert set(buttons(email["args"]["blocks"])) == {render.GATE_APPROVE, render.GATE_REJECT}


def test_changed_payload_stranger_then_reject(slack, gates):
    g = gates["reject"]
    gate, message = g["gate"], g["message"]
    value = buttons(message["args"]["blocks"])[render.GATE_APPROVE]

    # Someone not mapped to an approver: told so, nothing changes.
    answer, response_url = slack.press(render.GATE_APPROVE, value, user=STRANGER_USER)
    said = _responses(slack, response_url)
    assert "not allowed" in said["text"] and said["response_type"] == "ephemeral"
    assert find_action(ActionType.quote_gate, gate.entity_ref).status == "pending"

    # The payload changes after the message was sent: the button is refused, the message says so.
    original = dict(gate.payload)
    changed = json.loads(json.dumps(original))
    changed["preview"]["lines"][0]["case_price"] = "1.00"
    with session_scope() as s:
        s.execute(
            sa.update(ProposedAction).where(ProposedAction.id == gate.id).values(payload=changed)
        )
    try:
        mark = slack.mark()
        answer, response_url = slack.press(render.GATE_APPROVE, value, message_ts=message["ts"])
        said = _responses(slack, response_url)
        assert "Nothing was decided" in said["text"] and "no longer matches" in said["text"]
        slack.wait_for(
            lambda c: (
                c["method"] == "chat.update"
                and "changed after this message was sent" in blocks_text(c["args"]["blocks"])
            ),
            since=mark,
        )
        assert find_action(ActionType.quote_gate, gate.entity_ref).status == "pending"
    finally:
        with session_scope() as s:
            s.execute(
                sa.update(ProposedAction)
                .where(ProposedAction.id == gate.id)
                .values(payload=original)
            )

    # Restored: Reject pressed twice at once decides once; the other press is told who won.
    mark = slack.mark()
    reject = buttons(message["args"]["blocks"])[render.GATE_REJECT]
    with ThreadPoolExecutor(2) as pool:
        presses = list(
            pool.map(
                lambda _: slack.press(render.GATE_REJECT, reject, message_ts=message["ts"]),
                range(2),
            )
        )
    assert [answer.status_code for answer, _ in presses] == [200, 200]
    update = slack.wait_for(
        lambda c: (
            c["method"] == "chat.update"
            and "Rejected by mike at" in blocks_text(c["args"]["blocks"])
        ),
        since=mark,
    )
    told = []
    for _, response_url in presses:
        with contextlib.suppress(TimeoutError):
            told.append(_responses(slack, response_url, timeout=5)["text"])
    assert len(told) == 1 and told[0].startswith("Already rejected by mike at"), told
    assert not buttons(update["args"]["blocks"])
    run = wait_for_flow_run(
        lambda: read_flow_run(g["run_id"]),
        lambda r: r.state is not None and r.state.is_final(),
        timeout=120,
        what="the rejected run to end",
    )
    assert run.state.is_final()
    with Session(get_engine()) as s:
        assert s.exec(select(Quote).where(Quote.flow_run_id == g["run_id"])).first() is None
    assert find_action(ActionType.quote_gate, gate.entity_ref).status == "rejected"


def test_unsigned_stale_replayed_and_strangers_are_refused(slack, seeded_db):
    before = _drafts()
    body, response_url = slack.slash_body(CUSTOMER_TEXT)
    # Unsigned, signed with another secret, or older than Slack's 5 minutes: 401.
    assert (
        slack.post(body, {"Content-Type": "application/x-www-form-urlencoded"}).status_code == 401
    )
    assert slack.post(body, slack.sign(body, secret="0" * 32)).status_code == 401
    stale = slack.sign(body, timestamp=int(time.time()) - 6 * 60)
    assert slack.post(body, stale).status_code == 401
    # Properly signed once: answered; the same signed request again: a replay, 401.
    headers = slack.sign(body)
    assert slack.post(body, headers).status_code == 200
    assert slack.post(body, headers).status_code == 401
    _responses(slack, response_url)
    # A Slack user who is not a configured approver may not draft.
    answer, response_url = slack.slash(CUSTOMER_TEXT, user=STRANGER_USER)
    assert answer.status_code == 200
    said = _responses(slack, response_url)
    assert "not allowed" in said["text"] and said["response_type"] == "ephemeral"
    assert _drafts() == before  # previews stage nothing


def test_the_same_text_in_a_direct_message(slack, seeded_db):
    before, mark = _drafts(), slack.mark()
    assert slack.direct_message("quote " + CUSTOMER_TEXT).status_code == 200
    answer = slack.wait_for(
        lambda c: c["method"] == "chat.postMessage" and c["args"].get("blocks"),
        since=mark,
        what="the app's answer in the direct message",
    )
    shown = blocks_text(answer["args"]["blocks"])
    assert "Cedar Ridge Unified School District" in shown and "FS-1007" in shown
    assert render.DRAFT_CREATE in buttons(answer["args"]["blocks"])
    assert slack.direct_message(CUSTOMER_TEXT, user=STRANGER_USER).status_code == 200
    refused = slack.wait_for(
        lambda c: c["method"] == "chat.postMessage" and "not allowed" in c["args"].get("text", ""),
        since=mark,
    )
    assert refused["args"]["channel"]
    assert _drafts() == before


def test_decisions_taken_elsewhere_and_expiry_reach_the_message(slack, seeded_db):
    """The reconcile sweep brings each message up to date, whatever channel decided (here
    the approval service itself) or when the gate expired; each version is sent once."""
    from quoteflow.approvals import decide, expire
    from quoteflow.slack import service
    from tasks.notify import refresh_slack_messages
    from tests.fixtures.page import staged_gate

    rejected, expired = staged_gate(), staged_gate()
    mark = slack.mark()
    assert service.post_waiting(rejected.id) and service.post_waiting(expired.id)
    assert not service.post_waiting(rejected.id)  # once per action
    posted = slack.calls("chat.postMessage", since=mark)
    assert len(posted) == 2
    decide(rejected.id, "reject", approver="mike", notes="from the page")
    expire(expired.id)

    assert set(refresh_slack_messages.fn()) >= {rejected.id, expired.id}
    assert not {rejected.id, expired.id} & set(refresh_slack_messages.fn())  # sent once
    shown = {
        c["args"]["ts"]: blocks_text(c["args"]["blocks"])
        for c in slack.calls("chat.update", since=mark)
    }
    by_action = {p["args"]["blocks"][-1]["elements"][0]["text"]: p["ts"] for p in posted}
    texts = {
        action.id: shown[next(ts for label, ts in by_action.items() if f"#{action.id} " in label)]
        for action in (rejected, expired)
    }
    assert "Rejected by mike at" in texts[rejected.id] and "from the page" in texts[rejected.id]
    assert "Expired at" in texts[expired.id] and "nothing was sent" in texts[expired.id]
    ours = {p["ts"] for p in posted}
    assert len([c for c in slack.calls("chat.update", since=mark) if c["args"]["ts"] in ours]) == 2
