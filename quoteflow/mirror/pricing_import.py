"""Import a pricing spreadsheet into pricing_master: check the whole file, then write
all of it in one transaction or nothing. The CLI (`quoteflow mirror import-pricing`) and
the approval page's upload both call ``import_pricing``.

Every row the file names is written (new, changed, and unchanged too: the import restates
the price as of now, so its rows count as fresh data); the rules are in
quoteflow.mirror.pricing_csv, the SQL in quoteflow.mirror.pricing_store.
"""

from __future__ import annotations

from quoteflow.db import session_scope
from quoteflow.mirror import pricing_store
from quoteflow.mirror.pricing_csv import (
    ImportReport,
    PricingFileError,
    parse_pricing_csv,
    plan_import,
    unknown_references,
)
from quoteflow.models import utcnow
from quoteflow.quote import check_school_year

SOURCE_PREFIX = "csv:"


def source_of(file_name: str) -> str:
    """pricing_master.source of rows a file wrote: ``csv:prices-2026.csv``."""
    return (SOURCE_PREFIX + (file_name.replace("\\", "/").rsplit("/", 1)[-1] or "upload"))[:64]


def import_pricing(
    data: bytes | str,
    *,
    school_year: str,
    file_name: str,
    dry_run: bool = False,
    url: str | None = None,
) -> ImportReport:
    """Check the file and (unless ``dry_run`` or any error) write every row in one
    transaction. A file with any bad row writes nothing and reports every bad row."""
    report = ImportReport(file_name=file_name, school_year=school_year, dry_run=dry_run)
    try:
        check_school_year(school_year)
        rows, errors = parse_pricing_csv(data)
    except (PricingFileError, ValueError) as exc:
        report.errors.append(str(exc))
        return report
    report.rows = len(rows) + len(errors)
    with session_scope(url) as session:
        customers = pricing_store.existing_customers(session, (r.customer_id for r in rows))
        items = pricing_store.existing_items(session, (r.item_code for r in rows))
        errors += unknown_references(rows, customers, items)
        if errors:
            report.errors = sorted(errors, key=_row_number)
            return report
        existing = pricing_store.current_prices(session, school_year, {r.customer_id for r in rows})
        plan = plan_import(rows, {key: price for key, (_, price) in existing.items()})
        report.new, report.changed = len(plan.new), len(plan.changed)
        report.unchanged = len(plan.unchanged)
        report.largest_moves = plan.largest_moves
        if dry_run:
            session.rollback()
            return report
        pricing_store.write_prices(
            session, school_year, rows, existing, source=source_of(file_name), now=utcnow()
        )
    report.written = True
    return report


def _row_number(error: str) -> int:
    """Errors in file order (``row 17, ...``)."""
    head = error.split(",", 1)[0].split(":", 1)[0]
    digits = head.removeprefix("row ").strip()
    return int(digits) if digits.isdigit() else 0
