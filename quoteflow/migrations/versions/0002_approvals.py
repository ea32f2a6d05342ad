"""Approvals: proposed_actions.approved_payload, what was approved byte for byte.

Revision ID: 0002_approvals
Revises: 0001
Create Date: 2026-11-27 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_approvals"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("proposed_actions") as batch:
        batch.add_column(sa.Column("approved_payload", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("proposed_actions") as batch:
        batch.drop_column("approved_payload")
