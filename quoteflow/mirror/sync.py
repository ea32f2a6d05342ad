"""The mirror sync: page through a table's SuiteQL by key and upsert each page atomically.

Every page is its own keyset query (``ORDER BY modified, id`` after the last row written),
so rows changed while a pass runs cannot shift a page and no query nears NetSuite's
100,000-row cap. A page's rows and the table's cursor are written in one transaction: a
pass killed anywhere resumes at the next page and ends with the same rows as one that
ran through; a reader never sees half a page.

A full pass reads every row and then applies the table's ``on_missing`` to mirrored
rows NetSuite no longer returned; it decides only after reading every page, so a full
pass that stops early changes nothing it has not read.

A malformed row refuses its whole page (nothing of it is written, the cursor stays
before it): the table's pass stops with an error naming the row's key and field, and the
next pass retries it. The client never retries; callers (Prefect tasks) do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from quoteflow import ledger
from quoteflow.db import get_engine
from quoteflow.mirror import store
from quoteflow.mirror.config import MIRROR_MODELS, MIRRORABLE, MirrorConfig, OnMissing, TableConfig
from quoteflow.mirror.rows import MalformedRow, convert_row
from quoteflow.models import MirrorState, utcnow
from quoteflow.netsuite.client import SuiteQLPage
from quoteflow.settings import get_settings

_WM_FORMAT = "%Y-%m-%d %H:%M:%S"


class SuiteQLReader(Protocol):
    """What the sync needs of NetSuite (NetSuiteClient has it)."""

    def suiteql(self, query: str, *, limit: int = 1000, offset: int = 0) -> SuiteQLPage: ...


class MirrorSyncError(Exception):
    """A table's pass stopped; its state row holds the message."""

    def __init__(self, table: str, message: str, *, retryable: bool = False) -> None:
        self.table, self.retryable = table, retryable
        super().__init__(f"{table}: {message}")


@dataclass
class TableResult:
    """What one pass over one table did."""

    table: str
    full: bool
    pages: int = 0
    rows_written: int = 0
    rows_marked: int = 0
    rows_deleted: int = 0
    row_count: int = 0
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SyncOptions:
    page_size: int = 1000
    row_cap: int = 100_000
    overlap_seconds: int = 60
    # Test hook: called after each committed page with (table, page number).
    after_page: Callable[[str, int], None] | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls) -> SyncOptions:
        s = get_settings()
        return cls(
            page_size=s.mirror_page_size,
            row_cap=s.mirror_row_cap,
            overlap_seconds=s.mirror_overlap_seconds,
        )


def _cursor_sql(cfg: TableConfig, watermark: str, after_id: str | None) -> str:
    at = f"TO_DATE('{watermark}', 'YYYY-MM-DD HH24:MI:SS')"
    if after_id is None:
        return f"{cfg.modified} >= {at}"
    if not after_id.isdigit():
        raise ValueError(f"cursor id {after_id!r} is not a NetSuite internal id")
    return f"({cfg.modified} >= {at} AND ({cfg.modified} > {at} OR {cfg.id} > {after_id}))"


def _validated_watermark(value: str) -> str:
    # The watermark goes back into SuiteQL: accept only the exact format we write.
    return datetime.strptime(value, _WM_FORMAT).strftime(_WM_FORMAT)


def _model_defaults(table: str) -> dict[str, Any]:
    model = MIRROR_MODELS[table]
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.is_required():
            continue
        value = info.get_default(call_default_factory=True)
        if value is not None:
            out[name] = value
    return out


def _upsert(session: Session, table: str, cfg: TableConfig, rows: list[dict[str, Any]]) -> None:
    target = MIRRORABLE[table]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    defaults = _model_defaults(table)
    now = utcnow()
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:  # one row per key in a statement (PostgreSQL refuses two)
        by_key[tuple(row[k] for k in cfg.key)] = row
    values = []
    for row in by_key.values():
        full = {k: v for k, v in defaults.items() if k in target.columns and k != "id"}
        full.update(row)
        if "updated_at" in target.columns:
            full["updated_at"] = now
        values.append(full)
    update_cols = [c for c in values[0] if c not in cfg.key and c not in ("id", "created_at")]
    stmt = insert(target).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=cfg.key, set_={c: stmt.excluded[c] for c in update_cols}
    )
    session.execute(stmt)


def _apply_on_missing(
    session: Session, table: str, cfg: TableConfig, seen: set[tuple[Any, ...]]
) -> tuple[int, int]:
    """(marked, deleted) rows of ``table`` whose key a full pass did not see."""
    if not isinstance(cfg.on_missing, OnMissing):
        return 0, 0
    target = MIRRORABLE[table]
    key_cols = [target.columns[k] for k in cfg.key]
    scope = cfg.on_missing.delete or {}
    stmt = sa.select(*key_cols)
    for name, value in scope.items():
        stmt = stmt.where(target.columns[name] == value)
    missing = [tuple(r) for r in session.execute(stmt) if tuple(r) not in seen]
    if not missing:
        return 0, 0

    def match(key: tuple[Any, ...]) -> Any:
        return sa.and_(*(c == v for c, v in zip(key_cols, key, strict=True)))

    if cfg.on_missing.delete is not None:
        for key in missing:
            session.execute(sa.delete(target).where(match(key)))
        return 0, len(missing)
    now = utcnow()
    values = {k: (now if v == "now" else v) for k, v in (cfg.on_missing.mark or {}).items()}
    marked = 0
    for key in missing:
        # Rows already marked stay as they are (their deleted_at keeps its first time).
        differs = sa.or_(
            *(
                target.columns[k].is_distinct_from(v)
                for k, v in values.items()
                if not isinstance(v, datetime)
            )
        )
        marked += session.execute(
            sa.update(target).where(match(key), differs).values(values)
        ).rowcount
    return marked, 0


