"""What every fault case asserts after recovery, as a user would check it."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, select

from quoteflow.db import get_engine
from quoteflow.models import (
    ActionType,
    Event,
    OutboundEmailLog,
    ProposedAction,
    Quote,
    QuoteLine,
    WorkflowRunLog,
    WorkflowVerifyResult,
)
from tests.faults.conftest import netsuite


def session() -> Session:
    return Session(get_engine())


def quotes_of_runs(run_ids: list[str]) -> list[Quote]:
    with session() as s:
        return list(s.exec(select(Quote).where(Quote.flow_run_id.in_(run_ids))).all())


def run_log(run_id: str) -> WorkflowRunLog | None:
    with session() as s:
        return s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id)).first()


def writes_of_run(run_id: str) -> dict[str, int]:
    """Rows a run wrote besides its run log (a refused run must have none)."""
    with session() as s:

        def count(model, col) -> int:
            return s.exec(select(sa.func.count()).select_from(model).where(col == run_id)).one()

        return {
            "quotes": count(Quote, Quote.flow_run_id),
            "gates": count(ProposedAction, ProposedAction.flow_run_id),
            "events": count(Event, Event.run_id),
            "verify": count(WorkflowVerifyResult, WorkflowVerifyResult.run_id),
        }


def assert_one_clean_quote(stack, run_id: str, *, status: str = "completed") -> Quote:
    """One quote row; one estimate with the right lines; at most one email draft and one
    email; one ledger event per key; run log and verify checks present."""
    with session() as s:
        (quote,) = s.exec(select(Quote).where(Quote.flow_run_id == run_id)).all()
        lines = s.exec(
            select(QuoteLine).where(QuoteLine.quote_id == quote.id).order_by(QuoteLine.line_no)
        ).all()
        drafts = s.exec(
            select(ProposedAction).where(
                ProposedAction.action_type == ActionType.send_quote,
                ProposedAction.entity_ref == f"quote:{quote.id}",
            )
        ).all()
        emails = s.exec(
            select(OutboundEmailLog).where(OutboundEmailLog.related_quote_id == quote.id)
        ).all()
        keys = Counter(s.exec(select(Event.idempotency_key).where(Event.run_id == run_id)).all())
        checks = {
            v.check_name
            for v in s.exec(
                select(WorkflowVerifyResult).where(WorkflowVerifyResult.run_id == run_id)
            ).all()
        }
        log = s.exec(select(WorkflowRunLog).where(WorkflowRunLog.run_id == run_id)).one()
    estimates = [
        e["record"]
        for e in netsuite(stack, "estimates")["estimates"]
        if e["external_id"] == quote.id
    ]
    assert len(estimates) == 1, estimates
    sent = [(i["item"]["id"], Decimal(str(i["rate"]))) for i in estimates[0]["lines"]]
    assert sent == [(line.netsuite_item_id, line.case_price) for line in lines]
    assert len(drafts) <= 1 and len(emails) <= 1
    assert all(n == 1 for n in keys.values()), keys
    assert log.status == status, log.summary_json
    assert {"quote_persisted", "email_sent"} <= checks
    return quote
