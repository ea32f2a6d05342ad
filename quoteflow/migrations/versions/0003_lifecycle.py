"""Quote lifecycle: proposed_pricing (price overrides waiting for the customer's answer).

Revision ID: 0003_lifecycle
Revises: 0002_approvals
Create Date: 2026-11-27 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_lifecycle"
down_revision: str | None = "0002_approvals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "proposed_pricing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quote_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("school_year", sa.String(length=7), nullable=False),
        sa.Column("old_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("new_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("cost_basis", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("margin_pct", sa.Numeric(precision=7, scale=2), nullable=True),
        sa.Column("approver", sa.String(length=64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["quote_id"], ["quotes.id"], name=op.f("fk_proposed_pricing_quote_id_quotes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposed_pricing")),
        sa.UniqueConstraint("quote_id", "item_code", name="uq_proposed_pricing_quote_item"),
    )
    op.create_index(
        "ix_proposed_pricing_customer_item",
        "proposed_pricing",
        ["customer_id", "item_code", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_proposed_pricing_customer_item", table_name="proposed_pricing")
    op.drop_table("proposed_pricing")