def _count(session: Session, table: str) -> int:
    return int(
        session.execute(sa.select(sa.func.count()).select_from(MIRRORABLE[table])).scalar_one()
    )


def sync_table(
    client: SuiteQLReader,
    config: MirrorConfig,
    table: str,
    *,
    full: bool = False,
    options: SyncOptions | None = None,
    database_url: str | None = None,
) -> TableResult:
    """One pass over ``table``: incremental from its cursor, or ``full`` from the start.

    Raises MirrorSyncError (state row updated) when the pass stops; NetSuite errors of the
    client propagate with their ``retryable`` flag, after the state row records them.
    """
    options = options or SyncOptions.from_settings()
    cfg = config.tables[table]
    target = MIRRORABLE[table]
    engine = get_engine(database_url)
    result = TableResult(table=table, full=full)
    started = time.monotonic()
    defaults = _model_defaults(table)
    seen: set[tuple[Any, ...]] = set()
    limit = max(1, min(options.page_size, options.row_cap))

    with Session(engine) as session:
        state = store.get_state(session, table)
        watermark, after_id = (
            (None, None) if state is None else (state.watermark, state.watermark_id)
        )
    if full:
        watermark, after_id = None, None
    elif watermark is not None:
        watermark = _validated_watermark(watermark)

    try:
        while True:
            cursor = None if watermark is None else _cursor_sql(cfg, watermark, after_id)
            page = client.suiteql(cfg.query(cursor), limit=limit, offset=0)
            if not page.items:
                break
            rows = [convert_row(table, target, cfg, item, defaults) for item in page.items]
            last = page.items[-1]
            watermark = _validated_watermark(last["mirror_modified"])
            after_id = last["mirror_id"]
            with Session(engine) as session, session.begin():
                _upsert(session, table, cfg, rows)
                store.record_page(
                    session, table, watermark=watermark, watermark_id=after_id, rows=len(rows)
                )
            result.pages += 1
            result.rows_written += len(rows)
            if full:
                seen.update(tuple(r[k] for k in cfg.key) for r in rows)
            if options.after_page is not None:
                options.after_page(table, result.pages)
            # Another query follows while NetSuite has more rows after this page, whether it
            # said hasMore or its row cap cut the answer short.
            if not page.has_more and page.total_results <= page.count:
                break
        with Session(engine) as session, session.begin():
            if full:
                result.rows_marked, result.rows_deleted = _apply_on_missing(
                    session, table, cfg, seen
                )
            result.row_count = _count(session, table)
            store.record_success(
                session,
                table,
                row_count=result.row_count,
                overlap_watermark=_overlap(watermark, options.overlap_seconds),
                full=full,
            )
    except MalformedRow as exc:
        _fail(engine, table, f"page refused: {exc}")
        raise MirrorSyncError(table, f"page refused: {exc}") from exc
    except IntegrityError as exc:
        message = f"page refused by the database: {exc.orig}"
        _fail(engine, table, message)
        raise MirrorSyncError(table, message) from exc
    except Exception as exc:
        _fail(engine, table, str(exc))
        raise
    finally:
        result.seconds = round(time.monotonic() - started, 3)
    return result


def _overlap(watermark: str | None, seconds: int) -> str | None:
    if watermark is None:
        return None
    moment = datetime.strptime(watermark, _WM_FORMAT) - timedelta(seconds=seconds)
    return moment.strftime(_WM_FORMAT)


def _fail(engine: sa.Engine, table: str, message: str) -> None:
    with Session(engine) as session, session.begin():
        store.record_error(session, table, message)


def alert_if_stale(table: str, *, database_url: str | None = None) -> bool:
    """Raise Mike's alert once when ``table`` is failing and its last success is older than
    QUOTEFLOW_MIRROR_MAX_AGE_HOURS (or it never succeeded); True if an alert was raised."""
    limit = timedelta(hours=get_settings().mirror_max_age_hours)
    engine = get_engine(database_url)
    with Session(engine) as session:
        state = session.get(MirrorState, table)
        if state is None or state.last_error is None or state.alerted_at is not None:
            return False
        since = state.last_success_at
        if since is not None and utcnow() - since <= limit:
            return False
        error = state.last_error
    ledger.record_alert(
        run_id=f"mirror-{table}"[:36],
        step=f"mirror-sync {table} since {since.isoformat() if since else 'never'}",
        attempts=1,
        error=f"NetSuite data for {table} is older than {limit.total_seconds() / 3600:g} h: {error}",
    )
    with Session(engine) as session, session.begin():
        store.mark_alerted(session, table)
    return True
