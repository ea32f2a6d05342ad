"""Pricing from a spreadsheet: the file's rules (header, the one price rule, duplicates),
unknown customers and items named, all rows or none, the dry run's figures, and the
`quoteflow mirror import-pricing` command. On the session's backend (SQLite, or
PostgreSQL with QUOTEFLOW_TEST_DB=postgresql), in a private seeded database."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from quoteflow.mirror.pricing_csv import PricingFileError, parse_pricing_csv
from quoteflow.mirror.pricing_import import import_pricing
from quoteflow.settings import get_settings
from tests.fixtures.demo import DEMO_CUSTOMER_ID, UNKNOWN_ITEM_CODE
from tests.fixtures.pricing import stored_prices

HEADER = "customer_id,item_code,case_price,cost_basis\n"


# ---------------------------------------------------------------- the file's rules


def test_bad_prices_are_named_by_row_column_value_and_rule():
    rows, errors = parse_pricing_csv(
        HEADER
        + "1107,FS-1001,41.50,30.00\n"
        + '1107,FS-1002,"14,90",\n'
        + "1107,FS-1004,12.345,\n"
        + "1107,FS-1005,-3.00,\n"
        + "1107,FS-1007,9.99,abc\n"
        + "1107,FS-1014,,\n"
    )
    assert [r.item_code for r in rows] == ["FS-1001"]
    assert errors[0].startswith("row 3, case_price: '14,90' is not a 2-decimal price (")
    assert "decimal comma" in errors[0]
    assert errors[1].startswith("row 4, case_price: '12.345' is not a 2-decimal price")
    assert "more than 2 decimal places" in errors[1]
    assert errors[2].startswith("row 5, case_price: '-3.00' is not a 2-decimal price")
    assert errors[3].startswith("row 6, cost_basis: 'abc' is not a 2-decimal price")
    assert errors[4].startswith("row 7, case_price: '' is not a 2-decimal price (is empty)")
    assert len(errors) == 5


def test_duplicate_rows_are_refused_naming_both_rows():
    _, errors = parse_pricing_csv(
        HEADER + "1107,FS-1001,41.50,\n1107,FS-1002,9.00,\n 1107 ,FS-1001,42.00,\n"
    )
    assert errors == [
        "row 4: customer 1107 item FS-1001 is priced twice (also row 2); keep one row"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("customer,item_code,case_price\n1107,FS-1001,1.00\n", "missing column(s): customer_id"),
        (
            "customer_id,item_code,case_price,discount\n1107,FS-1001,1.00,2\n",
            "unknown column(s): 'discount'",
        ),
        (
            "customer_id,item_code,case_price,case_price\n1107,FS-1001,1.00,2\n",
            "column(s) given twice: case_price",
        ),
        ("customer_id;item_code;case_price\n1107;FS-1001;1.00\n", "separated by semicolons"),
        ("", "the file is empty"),
        ("customer_id,item_code,case_price\n\n", "no price rows"),
    ],
)
def test_bad_header_or_empty_file_is_refused_whole(text: str, expected: str):
    with pytest.raises(PricingFileError) as caught:
        parse_pricing_csv(text)
    assert expected in str(caught.value)


def test_header_is_trimmed_case_blind_and_a_spreadsheet_bom_is_read():
    rows, errors = parse_pricing_csv(
        "\ufeff Customer_ID ,ITEM_CODE,Case_Price\r\n1107,FS-1001,41.5\r\n".encode()
    )
    assert errors == []
    assert rows[0].case_price == Decimal("41.5") and rows[0].cost_basis is None


def test_not_utf8_is_refused():
    with pytest.raises(PricingFileError, match="not UTF-8"):
        parse_pricing_csv(HEADER.encode() + "1107,FS-1001,4\xe9\n".encode("latin-1"))


# ---------------------------------------------------------------- against the database


def test_unknown_customer_and_item_are_named_and_nothing_is_written(pricing_db, import_year):
    report = import_pricing(
        HEADER
        + f"{DEMO_CUSTOMER_ID},FS-1001,41.50,30.00\n"
        + "9999,FS-1002,10.00,\n"
        + f"{DEMO_CUSTOMER_ID},{UNKNOWN_ITEM_CODE},10.00,\n",
        school_year=import_year,
        file_name="p.csv",
        url=pricing_db,
    )
    assert report.errors == [
        "row 3, customer_id: '9999' is not a known customer",
        f"row 4, item_code: '{UNKNOWN_ITEM_CODE}' is not a catalog item",
    ]
    assert not report.written and stored_prices(pricing_db) == {}


def test_one_bad_row_writes_nothing_then_the_fixed_file_writes_every_row(pricing_db, import_year):
    good = f"{DEMO_CUSTOMER_ID},FS-1001,41.50,30.00\n{DEMO_CUSTOMER_ID},FS-1002,12.00,\n"
    bad = import_pricing(
        HEADER + good + f'{DEMO_CUSTOMER_ID},FS-1004,"14,90",\n',
        school_year=import_year,
        file_name="p.csv",
        url=pricing_db,
    )
    assert len(bad.errors) == 1 and bad.errors[0].startswith("row 4, case_price: '14,90'")
    assert stored_prices(pricing_db) == {}

    fixed = import_pricing(
        HEADER + good + f"{DEMO_CUSTOMER_ID},FS-1004,14.90,\n",
        school_year=import_year,
        file_name="prices.csv",
        url=pricing_db,
    )
    assert fixed.ok and fixed.written and (fixed.new, fixed.changed, fixed.unchanged) == (3, 0, 0)
    stored = stored_prices(pricing_db)
    assert {k: v.case_price for k, v in stored.items()} == {
        (DEMO_CUSTOMER_ID, "FS-1001"): Decimal("41.50"),
        (DEMO_CUSTOMER_ID, "FS-1002"): Decimal("12.00"),
        (DEMO_CUSTOMER_ID, "FS-1004"): Decimal("14.90"),
    }
    row = stored[(DEMO_CUSTOMER_ID, "FS-1001")]
    assert row.cost_basis == Decimal("30.00") and row.margin_pct == Decimal("27.71")
    assert row.source == "csv:prices.csv"
    assert stored[(DEMO_CUSTOMER_ID, "FS-1002")].cost_basis is None


def test_dry_run_counts_new_changed_unchanged_and_the_largest_moves(pricing_db, import_year):
    items = [f"FS-10{n:02d}" for n in range(1, 16)]  # FS-1001..FS-1015
    first = "".join(f"{DEMO_CUSTOMER_ID},{code},10.00,5.00\n" for code in items[:13])
    assert import_pricing(
        HEADER + first, school_year=import_year, file_name="a.csv", url=pricing_db
    ).written
    before = {k: (v.case_price, v.updated_at) for k, v in stored_prices(pricing_db).items()}

    # 12 prices move by 1..12 dollars, FS-1013 unchanged, two new items.
    moved = "".join(
        f"{DEMO_CUSTOMER_ID},{code},{10 + n}.00,\n" for n, code in enumerate(items[:12], start=1)
    )
    second = (
        HEADER
        + moved
        + f"{DEMO_CUSTOMER_ID},{items[12]},10.00,\n"
        + "".join(f"{DEMO_CUSTOMER_ID},{code},3.00,1.00\n" for code in items[13:])
    )
    report = import_pricing(
        second, school_year=import_year, file_name="b.csv", dry_run=True, url=pricing_db
    )
    assert report.ok and not report.written and report.dry_run
    assert (report.rows, report.new, report.changed, report.unchanged) == (15, 2, 12, 1)
    moves = [(m.item_code, m.old_price, m.new_price) for m in report.largest_moves]
    assert len(moves) == 10
    assert moves[0] == ("FS-1012", Decimal("10.00"), Decimal("22.00"))
    assert moves[-1] == ("FS-1003", Decimal("10.00"), Decimal("13.00"))
    assert report.largest_moves[0].change_pct == Decimal("120.0")
    # Nothing written by the dry run.
    assert {k: (v.case_price, v.updated_at) for k, v in stored_prices(pricing_db).items()} == before

    real = import_pricing(second, school_year=import_year, file_name="b.csv", url=pricing_db)
    assert (real.new, real.changed, real.unchanged) == (2, 12, 1) and real.written
    after = stored_prices(pricing_db)
    assert after[(DEMO_CUSTOMER_ID, "FS-1012")].case_price == Decimal("22.00")
    # No cost in the file: the stored cost is kept and the margin follows the new price.
    assert after[(DEMO_CUSTOMER_ID, "FS-1012")].cost_basis == Decimal("5.00")
    assert after[(DEMO_CUSTOMER_ID, "FS-1012")].margin_pct == Decimal("77.27")
    assert len(after) == 15


def test_bad_school_year_is_refused(pricing_db):
    report = import_pricing(
        HEADER + "1107,FS-1001,1.00,\n", school_year="2026-28", file_name="p.csv", url=pricing_db
    )
    assert report.errors == ["school year must span consecutive years, e.g. 2026-27"]


# ---------------------------------------------------------------- the command


@pytest.fixture
def cli(pricing_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    """`quoteflow`'s own typer app, on the private database."""
    from quoteflow.cli.app import app

    monkeypatch.setenv("QUOTEFLOW_DATABASE_URL", pricing_db)
    get_settings.cache_clear()
    yield app
    get_settings.cache_clear()


