"""Claims and recoveries: proposed_actions.claimed_by_run_id/claimed_at (one run per
approved action) and run_recoveries (counted, capped automatic re-drives).

Revision ID: 0004_claims
Revises: 0003_lifecycle
Create Date: 2026-11-27 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_claims"
down_revision: str | None = "0003_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRE_CLAIMS_MARKER = "before-0004-claims"


def upgrade() -> None:
    with op.batch_alter_table("proposed_actions") as batch:
        batch.add_column(sa.Column("claimed_by_run_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    # Drafts approved before claims existed already had their run (or were handled by a
    # person): mark them claimed, or the reconciler would start them all again.
    op.execute(
        sa.text(
            "UPDATE proposed_actions SET claimed_by_run_id = :marker, claimed_at = decided_at "
            "WHERE status = 'approved' AND claimed_by_run_id IS NULL "
            "AND action_type IN ('quote_draft', 'send_quote_to_customer')"
        ).bindparams(marker=PRE_CLAIMS_MARKER)
    )
    op.create_table(
        "run_recoveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("deployment", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("redrives", sa.Integer(), nullable=False),
        sa.Column("last_reason", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_recoveries")),
        sa.UniqueConstraint("run_id", name=op.f("uq_run_recoveries_run_id")),
    )
    op.create_index(
        "ix_run_recoveries_status", "run_recoveries", ["status", "updated_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_run_recoveries_status", table_name="run_recoveries")
    op.drop_table("run_recoveries")
    with op.batch_alter_table("proposed_actions") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by_run_id")
