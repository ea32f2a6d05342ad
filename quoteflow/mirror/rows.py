"""Turn SuiteQL rows (every value a string) into typed column values, or say what is wrong."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from quoteflow.mirror.config import TableConfig
from quoteflow.models import UTCDateTime, as_utc

_TRUE = {"t", "true", "yes", "1"}
_FALSE = {"f", "false", "no", "0"}


class MalformedRow(ValueError):
    """A row NetSuite returned that cannot be written: names the key, the field and the rule."""

    def __init__(self, table: str, key: str, field: str, value: object, rule: str) -> None:
        self.table, self.key, self.field, self.value, self.rule = table, key, field, value, rule
        super().__init__(f"{table} row {key}: {field} {value!r} {rule}")


def convert_value(column: sa.Column[Any], raw: str) -> Any:
    """The Python value of ``raw`` for ``column``; ValueError(rule) if it does not fit."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError("is not a date and time (YYYY-MM-DD HH:MM:SS)") from None
        return as_utc(parsed)
    if isinstance(kind, sa.Boolean):
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("is not a boolean ('T' or 'F')")
    if isinstance(kind, sa.Numeric):
        try:
            number = Decimal(raw.strip())
        except InvalidOperation:
            raise ValueError("is not a number") from None
        if not number.is_finite():
            raise ValueError("is not a finite number")
        scale = kind.scale or 0
        if number != number.quantize(Decimal(1).scaleb(-scale)):
            raise ValueError(f"has more than {scale} decimals")
        if abs(number) >= Decimal(10) ** ((kind.precision or 12) - scale):
            raise ValueError("is too large")
        return number
    if isinstance(kind, sa.Integer):
        try:
            return int(raw.strip())
        except ValueError:
            raise ValueError("is not a whole number") from None
    if isinstance(kind, sa.Date):
        try:
            return date.fromisoformat(raw.strip()[:10])
        except ValueError:
            raise ValueError("is not a date (YYYY-MM-DD; format it with TO_CHAR)") from None
    if isinstance(kind, sa.String):
        length = kind.length
        if length is not None and len(raw) > length:
            raise ValueError(f"is longer than {length} characters")
        return raw
    return raw


def convert_row(
    table_name: str,
    table: sa.Table,
    config: TableConfig,
    item: dict[str, str],
    defaults: dict[str, Any],
) -> dict[str, Any]:
    """The column values of one SuiteQL row; raises MalformedRow naming key and field.

    An empty value (NetSuite leaves nulls out) is None, or the model's default for a
    required column that has one; a required column with neither is malformed."""
    key = _key_text(config, item)
    out: dict[str, Any] = {}
    for column_name, output in config.columns.items():
        column = table.columns[column_name]
        raw = item.get(output)
        if raw is None or raw == "":
            if column.nullable:
                out[column_name] = None
            elif column_name in defaults and column_name not in config.key:
                out[column_name] = defaults[column_name]
            else:
                raise MalformedRow(table_name, key, column_name, raw, "is missing (required)")
            continue
        try:
            out[column_name] = convert_value(column, raw)
        except ValueError as exc:
            raise MalformedRow(table_name, key, column_name, raw, str(exc)) from None
    for column_name, value in config.constants.items():
        out[column_name] = value
    return out


def _key_text(config: TableConfig, item: dict[str, str]) -> str:
    parts = [f"{k}={item.get(config.columns[k], '')!s}" for k in config.key]
    return f"{', '.join(parts)} (NetSuite id {item.get('mirror_id', '?')})"