def test_command_dry_run_then_import_and_a_refused_file(
    cli, pricing_db, import_year, tmp_path: Path
):
    runner = CliRunner()
    good = tmp_path / "prices.csv"
    good.write_text(HEADER + f"{DEMO_CUSTOMER_ID},FS-1001,41.50,30.00\n")
    dry = runner.invoke(
        cli, ["mirror", "import-pricing", str(good), "--school-year", import_year, "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert (
        f"prices.csv, school year {import_year}: 1 price row(s): 1 new, 0 changed, 0 unchanged."
        in (dry.output)
    )
    assert "Dry run: nothing written." in dry.output and stored_prices(pricing_db) == {}

    done = runner.invoke(cli, ["mirror", "import-pricing", str(good), "--school-year", import_year])
    assert done.exit_code == 0 and "Saved" in done.output
    assert stored_prices(pricing_db)[(DEMO_CUSTOMER_ID, "FS-1001")].case_price == Decimal("41.50")

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + f'{DEMO_CUSTOMER_ID},FS-1001,"14,90",\n')
    refused = runner.invoke(
        cli, ["mirror", "import-pricing", str(bad), "--school-year", import_year]
    )
    assert refused.exit_code == 1
    assert "bad.csv: nothing written, 1 problem(s):" in refused.output
    assert "row 2, case_price: '14,90' is not a 2-decimal price" in refused.output
    assert stored_prices(pricing_db)[(DEMO_CUSTOMER_ID, "FS-1001")].case_price == Decimal("41.50")
