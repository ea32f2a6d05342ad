"""Initial schema: the NetSuite mirror and the customer_quote platform tables.

Written by autogenerate from quoteflow/models.py, then reviewed: plain SQLAlchemy
types only (UTCDateTime is DateTime(timezone=True), AutoString is String), constraint
names from quoteflow.migrate.NAMING_CONVENTION.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 18:57:06.169557
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("entitystatus", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("contact_name", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_events_idempotency_key")),
    )
    op.create_index(op.f("ix_events_run_id"), "events", ["run_id"], unique=False)
    op.create_index(op.f("ix_events_type"), "events", ["type"], unique=False)

    op.create_table(
        "ns_pending_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("quote_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("netsuite_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ns_pending_pushes")),
        sa.UniqueConstraint("record_type", "external_id", name="uq_ns_push_record"),
    )
    op.create_index(
        op.f("ix_ns_pending_pushes_quote_id"), "ns_pending_pushes", ["quote_id"], unique=False
    )
    op.create_index(
        "ix_ns_push_status", "ns_pending_pushes", ["status", "updated_at"], unique=False
    )

    op.create_table(
        "outbound_email_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("related_quote_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("proposed_action_id", sa.Integer(), nullable=True),
        sa.Column("to_addr", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_email_log")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbound_email_log_message_id")),
    )
    op.create_index(
        "ix_outbound_email_quote_sent",
        "outbound_email_log",
        ["related_quote_id", "sent_at"],
        unique=False,
    )

    op.create_table(
        "proposed_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_type", sa.String(length=64), nullable=False),
        sa.Column("entity_ref", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=64), nullable=False),
        sa.Column("decision_notes", sa.String(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_payload_hash", sa.String(length=64), nullable=True),
        sa.Column("flow_run_id", sa.String(length=36), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposed_actions")),
        sa.UniqueConstraint("action_type", "entity_ref", name="uq_proposed_actions_type_ref"),
    )
    op.create_index(
        op.f("ix_proposed_actions_flow_run_id"), "proposed_actions", ["flow_run_id"], unique=False
    )
    op.create_index(
        "ix_proposed_actions_status", "proposed_actions", ["status", "created_at"], unique=False
    )

    op.create_table(
        "reflexion_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("workflow_type", sa.String(length=64), nullable=False),
        sa.Column("narrative", sa.String(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reflexion_log")),
        sa.UniqueConstraint("run_id", name=op.f("uq_reflexion_log_run_id")),
    )
    op.create_table(
        "spec_items",
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("netsuite_item_id", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("catalog", sa.String(length=64), nullable=False),
        sa.Column("pack_size", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("item_code", name=op.f("pk_spec_items")),
        sa.UniqueConstraint("netsuite_item_id", name=op.f("uq_spec_items_netsuite_item_id")),
    )
    op.create_index(op.f("ix_spec_items_catalog"), "spec_items", ["catalog"], unique=False)

    op.create_table(
        "workflow_run_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("workflow_type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary_json", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_run_log")),
        sa.UniqueConstraint("run_id", name=op.f("uq_workflow_run_log_run_id")),
    )
    op.create_table(
        "workflow_verify_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("workflow_type", sa.String(length=64), nullable=False),
        sa.Column("check_name", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_verify_results")),
        sa.UniqueConstraint("run_id", "check_name", name="uq_verify_run_check"),
    )
    op.create_index(
        "ix_verify_status_due", "workflow_verify_results", ["status", "due_at"], unique=False
    )

    op.create_table(
        "customer_profiles",
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("credit_limit", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("ar_balance", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("forecast_90d", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("payment_terms", sa.String(length=32), nullable=False),
        sa.Column("last_quote_event", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_quote_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_profiles_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_profiles")),
    )
    op.create_table(
        "customer_programs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("program_code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_programs_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_programs")),
    )
    op.create_index(
        "ix_customer_programs_customer_status",
        "customer_programs",
        ["customer_id", "status"],
        unique=False,
    )

    op.create_table(
        "pricing_master",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("school_year", sa.String(length=7), nullable=False),
        sa.Column("case_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("cost_basis", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("margin_pct", sa.Numeric(precision=7, scale=2), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_pricing_master_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["item_code"],
            ["spec_items.item_code"],
            name=op.f("fk_pricing_master_item_code_spec_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_master")),
        sa.UniqueConstraint(
            "customer_id", "item_code", "school_year", name="uq_pricing_cust_item_sy"
        ),
    )
    op.create_table(
        "quotes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("school_year", sa.String(length=7), nullable=False),
        sa.Column("catalog", sa.String(length=64), nullable=True),
        sa.Column("lifecycle_status", sa.String(length=16), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flow_run_id", sa.String(length=36), nullable=True),
        sa.Column("supersedes_quote_id", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("cost_total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("margin_pct", sa.Numeric(precision=7, scale=2), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("pdf_key", sa.String(length=300), nullable=True),
        sa.Column("netsuite_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_quotes_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotes")),
        sa.UniqueConstraint("flow_run_id", name=op.f("uq_quotes_flow_run_id")),
    )
    op.create_index(
        "ix_quotes_customer_open",
        "quotes",
        ["customer_id", "lifecycle_status", "generated_at"],
        unique=False,
    )

    op.create_table(
        "quote_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quote_id", sa.String(length=64), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("netsuite_item_id", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("case_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("cost_basis", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("margin_pct", sa.Numeric(precision=7, scale=2), nullable=True),
        sa.Column("line_total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("price_source", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["quote_id"], ["quotes.id"], name=op.f("fk_quote_lines_quote_id_quotes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quote_lines")),
        sa.UniqueConstraint("quote_id", "line_no", name="uq_quote_lines_no"),
    )
    op.create_index(op.f("ix_quote_lines_quote_id"), "quote_lines", ["quote_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_quote_lines_quote_id"), table_name="quote_lines")

    op.drop_table("quote_lines")
    op.drop_index("ix_quotes_customer_open", table_name="quotes")

    op.drop_table("quotes")
    op.drop_table("pricing_master")
    op.drop_index("ix_customer_programs_customer_status", table_name="customer_programs")

    op.drop_table("customer_programs")
    op.drop_table("customer_profiles")
    op.drop_index("ix_verify_status_due", table_name="workflow_verify_results")

    op.drop_table("workflow_verify_results")
    op.drop_table("workflow_run_log")
    op.drop_index(op.f("ix_spec_items_catalog"), table_name="spec_items")

    op.drop_table("spec_items")
    op.drop_table("reflexion_log")
    op.drop_index("ix_proposed_actions_status", table_name="proposed_actions")
    op.drop_index(op.f("ix_proposed_actions_flow_run_id"), table_name="proposed_actions")

    op.drop_table("proposed_actions")
    op.drop_index("ix_outbound_email_quote_sent", table_name="outbound_email_log")

    op.drop_table("outbound_email_log")
    op.drop_index("ix_ns_push_status", table_name="ns_pending_pushes")
    op.drop_index(op.f("ix_ns_pending_pushes_quote_id"), table_name="ns_pending_pushes")

    op.drop_table("ns_pending_pushes")
    op.drop_index(op.f("ix_events_type"), table_name="events")
    op.drop_index(op.f("ix_events_run_id"), table_name="events")

    op.drop_table("events")
    op.drop_table("customers")
