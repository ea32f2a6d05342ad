"""Section 1: one approved quote draft -> exactly one customer-quote run. Duplicate
events (same id, new id), events for pending or rejected drafts and runs started by hand
for a claimed draft end at once, recorded, writing nothing else."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from flows.customer_quote import customer_quote
from quoteflow.approvals import decide, draft_quote
from quoteflow.claims import ClaimError, claim_action
from quoteflow.models import ProposedAction
from quoteflow.quote import QuoteRequest
from tests.faults.invariants import (
    assert_one_clean_quote,
    quotes_of_runs,
    run_log,
    session,
    writes_of_run,
)
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR
from tests.fixtures.flow_runner import FlowRunHandle

pytestmark = pytest.mark.usefixtures("fault_env")


def new_draft():
    return draft_quote(
        QuoteRequest(
            customer_id=DEMO_CUSTOMER_ID,
            item_codes=list(DEMO_ITEM_CODES),
            school_year=DEMO_SCHOOL_YEAR,
        )
    )


def assert_refused(state, name: str, reason: str) -> str:
    """The run ended at once: Completed with ``name``, its run log says why, nothing else."""
    assert state.is_completed() and state.name == name, state
    assert reason in state.message
    run_id = str(state.state_details.flow_run_id)
    log = run_log(run_id)
    assert log is not None and log.status == name.lower().replace("notapproved", "not_approved")
    assert reason in log.summary_json["reason"]
    assert writes_of_run(run_id) == {"quotes": 0, "gates": 0, "events": 0, "verify": 0}
    return run_id


def test_runs_for_pending_or_rejected_drafts_do_nothing():
    draft = new_draft()
    state = customer_quote(proposed_action_id=draft.id, return_state=True)
    assert_refused(state, "NotApproved", "is pending, not approved")

    decide(draft.id, "reject", notes="no")
    state = customer_quote(proposed_action_id=draft.id, return_state=True)
    assert_refused(state, "NotApproved", "is rejected, not approved")
    with session() as s:
        assert s.get(ProposedAction, draft.id).claimed_by_run_id is None


def test_missing_draft_fails_naming_the_field():
    state = customer_quote(proposed_action_id=10**9, return_state=True)
    assert state.is_failed() and f"proposed_action_id={10**9}" in state.message


def test_approved_draft_runs_once_and_every_replay_is_a_duplicate(stack):
    draft = new_draft()
    decide(draft.id, "approve")
    handle = FlowRunHandle(customer_quote, proposed_action_id=draft.id)
    run = handle.wait_paused()
    run_id = str(run.id)
    with session() as s:
        row = s.get(ProposedAction, draft.id)
        assert row.claimed_by_run_id == run_id and row.claimed_at is not None

    # The same event again (same id, Prefect collapses it) or with a new id, or a run
    # started by hand: each is a new run that finds the draft claimed.
    dup = customer_quote(proposed_action_id=draft.id, return_state=True)
    dup_id = assert_refused(dup, "Duplicate", f"already claimed by run {run_id}")

    handle.resume(decision="approve", notes="fault matrix")
    state = handle.join()
    assert state.is_completed(), state.message
    assert_one_clean_quote(stack, run_id)
    assert len(quotes_of_runs([run_id, dup_id])) == 1

    again = customer_quote(proposed_action_id=draft.id, return_state=True)
    assert_refused(again, "Duplicate", f"already claimed by run {run_id}")


def test_racing_claims_have_one_winner():
    draft = new_draft()
    decide(draft.id, "approve")
    runs = [str(uuid.uuid4()) for _ in range(6)]
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(len(runs))

    def claim(run_id: str) -> None:
        barrier.wait()
        outcomes[run_id] = claim_action(draft.id, run_id, action_type="quote_draft").outcome

    threads = [threading.Thread(target=claim, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes.values()) == ["claimed"] + ["duplicate"] * 5
    (winner,) = [r for r, o in outcomes.items() if o == "claimed"]
    assert claim_action(draft.id, winner, action_type="quote_draft").outcome == "mine"
    with pytest.raises(ClaimError, match="expected send_quote_to_customer"):
        claim_action(draft.id, winner, action_type="send_quote_to_customer")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_drafts_approved_before_claims_are_not_started_again(backend, fresh_database_url):
    """Upgrading marks already-approved drafts claimed: the reconciler must not start
    every historical approval again."""
    from quoteflow import migrate
    from quoteflow.approvals import stage_action
    from quoteflow.claims import unclaimed_approved
    from quoteflow.models import utcnow

    url = fresh_database_url(backend)
    migrate.upgrade(url, "0001")
    engine = sa.create_engine(migrate.database_url(url))
    with engine.begin() as conn:
        for ref, status in (("old-approved", "approved"), ("old-pending", "pending")):
            conn.execute(
                sa.text(
                    "INSERT INTO proposed_actions (action_type, entity_ref, status, payload, "
                    "payload_hash, approver, decided_at, created_at) VALUES ('quote_draft', "
                    ":ref, :status, '{}', 'h', 'mike', :now, :now)"
                ),
                {"ref": ref, "status": status, "now": utcnow().replace(tzinfo=None)},
            )
    engine.dispose()
    migrate.upgrade(url)

    fresh = stage_action(action_type="quote_draft", entity_ref="new", payload={}, url=url)
    decide(fresh.id, "approve", url=url)
    now = utcnow()
    window = {"decided_before": now, "decided_after": now - timedelta(days=1)}
    assert [a.id for a in unclaimed_approved(["quote_draft"], url=url, **window)] == [fresh.id]
