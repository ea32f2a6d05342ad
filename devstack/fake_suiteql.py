"""SuiteQL for the fake NetSuite: its own records in their own SQLite file.

The records live in tables named and shaped like NetSuite's (``customer``, ``item``,
``term``, ``entityaddress`` and the two custom records of the default mirror config).
A SuiteQL query runs as SQLite after two NetSuite functions are registered
(``TO_CHAR`` and ``TO_DATE`` with the 'YYYY-MM-DD HH24:MI:SS' family of formats), which
covers the subset quoteflow's mirror queries use. Answers look like NetSuite's:
lower-case column names, every value a string, booleans 'T'/'F', empty values left out,
``limit`` at most 1000 and at most ``row_cap`` (100,000) rows reachable per query.

Changes through :meth:`SuiteQLStore.upsert` stamp the record's last-modified column
with the current second, as NetSuite does.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROW_CAP = 100_000
MAX_LIMIT = 1000

# table -> (columns, its last-modified column). Every table has an integer ``id``.
TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "customer": (
        (
            "entityid",
            "companyname",
            "email",
            "custentity_qf_contact_name",
            "defaultbillingaddress",
            "creditholdoverride",
            "searchstage",
            "isinactive",
            "creditlimit",
            "balancesearch",
            "terms",
        ),
        "lastmodifieddate",
    ),
    "term": (("name",), "lastmodifieddate"),
    "entityaddress": (("nkey", "state"), "lastmodifieddate"),
    "item": (
        (
            "itemid",
            "displayname",
            "custitem_qf_catalog",
            "custitem_qf_pack_size",
            "custitem_qf_unit",
            "isinactive",
        ),
        "lastmodifieddate",
    ),
    "customrecord_qf_bid_price": (
        (
            "custrecord_qf_bp_customer",
            "custrecord_qf_bp_item",
            "custrecord_qf_bp_school_year",
            "custrecord_qf_bp_case_price",
            "custrecord_qf_bp_cost",
            "isinactive",
        ),
        "lastmodified",
    ),
    "customrecord_qf_program": (
        (
            "name",
            "custrecord_qf_prog_customer",
            "custrecord_qf_prog_code",
            "custrecord_qf_prog_start",
            "custrecord_qf_prog_end",
            "isinactive",
        ),
        "lastmodified",
    ),
}

_FORMATS = {
    "YYYY-MM-DD HH24:MI:SS": "%Y-%m-%d %H:%M:%S",
    "YYYY-MM-DD": "%Y-%m-%d",
    'YYYY-MM-DD"T"HH24:MI:SS': "%Y-%m-%dT%H:%M:%S",
}
_STORED = "%Y-%m-%d %H:%M:%S"
_ONLY_SELECT = re.compile(r"^\s*select\b", re.IGNORECASE)


class SuiteQLError(Exception):
    """A query NetSuite would refuse (400 INVALID_PARAMETER / SEARCH_ERROR)."""


def _parse_stored(value: str) -> datetime:
    for fmt in (_STORED, "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise ValueError(f"not a date: {value!r}")


def _to_char(value: object, fmt: object) -> str | None:
    if value is None:
        return None
    py = _FORMATS.get(str(fmt).upper())
    if py is None:
        raise ValueError(f"TO_CHAR format {fmt!r} is not supported by the fake")
    return _parse_stored(str(value)).strftime(py)


def _to_date(value: object, fmt: object) -> str | None:
    if value is None:
        return None
    py = _FORMATS.get(str(fmt).upper())
    if py is None:
        raise ValueError(f"TO_DATE format {fmt!r} is not supported by the fake")
    return datetime.strptime(str(value), py).strftime(_STORED)


def now_stamp() -> str:
    return datetime.now(UTC).strftime(_STORED)


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


class SuiteQLStore:
    """The fake account's records and the SuiteQL engine over them."""

    def __init__(self, path: Path, *, row_cap: int = ROW_CAP) -> None:
        self.path = path
        self.row_cap = row_cap
        self._lock = threading.Lock()
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.create_function("TO_CHAR", 2, _to_char, deterministic=True)
        self.conn.create_function("TO_DATE", 2, _to_date, deterministic=True)
        self.conn.create_function("TO_TIMESTAMP", 2, _to_date, deterministic=True)
        for table, (columns, modified) in TABLES.items():
            cols = ", ".join(f"{c} TEXT" for c in columns)
            self.conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, {cols}, "
                f"{modified} TEXT NOT NULL)"
            )
            self.conn.execute(
                f"CREATE INDEX IF NOT EXISTS ix_{table}_modified ON {table} ({modified}, id)"
            )
        self._totals: dict[str, int] = {}

    def close(self) -> None:
        self.conn.close()

    # -- records (the admin side) --

    def upsert(self, table: str, rows: list[dict[str, Any]], *, modified: str | None = None) -> int:
        """Create or update records by ``id`` (fields merged), stamping last-modified."""
        columns, modified_col = _table(table)
        stamp = modified or now_stamp()
        with self._lock:
            self.conn.execute("BEGIN")
            try:
                for row in rows:
                    if "id" not in row:
                        raise ValueError(f"{table} record without an id")
                    unknown = set(row) - set(columns) - {"id", modified_col}
                    if unknown:
                        raise ValueError(f"{table} has no field(s) {sorted(unknown)}")
                    values = {k: None if v is None else _as_text(v) for k, v in row.items()}
                    values.setdefault(modified_col, stamp)
                    names = list(values)
                    sets = ", ".join(f"{n} = excluded.{n}" for n in names if n != "id")
                    self.conn.execute(
                        f"INSERT INTO {table} ({', '.join(names)}) "
                        f"VALUES ({', '.join('?' for _ in names)}) "
                        f"ON CONFLICT (id) DO UPDATE SET {sets}",
                        [int(values["id"]), *[values[n] for n in names[1:]]],
                    )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self._totals.clear()
        return len(rows)

    def delete(self, table: str, ids: list[int]) -> int:
        _table(table)
        with self._lock:
            cur = self.conn.executemany(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in ids])
            self._totals.clear()
        return cur.rowcount

    def rows(self, table: str) -> list[dict[str, Any]]:
        _table(table)
        cur = self.conn.execute(f"SELECT * FROM {table} ORDER BY id")
        names = [d[0] for d in cur.description]
        return [{n: v for n, v in zip(names, r, strict=True) if v is not None} for r in cur]

    def is_empty(self) -> bool:
        return all(
            self.conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is None for t in TABLES
        )

    def clear(self) -> None:
        with self._lock:
            for table in TABLES:
                self.conn.execute(f"DELETE FROM {table}")
            self._totals.clear()

    # -- SuiteQL --

    def query(self, q: str, *, limit: int, offset: int) -> dict[str, Any]:
        """NetSuite's answer to ``q`` at ``limit``/``offset`` (raises SuiteQLError)."""
        if not _ONLY_SELECT.match(q) or ";" in q:
            raise SuiteQLError("Only one SELECT statement is allowed.")
        if not 1 <= limit <= MAX_LIMIT:
            raise SuiteQLError(f"The limit parameter must be between 1 and {MAX_LIMIT}.")
        if offset < 0 or offset % limit:
            raise SuiteQLError("The offset parameter must be a multiple of limit.")
        if offset >= self.row_cap:
            raise SuiteQLError(
                f"The offset parameter exceeds the maximum of {self.row_cap} rows per query."
            )
        reachable_end = min(offset + limit, self.row_cap)
        with self._lock:
            try:
                total = self._totals.get(q)
                if total is None:
                    total = int(self.conn.execute(f"SELECT COUNT(*) FROM ({q})").fetchone()[0])
                    self._totals[q] = total
                cur = self.conn.execute(f"{q} LIMIT ? OFFSET ?", (reachable_end - offset, offset))
                names = [d[0].lower() for d in cur.description]
                raw = cur.fetchall()
            except sqlite3.Error as exc:
                raise SuiteQLError(f"Search error occurred: {exc}") from exc
        items = [
            {n: _as_text(v) for n, v in zip(names, r, strict=True) if v is not None} for r in raw
        ]
        for item in items:
            item["links"] = []  # type: ignore[assignment]
        reachable = min(total, self.row_cap)
        return {
            "links": [],
            "count": len(items),
            "hasMore": offset + len(items) < reachable,
            "offset": offset,
            "totalResults": total,
            "items": items,
        }


def _table(table: str) -> tuple[tuple[str, ...], str]:
    try:
        return TABLES[table]
    except KeyError:
        raise ValueError(f"unknown table {table!r}; known: {sorted(TABLES)}") from None
