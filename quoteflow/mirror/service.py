"""Sync the configured tables and report where each stands (what the CLI and the flow call)."""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field
from sqlmodel import Session

from quoteflow.db import get_engine
from quoteflow.mirror import store
from quoteflow.mirror.config import MirrorConfig
from quoteflow.mirror.sync import (
    MirrorSyncError,
    SuiteQLReader,
    SyncOptions,
    TableResult,
    alert_if_stale,
    sync_table,
)
from quoteflow.netsuite.errors import NetSuiteError

log = logging.getLogger(__name__)


def tables_to_sync(config: MirrorConfig, table: str | None) -> list[str]:
    """All configured tables in order, or just ``table`` (ValueError naming the known ones)."""
    if table is None:
        return list(config.tables)
    if table not in config.tables:
        raise ValueError(f"table {table!r} is not mirrored; mirrored: {', '.join(config.tables)}")
    return [table]


def sync_all(
    client: SuiteQLReader,
    config: MirrorConfig,
    *,
    table: str | None = None,
    full: bool = False,
    options: SyncOptions | None = None,
    database_url: str | None = None,
) -> list[TableResult]:
    """One pass over each table; a table that fails is reported (and alerted when stale)
    and the next table still runs."""
    results = []
    for name in tables_to_sync(config, table):
        try:
            result = sync_table(
                client, config, name, full=full, options=options, database_url=database_url
            )
        except (MirrorSyncError, NetSuiteError) as exc:
            log.error("mirror sync of %s failed: %s", name, exc)
            result = TableResult(table=name, full=full, error=str(exc))
            alert_if_stale(name, database_url=database_url)
        results.append(result)
    return results


class TableStatus(BaseModel):
    """Where one mirrored table stands, for `quoteflow mirror status` and the contract."""

    table: str = Field(description="quoteflow table name.")
    rows: int = Field(ge=0, description="Rows after the last finished pass.")
    watermark: str | None = Field(description="NetSuite last-modified time synced up to.")
    in_progress: bool = Field(description="A pass stopped mid-table and will resume.")
    last_success_at: str | None = Field(description="ISO time of the last finished pass.")
    last_full_at: str | None = Field(description="ISO time of the last finished full pass.")
    last_error: str | None = Field(description="The last failure, cleared by a success.")
    last_error_at: str | None = Field(description="When it failed.")


def status(config: MirrorConfig, *, database_url: str | None = None) -> list[TableStatus]:
    with Session(get_engine(database_url)) as session:
        states = {s.table_name: s for s in store.all_states(session)}
    out = []
    for name in config.tables:
        s = states.get(name)
        out.append(
            TableStatus(
                table=name,
                rows=s.row_count if s else 0,
                watermark=s.watermark if s else None,
                in_progress=bool(s and s.watermark_id),
                last_success_at=s.last_success_at.isoformat() if s and s.last_success_at else None,
                last_full_at=s.last_full_at.isoformat() if s and s.last_full_at else None,
                last_error=s.last_error if s else None,
                last_error_at=s.last_error_at.isoformat() if s and s.last_error_at else None,
            )
        )
    return out
