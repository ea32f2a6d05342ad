"""The NetSuite mirror: mirror_state (one row per mirrored table), customers.isinactive,
and one program code per customer (the mirror upserts programs by that key).

Revision ID: 0005_mirror
Revises: 0004_claims
Create Date: 2026-12-04 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_mirror"
down_revision: str | None = "0004_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mirror_state",
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("watermark", sa.String(length=32), nullable=True),
        sa.Column("watermark_id", sa.String(length=32), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_mirror_state")),
    )
    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column("isinactive", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("customer_programs") as batch:
        batch.create_unique_constraint("uq_customer_programs_code", ["customer_id", "program_code"])


def downgrade() -> None:
    with op.batch_alter_table("customer_programs") as batch:
        batch.drop_constraint("uq_customer_programs_code", type_="unique")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("isinactive")
    op.drop_table("mirror_state")
