"""SQLModel tables: the NetSuite mirror (customers, items, pricing) and the platform
state the customer_quote workflow writes (quotes, proposed actions, logs, outbox).

Money is ``Numeric(12, 2)`` (exact decimals), timestamps are timezone-aware UTC on
every backend (see ``UTCDateTime``). Tables are never passed to flows or tasks: pass
ids or the plain pydantic models in ``quoteflow.quote``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from quoteflow.settings import default_approver


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on SQLite (which keeps no offset) and PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; quoteflow stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


def _money(**kw: Any) -> Any:
    return Field(sa_type=sa.Numeric(12, 2), **kw)


def _pct(**kw: Any) -> Any:
    return Field(sa_type=sa.Numeric(7, 2), **kw)


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime(), **kw)


def _json(**kw: Any) -> Any:
    return Field(sa_type=sa.JSON, **kw)


# ---------------------------------------------------------------- enumerations


class LifecycleStatus(StrEnum):
    draft = "draft"
    proposed = "proposed"
    sent = "sent"
    accepted = "accepted"
    rejected = "rejected"
    expired = "expired"
    superseded = "superseded"


OPEN_LIFECYCLE = (LifecycleStatus.draft, LifecycleStatus.proposed, LifecycleStatus.sent)


class ActionType(StrEnum):
    """What a proposed action asks Mike to decide; the values are the stored column."""

    quote_gate = "workflow_customer_quote"
    quote_draft = "quote_draft"
    send_quote = "send_quote_to_customer"


class ActionStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"


class RunStatus(StrEnum):
    running = "running"
    awaiting_approval = "awaiting_approval"
    completed = "completed"
    partial = "partial"
    failed = "failed"
    blocked = "blocked"
    rejected = "rejected"
    expired = "expired"
    # A run that found its proposed action not approved, or claimed by another run: it
    # ended at once and wrote nothing but its run log.
    duplicate = "duplicate"
    not_approved = "not_approved"


class VerifyStatus(StrEnum):
    pending = "pending"
    passed = "pass"
    failed = "fail"
    timeout = "timeout"
    skipped = "skipped"  # a normal outcome made the check moot (e.g. Mike declined the email)


class PushStatus(StrEnum):
    pending = "pending"
    applied = "applied"
    failed = "failed"
    dead_letter = "dead_letter"  # a permanent refusal (or the attempt cap): never re-driven


class RecoveryStatus(StrEnum):
    active = "active"  # may still be re-driven
    healed = "healed"  # a re-drive ended the run completed
    dead_letter = "dead_letter"  # cap reached or a permanent failure: alerted, left alone


class ProposalStatus(StrEnum):
    proposed = "proposed"  # waiting for the customer's answer
    applied = "applied"  # the quote was accepted: written to pricing_master
    closed = "closed"  # declined, expired or superseded: pricing_master untouched


# ---------------------------------------------------------------- NetSuite mirror


class Customer(SQLModel, table=True):
    """A school district (NetSuite customer). ``id`` is NetSuite's internal id."""

    __tablename__ = "customers"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    entitystatus: str = Field(default="active", max_length=32)  # active | prospect | hold
    email: str | None = Field(default=None, max_length=254)
    contact_name: str | None = Field(default=None, max_length=200)
    state: str | None = Field(default=None, max_length=2)
    # Inactive in NetSuite (or gone from it, found by a full mirror pass); migration 0005.
    isinactive: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class CustomerProgram(SQLModel, table=True):
    __tablename__ = "customer_programs"
    __table_args__ = (
        sa.Index("ix_customer_programs_customer_status", "customer_id", "status"),
        sa.UniqueConstraint("customer_id", "program_code", name="uq_customer_programs_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customers.id", max_length=32)
    program_code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    status: str = Field(default="active", max_length=32)  # active | inactive
    starts_on: date | None = None
    ends_on: date | None = None
    deleted_at: datetime | None = _ts(default=None)


class SpecItem(SQLModel, table=True):
    """A catalog item. ``netsuite_item_id`` is the item's internal id in NetSuite."""

    __tablename__ = "spec_items"

    item_code: str = Field(primary_key=True, max_length=64)
    netsuite_item_id: str = Field(max_length=32, unique=True)
    description: str = Field(max_length=300)
    catalog: str = Field(max_length=64, index=True)
    pack_size: int = Field(default=1, ge=1)
    unit: str = Field(default="case", max_length=32)


class PricingMaster(SQLModel, table=True):
    """Per-customer, per-school-year case pricing. A price override Mike approved at the
    gate lands here only when the customer accepts the quote (see ProposedPricing), with
    ``source`` naming the quote."""

    __tablename__ = "pricing_master"
    __table_args__ = (
        sa.UniqueConstraint(
            "customer_id", "item_code", "school_year", name="uq_pricing_cust_item_sy"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customers.id", max_length=32)
    item_code: str = Field(foreign_key="spec_items.item_code", max_length=64)
    school_year: str = Field(max_length=7)
    case_price: Decimal = _money()
    # Unknown for an item first priced by one of Mike's overrides.
    cost_basis: Decimal | None = _money(default=None)
    margin_pct: Decimal | None = _pct(default=None)
    source: str = Field(default="netsuite", max_length=64)
    updated_at: datetime = _ts(default_factory=utcnow)


class CustomerProfile(SQLModel, table=True):
    """AR / credit forecast facts per customer."""

    __tablename__ = "customer_profiles"

    customer_id: str = Field(primary_key=True, foreign_key="customers.id", max_length=32)
    credit_limit: Decimal = _money(default=Decimal("0"))
    ar_balance: Decimal = _money(default=Decimal("0"))
    forecast_90d: Decimal = _money(default=Decimal("0"))
    payment_terms: str = Field(default="Net 30", max_length=32)
    last_quote_event: datetime | None = _ts(default=None)
    last_quote_id: str | None = Field(default=None, max_length=64)
    updated_at: datetime = _ts(default_factory=utcnow)


class MirrorState(SQLModel, table=True):
    """Where the NetSuite mirror of one table stands. ``watermark`` is the last-modified
    time (NetSuite's clock, 'YYYY-MM-DD HH:MM:SS') of the last row written;
    ``watermark_id`` is that row's NetSuite id while a pass is under way (exact resume)
    and None once the pass finished. Both move in the transaction that wrote the page."""

    __tablename__ = "mirror_state"

    table_name: str = Field(primary_key=True, max_length=64)
    watermark: str | None = Field(default=None, max_length=32)
    watermark_id: str | None = Field(default=None, max_length=32)
    row_count: int = 0
    last_success_at: datetime | None = _ts(default=None)
    last_full_at: datetime | None = _ts(default=None)
    last_error: str | None = None
    last_error_at: datetime | None = _ts(default=None)
    alerted_at: datetime | None = _ts(default=None)
    updated_at: datetime = _ts(default_factory=utcnow)


# ---------------------------------------------------------------- platform state


class Quote(SQLModel, table=True):
    __tablename__ = "quotes"
    __table_args__ = (
        sa.Index("ix_quotes_customer_open", "customer_id", "lifecycle_status", "generated_at"),
    )

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="customers.id", max_length=32)
    school_year: str = Field(max_length=7)
    catalog: str | None = Field(default=None, max_length=64)
    lifecycle_status: str = Field(default=LifecycleStatus.draft, max_length=16)
    generated_at: datetime = _ts(default_factory=utcnow)
    flow_run_id: str | None = Field(default=None, max_length=36, unique=True)
    supersedes_quote_id: str | None = Field(default=None, max_length=64)
    currency: str = Field(default="USD", max_length=3)
    subtotal: Decimal = _money(default=Decimal("0"))
    cost_total: Decimal = _money(default=Decimal("0"))
    margin_pct: Decimal | None = _pct(default=None)
    valid_until: date | None = None
    pdf_key: str | None = Field(default=None, max_length=300)
    netsuite_id: str | None = Field(default=None, max_length=32)
    updated_at: datetime = _ts(default_factory=utcnow)


class QuoteLine(SQLModel, table=True):
    __tablename__ = "quote_lines"
    __table_args__ = (sa.UniqueConstraint("quote_id", "line_no", name="uq_quote_lines_no"),)

    id: int | None = Field(default=None, primary_key=True)
    quote_id: str = Field(foreign_key="quotes.id", max_length=64, index=True)
    line_no: int
    item_code: str = Field(max_length=64)
    netsuite_item_id: str = Field(max_length=32)
    description: str = Field(max_length=300)
    unit: str = Field(default="case", max_length=32)
    quantity: int = Field(default=1, ge=1)
    case_price: Decimal = _money()
    cost_basis: Decimal | None = _money(default=None)
    margin_pct: Decimal | None = _pct(default=None)
    line_total: Decimal = _money()
    price_source: str = Field(default="pricing_master", max_length=32)  # | override


class ProposedAction(SQLModel, table=True):
    """Something waiting for Mike: a quote draft, a workflow gate, an email draft."""

    __tablename__ = "proposed_actions"
    __table_args__ = (
        sa.UniqueConstraint("action_type", "entity_ref", name="uq_proposed_actions_type_ref"),
        sa.Index("ix_proposed_actions_status", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    action_type: str = Field(max_length=64)
    entity_ref: str = Field(max_length=200)
    status: str = Field(default=ActionStatus.pending, max_length=16)
    payload: dict[str, Any] = _json(default_factory=dict)
    payload_hash: str = Field(max_length=64)
    approver: str = Field(default_factory=default_approver, max_length=64)
    decision_notes: str | None = None
    decided_at: datetime | None = _ts(default=None)
    approved_payload_hash: str | None = Field(default=None, max_length=64)
    # What was approved, byte for byte: the payload with Mike's prices applied. A resumed
    # run executes this, never a recomputation.
    approved_payload: dict[str, Any] | None = _json(default=None)
    flow_run_id: str | None = Field(default=None, max_length=36, index=True)
    expires_at: datetime | None = _ts(default=None)
    created_at: datetime = _ts(default_factory=utcnow)
    # The one run that acts on this approved action (a quote draft's customer-quote run,
    # an email draft's send-quote-email run); set once, by a conditional UPDATE.
    claimed_by_run_id: str | None = Field(default=None, max_length=36)
    claimed_at: datetime | None = _ts(default=None)


class ActionView(BaseModel):
    """A proposed action as flows, tasks and pages see it (never the table row)."""

    id: int
    action_type: str
    entity_ref: str
    status: str
    payload: dict[str, Any]
    payload_hash: str
    approver: str
    decision_notes: str | None
    decided_at: datetime | None
    approved_payload_hash: str | None
    approved_payload: dict[str, Any] | None = None
    flow_run_id: str | None
    expires_at: datetime | None
    created_at: datetime
    claimed_by_run_id: str | None = None  # the run acting on it (a draft: its quote's run)

    @classmethod
    def of(cls, row: ProposedAction) -> ActionView:
        return cls.model_validate(row.model_dump())


class RunRecovery(SQLModel, table=True):
    """Automatic re-drives of one flow run (crashed, stuck or partial): counted, capped,
    then dead-lettered with one alert."""

    __tablename__ = "run_recoveries"
    __table_args__ = (sa.Index("ix_run_recoveries_status", "status", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(max_length=36, unique=True)
    deployment: str = Field(max_length=128)
    status: str = Field(default=RecoveryStatus.active, max_length=16)
    redrives: int = 0
    last_reason: str | None = None
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class WorkflowRunLog(SQLModel, table=True):
    """One row per workflow run. The contract also declares ``workflow_runs``: it is the
    same record, so quoteflow keeps one table (this one)."""

    __tablename__ = "workflow_run_log"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(max_length=36, unique=True)
    workflow_type: str = Field(max_length=64)
    status: str = Field(max_length=24)
    started_at: datetime = _ts()
    completed_at: datetime | None = _ts(default=None)
    summary_json: dict[str, Any] = _json(default_factory=dict)


class ReflexionLog(SQLModel, table=True):
    __tablename__ = "reflexion_log"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(max_length=36, unique=True)
    workflow_type: str = Field(max_length=64)
    narrative: str
    tags: list[str] = _json(default_factory=list)
    created_at: datetime = _ts(default_factory=utcnow)


class Event(SQLModel, table=True):
    """The event ledger. A producer retry with the same idempotency key collapses."""

    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=64, index=True)
    idempotency_key: str = Field(max_length=200, unique=True)
    run_id: str | None = Field(default=None, max_length=36, index=True)
    payload: dict[str, Any] = _json(default_factory=dict)
    occurred_at: datetime = _ts(default_factory=utcnow)


class WorkflowVerifyResult(SQLModel, table=True):
    __tablename__ = "workflow_verify_results"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "check_name", name="uq_verify_run_check"),
        sa.Index("ix_verify_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(max_length=36)
    workflow_type: str = Field(max_length=64)
    check_name: str = Field(max_length=64)
    params: dict[str, Any] = _json(default_factory=dict)
    status: str = Field(default=VerifyStatus.pending, max_length=16)
    due_at: datetime = _ts()
    deadline: datetime = _ts()
    attempts: int = 0
    detail: str | None = None
    checked_at: datetime | None = _ts(default=None)
    created_at: datetime = _ts(default_factory=utcnow)


class NsPendingPush(SQLModel, table=True):
    """The NetSuite outbox: staged first, ``applied`` only after NetSuite confirms."""

    __tablename__ = "ns_pending_pushes"
    __table_args__ = (
        sa.UniqueConstraint("record_type", "external_id", name="uq_ns_push_record"),
        sa.Index("ix_ns_push_status", "status", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_type: str = Field(default="estimate", max_length=32)
    external_id: str = Field(max_length=64)
    quote_id: str = Field(max_length=64, index=True)
    run_id: str | None = Field(default=None, max_length=36)
    payload: dict[str, Any] = _json(default_factory=dict)
    status: str = Field(default=PushStatus.pending, max_length=16)
    attempts: int = 0
    last_error: str | None = None
    netsuite_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    applied_at: datetime | None = _ts(default=None)


class OutboundEmailLog(SQLModel, table=True):
    __tablename__ = "outbound_email_log"
    __table_args__ = (sa.Index("ix_outbound_email_quote_sent", "related_quote_id", "sent_at"),)

    id: int | None = Field(default=None, primary_key=True)
    related_quote_id: str = Field(max_length=64)
    message_id: str = Field(max_length=300, unique=True)
    proposed_action_id: int | None = None
    to_addr: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    sent_at: datetime = _ts(default_factory=utcnow)


class ProposedPricing(SQLModel, table=True):
    """A price Mike approved at a quote's gate, waiting for the customer: applied to
    pricing_master when the quote is accepted, closed when it is declined or expires."""

    __tablename__ = "proposed_pricing"
    __table_args__ = (
        sa.UniqueConstraint("quote_id", "item_code", name="uq_proposed_pricing_quote_item"),
        sa.Index("ix_proposed_pricing_customer_item", "customer_id", "item_code", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    quote_id: str = Field(foreign_key="quotes.id", max_length=64)
    customer_id: str = Field(max_length=32)
    item_code: str = Field(max_length=64)
    school_year: str = Field(max_length=7)
    old_price: Decimal | None = _money(default=None)  # pricing_master when proposed
    new_price: Decimal = _money()
    cost_basis: Decimal | None = _money(default=None)
    margin_pct: Decimal | None = _pct(default=None)
    approver: str = Field(max_length=64)
    proposed_at: datetime = _ts(default_factory=utcnow)
    status: str = Field(default=ProposalStatus.proposed, max_length=16)
    decided_at: datetime | None = _ts(default=None)
