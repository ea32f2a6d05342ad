"""The mirror's configuration: which SuiteQL fills which table, validated at start.

The file (``mirror.yaml``, shipped in this package; an account's own copy through
QUOTEFLOW_MIRROR_CONFIG_PATH) is read once and checked against the tables it writes: a
mapping naming a column the table lacks is an error naming both.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from quoteflow.models import (
    Customer,
    CustomerProfile,
    CustomerProgram,
    PricingMaster,
    SpecItem,
)

CONFIG_VERSION = 1
WATERMARK_FORMAT = "YYYY-MM-DD HH24:MI:SS"

# The quoteflow tables a mirror may write, and their models.
MIRROR_MODELS: dict[str, type[Any]] = {
    "customers": Customer,
    "customer_profiles": CustomerProfile,
    "spec_items": SpecItem,
    "pricing_master": PricingMaster,
    "customer_programs": CustomerProgram,
}
MIRRORABLE: dict[str, sa.Table] = {n: m.__table__ for n, m in MIRROR_MODELS.items()}
_SQL_EXPR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_OUTPUT = re.compile(r"^[a-z_][a-z0-9_]*$")


class MirrorConfigError(ValueError):
    """The mirror configuration cannot be used; the message names the file and the fault."""


class OnMissing(BaseModel):
    """What a full pass does to a mirrored row NetSuite no longer returns."""

    model_config = ConfigDict(extra="forbid")

    mark: dict[str, Any] | None = Field(
        default=None, description="Columns set on the row (the value 'now' means the time)."
    )
    delete: dict[str, Any] | None = Field(
        default=None, description="Delete the row, limited to rows matching these column values."
    )

    @model_validator(mode="after")
    def _one(self) -> OnMissing:
        if (self.mark is None) == (self.delete is None):
            raise ValueError("on_missing takes exactly one of mark or delete (or the word keep)")
        return self


class TableConfig(BaseModel):
    """One mirrored table: its SuiteQL pieces, its key and its column mapping."""

    model_config = ConfigDict(extra="forbid")

    key: list[str] = Field(min_length=1, description="quoteflow columns a row is upserted by.")
    id: str = Field(description="SuiteQL expression of the record's internal id (keyset paging).")
    modified: str = Field(description="SuiteQL expression of the record's last-modified time.")
    select: str = Field(min_length=1, description="SuiteQL select list (without SELECT).")
    from_: str = Field(alias="from", min_length=1, description="SuiteQL FROM clause and joins.")
    where: str | None = Field(default=None, description="A SuiteQL filter ANDed to the cursor.")
    columns: dict[str, str] = Field(
        min_length=1, description="quoteflow column -> the query's output column (lower-case)."
    )
    constants: dict[str, Any] = Field(
        default_factory=dict, description="quoteflow columns written with a fixed value."
    )
    on_missing: Literal["keep"] | OnMissing = Field(
        default="keep", description="A full pass: keep, mark or delete rows NetSuite dropped."
    )

    @field_validator("id", "modified")
    @classmethod
    def _plain_column(cls, value: str) -> str:
        if not _SQL_EXPR.fullmatch(value):
            raise ValueError(f"{value!r} is not a column reference like c.id")
        return value

    @field_validator("columns")
    @classmethod
    def _lower_outputs(cls, value: dict[str, str]) -> dict[str, str]:
        for column, output in value.items():
            if not _OUTPUT.fullmatch(output):
                raise ValueError(
                    f"{column}: {output!r} is not a lower-case SuiteQL output column name"
                )
        return value

    def query(self, cursor: str | None) -> str:
        """The SuiteQL of one keyset query starting after ``cursor`` (a SuiteQL condition)."""
        where = [f"({self.where})"] if self.where else []
        if cursor:
            where.append(cursor)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return (
            f"SELECT {self.id} AS mirror_id, "
            f"TO_CHAR({self.modified}, '{WATERMARK_FORMAT}') AS mirror_modified, "
            f"{' '.join(self.select.split())} FROM {' '.join(self.from_.split())}{clause} "
            f"ORDER BY {self.modified}, {self.id}"
        )


class MirrorConfig(BaseModel):
    """The whole file: a version and the mirrored tables in sync order."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = Field(description="Format version of the file.")
    tables: dict[str, TableConfig] = Field(min_length=1, description="Mirrored tables in order.")

    def check_against_schema(self) -> None:
        """Every table, key and column named exists in quoteflow's schema."""
        for name, table in self.tables.items():
            target = MIRRORABLE.get(name)
            if target is None:
                raise ValueError(f"table {name!r} is not a mirrorable table ({sorted(MIRRORABLE)})")
            known = set(target.columns.keys())
            named: list[tuple[str, str]] = [(c, "key") for c in table.key]
            named += [(c, "columns") for c in table.columns]
            named += [(c, "constants") for c in table.constants]
            if isinstance(table.on_missing, OnMissing):
                for part in (table.on_missing.mark or {}, table.on_missing.delete or {}):
                    named += [(c, "on_missing") for c in part]
            for column, where in named:
                if column not in known:
                    raise ValueError(
                        f"tables.{name}.{where} names column {column!r}, which table {name!r} "
                        f"does not have (it has: {', '.join(sorted(known))})"
                    )
            missing_key = [k for k in table.key if k not in table.columns]
            if missing_key:
                raise ValueError(f"tables.{name}.key {missing_key} must be mapped in columns")


def default_config_text() -> str:
    return files("quoteflow.mirror").joinpath("mirror.yaml").read_text(encoding="utf-8")


def parse_config(text: str, source: str) -> MirrorConfig:
    """The validated configuration of ``text``; MirrorConfigError names ``source`` and why."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MirrorConfigError(f"{source}: not valid YAML ({exc})") from exc
    try:
        config = MirrorConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise MirrorConfigError(f"{source}: {problems}") from exc
    try:
        config.check_against_schema()
    except ValueError as exc:
        raise MirrorConfigError(f"{source}: {exc}") from exc
    return config


def load_config(path: Path | None = None) -> MirrorConfig:
    """The configuration at ``path``, else QUOTEFLOW_MIRROR_CONFIG_PATH, else the default."""
    from quoteflow.settings import get_settings

    path = path or get_settings().mirror_config_path
    if path is None:
        return _default_config()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MirrorConfigError(f"{path}: cannot be read ({exc})") from exc
    return parse_config(text, str(path))


@lru_cache(maxsize=1)
def _default_config() -> MirrorConfig:
    return parse_config(default_config_text(), "quoteflow/mirror/mirror.yaml (default)")
