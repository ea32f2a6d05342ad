"""The mirror's state per table: when it last synced successfully. SQL only.

Minimal version (the pricing helper's): the sync (wip-mirror) owns this table and adds
watermarks and errors; ``last_success`` is the one reader the freshness checks use.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from quoteflow.models import MirrorState


def last_success(session: Session, table: str) -> datetime | None:
    """When ``table`` last synced from NetSuite successfully; None: never."""
    return session.execute(
        sa.select(MirrorState.last_success_at).where(MirrorState.table_name == table)
    ).scalar_one_or_none()


def record_success(session: Session, table: str, at: datetime) -> None:
    """Mark ``table`` synced at ``at`` (in the caller's transaction)."""
    row = session.get(MirrorState, table) or MirrorState(table_name=table)
    row.last_success_at = at
    session.add(row)
