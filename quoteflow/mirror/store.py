"""SQL of the mirror's own state (``mirror_state``): where each table's sync stands."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from quoteflow.db import get_or_create
from quoteflow.models import MirrorState, utcnow


def last_success(session: Session, table: str) -> datetime | None:
    """When ``table`` (a mirrored table name, e.g. 'customers') last finished a sync; None
    if it never did."""
    return session.execute(
        sa.select(MirrorState.last_success_at).where(MirrorState.table_name == table)
    ).scalar_one_or_none()


def get_state(session: Session, table: str) -> MirrorState | None:
    return session.get(MirrorState, table)


def all_states(session: Session) -> list[MirrorState]:
    return list(session.execute(sa.select(MirrorState).order_by(MirrorState.table_name)).scalars())


def state_for_update(session: Session, table: str) -> MirrorState:
    """The table's state row, created if missing (in the caller's transaction)."""
    return get_or_create(session, MirrorState(table_name=table), table_name=table)


def record_page(
    session: Session, table: str, *, watermark: str, watermark_id: str, rows: int
) -> None:
    """Advance the cursor past a page, in the transaction that wrote the page."""
    row = state_for_update(session, table)
    row.watermark = watermark
    row.watermark_id = watermark_id
    row.updated_at = utcnow()
    session.add(row)


def record_success(
    session: Session, table: str, *, row_count: int, overlap_watermark: str | None, full: bool
) -> None:
    """A pass over ``table`` finished: the next one starts a little before its end."""
    row = state_for_update(session, table)
    now = utcnow()
    row.watermark = overlap_watermark
    row.watermark_id = None
    row.row_count = row_count
    row.last_success_at = now
    if full:
        row.last_full_at = now
    row.last_error = None
    row.last_error_at = None
    row.alerted_at = None
    row.updated_at = now
    session.add(row)


def record_error(session: Session, table: str, message: str) -> None:
    row = state_for_update(session, table)
    row.last_error = message[:2000]
    row.last_error_at = utcnow()
    row.updated_at = row.last_error_at
    session.add(row)


def mark_alerted(session: Session, table: str) -> None:
    row = state_for_update(session, table)
    row.alerted_at = utcnow()
    session.add(row)
