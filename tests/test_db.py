"""Migrations on SQLite and PostgreSQL: schema = models, up and down, exact money,
UTC timestamps, and the indexes the workflow's hot queries rely on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import StatementError
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from quoteflow import migrate
from quoteflow.cli import db as db_cli
from quoteflow.db import get_engine
from quoteflow.models import Customer, CustomerProfile, Quote, WorkflowVerifyResult
from quoteflow.settings import get_settings
from tasks import context as context_queries
from tasks.contract import sql_text
from tests.fixtures.db import BACKENDS, session_backend

HEAD_REVISION = "0005_mirror"  # the newest migration (re-chained at merge)
MODEL_TABLES = set(SQLModel.metadata.tables)

OPEN_QUOTES_SQL = sql_text(context_queries.OPEN_QUOTES_SQL)  # the flow's own query
DUE_CHECKS_SQL = (
    "SELECT id FROM workflow_verify_results WHERE status = 'pending' AND due_at <= :now"
)


@pytest.fixture(params=BACKENDS)
def migrated_url(request: pytest.FixtureRequest, fresh_database_url: Callable[[str], str]) -> str:
    url = fresh_database_url(request.param)
    migrate.upgrade(url)
    return url


def schema_diffs(url: str) -> list[object]:
    engine = migrate.migration_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, SQLModel.metadata))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = migrate.migration_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_every_model_table_at_head(migrated_url: str) -> None:
    assert migrate.current(migrated_url) == migrate.head() == HEAD_REVISION
    assert table_names(migrated_url) == MODEL_TABLES | {"alembic_version"}


def test_migrated_schema_matches_the_models(migrated_url: str) -> None:
    assert schema_diffs(migrated_url) == []


def test_schema_comparison_reports_a_missing_index(migrated_url: str) -> None:
    # The comparison above is only worth something if it sees drift.
    engine = migrate.migration_engine(migrated_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_verify_status_due"))
    engine.dispose()
    diffs = schema_diffs(migrated_url)
    assert [(d[0], d[1].name) for d in diffs] == [("add_index", "ix_verify_status_due")]


def test_downgrade_to_base_then_upgrade_again(migrated_url: str) -> None:
    migrate.downgrade(migrated_url, "base")
    assert migrate.current(migrated_url) is None
    assert table_names(migrated_url) == {"alembic_version"}

    migrate.upgrade(migrated_url)
    assert migrate.current(migrated_url) == migrate.head()
    assert schema_diffs(migrated_url) == []


def test_upgrade_again_is_a_no_op(migrated_url: str) -> None:
    with Session(get_engine(migrated_url)) as session:
        session.add(Customer(id="9001", name="Kept Across Upgrades ISD"))
        session.commit()
    migrate.upgrade(migrated_url)
    assert migrate.current(migrated_url) == migrate.head()
    with Session(get_engine(migrated_url)) as session:
        assert session.get(Customer, "9001") is not None


def test_current_is_none_before_any_migration(
    fresh_database_url: Callable[[str], str], tmp_path: Path
) -> None:
    assert migrate.current(fresh_database_url("postgresql")) is None
    missing = tmp_path / "not-yet" / "quoteflow.db"
    assert migrate.current(f"sqlite:///{missing}") is None
    assert not missing.parent.exists(), "looking at a database must not create it"


def test_upgrade_defaults_to_settings_and_creates_the_sqlite_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state" / "nested" / "quoteflow.db"
    monkeypatch.setenv("QUOTEFLOW_DATABASE_URL", f"sqlite:///{target}")
    get_settings.cache_clear()
    try:
        migrate.upgrade()
        assert target.is_file()
        assert migrate.current() == migrate.head()
    finally:
        get_settings.cache_clear()
    assert migrate.current(f"sqlite:///{target}") == migrate.head()


def test_plain_postgresql_urls_go_through_psycopg(
    fresh_database_url: Callable[[str], str],
) -> None:
    url = fresh_database_url("postgresql").replace("postgresql+psycopg://", "postgresql://", 1)
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()


def test_cli_migrate_and_status_from_another_directory(
    fresh_database_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = fresh_database_url("sqlite")
    cli = Path(sys.executable).with_name("quoteflow")

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(cli), "db", *args, "--url", url],
            cwd=tmp_path,  # not the repo: the migration scripts must come from the package
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "NO_COLOR": "1"},
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert f"migrated empty -> {HEAD_REVISION} (head)" in run("migrate")
    status = run("status")
    assert f"revision: {HEAD_REVISION} (up to date)" in status
    for table in MODEL_TABLES:
        assert re.search(rf"^  {table} +0$", status, re.MULTILINE), status


def test_cli_status_before_and_after_migrate(fresh_database_url: Callable[[str], str]) -> None:
    url = fresh_database_url("postgresql")
    runner = CliRunner()

    before = runner.invoke(db_cli.app, ["status", "--url", url])
    assert before.exit_code == 0, before.output
    assert "not migrated" in before.output and "rows:" not in before.output

    for expected in (
        f"migrated empty -> {HEAD_REVISION} (head)",
        f"already at {HEAD_REVISION} (head)",
    ):
        result = runner.invoke(db_cli.app, ["migrate", "--url", url])
        assert result.exit_code == 0, result.output
        assert expected in result.output
        assert "postgres@127.0.0.1" in result.output


def test_cli_reports_an_unreachable_database_without_a_traceback() -> None:
    result = CliRunner().invoke(
        db_cli.app, ["migrate", "--url", "postgresql://nobody:s3cret@127.0.0.1:9/none"]
    )
    assert result.exit_code == 1
    assert "database error: OperationalError" in result.output
    assert "s3cret" not in result.output
    assert "Traceback" not in result.output


def test_timestamps_come_back_as_the_same_instant_in_utc(migrated_url: str) -> None:
    eastern = ZoneInfo("America/New_York")
    now = datetime(2026, 3, 8, 14, 0, tzinfo=UTC)
    # 10:30 in New York is 14:30 UTC: due *after* `now`, although its wall clock says earlier.
    later_but_earlier_wall_clock = datetime(2026, 3, 8, 10, 30, tzinfo=eastern)
    earlier = now - timedelta(minutes=5)
    with Session(get_engine(migrated_url)) as session:
        for name, due in (("later", later_but_earlier_wall_clock), ("earlier", earlier)):
            session.add(
                WorkflowVerifyResult(
                    run_id=f"run-{name}",
                    workflow_type="customer_quote",
                    check_name="quote_persisted",
                    due_at=due,
                    deadline=due + timedelta(hours=1),
                )
            )
        session.commit()

    with Session(get_engine(migrated_url)) as session:
        rows = {r.run_id: r for r in session.exec(select(WorkflowVerifyResult))}
        later = rows["run-later"].due_at
        assert later == later_but_earlier_wall_clock
        assert later.tzinfo is UTC and later.hour == 14 and later.minute == 30
        assert rows["run-earlier"].due_at == earlier
        assert rows["run-earlier"].created_at.tzinfo is UTC

        due = session.exec(
            select(WorkflowVerifyResult.run_id).where(
                WorkflowVerifyResult.status == "pending", WorkflowVerifyResult.due_at <= now
            )
        ).all()
        assert due == ["run-earlier"]

    with (
        pytest.raises(StatementError, match="naive datetime"),
        Session(get_engine(migrated_url)) as session,
    ):
        session.add(Customer(id="9002", name="Naive ISD", created_at=datetime(2026, 1, 1)))
        session.commit()


def test_timestamp_columns_are_timezone_aware_on_postgresql(
    fresh_database_url: Callable[[str], str],
) -> None:
    url = fresh_database_url("postgresql")
    migrate.upgrade(url)
    engine = migrate.migration_engine(url)
    with engine.connect() as conn:
        types = {
            (row.table_name, row.column_name): row.data_type
            for row in conn.execute(
                sa.text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type LIKE 'timestamp%'"
                )
            )
        }
    engine.dispose()
    assert types, "no timestamp columns found"
    assert set(types.values()) == {"timestamp with time zone"}
    assert types[("workflow_verify_results", "due_at")] == "timestamp with time zone"


def test_money_round_trips_exactly(migrated_url: str) -> None:
    amounts = {
        "credit_limit": Decimal("9999999999.99"),  # the largest Numeric(12, 2)
        "ar_balance": Decimal("0.10") + Decimal("0.20"),
        "forecast_90d": Decimal("-1234.05"),
    }
    with Session(get_engine(migrated_url)) as session:
        session.add(Customer(id="9003", name="Exact Money USD"))
        session.flush()
        session.add(CustomerProfile(customer_id="9003", **amounts))
        session.add(
            Quote(
                id="Q-MONEY",
                customer_id="9003",
                school_year="2026-27",
                subtotal=Decimal("1234567.89"),
                cost_total=Decimal("1049382.71"),
                margin_pct=Decimal("-12.34"),
            )
        )
        session.commit()

    with Session(get_engine(migrated_url)) as session:
        profile = session.get(CustomerProfile, "9003")
        assert profile is not None
        for field, expected in amounts.items():
            value = getattr(profile, field)
            assert isinstance(value, Decimal)
            assert value == expected and str(value) == str(expected.quantize(Decimal("0.01")))
        quote = session.get(Quote, "Q-MONEY")
        assert quote is not None
        assert (quote.subtotal, quote.cost_total, quote.margin_pct) == (
            Decimal("1234567.89"),
            Decimal("1049382.71"),
            Decimal("-12.34"),
        )
        total = session.exec(
            select(sa.func.sum(CustomerProfile.ar_balance + CustomerProfile.forecast_90d))
        ).one()
        assert Decimal(total) == Decimal("-1233.75")


def _index_columns(url: str, table: str) -> dict[str, list[str]]:
    engine = migrate.migration_engine(url)
    try:
        return {ix["name"]: ix["column_names"] for ix in sa.inspect(engine).get_indexes(table)}
    finally:
        engine.dispose()


def _plan(url: str, sql: str, params: dict[str, object]) -> str:
    engine = migrate.migration_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                rows = conn.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}"), params).all()
                return "\n".join(str(r[-1]) for r in rows)
            # Empty tables are cheapest to scan; ask whether the index *can* serve the query.
            conn.execute(sa.text("SET enable_seqscan = off"))
            rows = conn.execute(sa.text(f"EXPLAIN {sql}"), params).all()
            return "\n".join(r[0] for r in rows)
    finally:
        engine.dispose()


def test_indexes_serve_open_quotes_and_due_verify_checks(migrated_url: str) -> None:
    quotes = _index_columns(migrated_url, "quotes")
    assert quotes["ix_quotes_customer_open"] == ["customer_id", "lifecycle_status", "generated_at"]
    verify = _index_columns(migrated_url, "workflow_verify_results")
    assert verify["ix_verify_status_due"] == ["status", "due_at"]

    plan = _plan(
        migrated_url, OPEN_QUOTES_SQL, {"customer_id": "1107", "today": datetime.now(UTC).date()}
    )
    assert "ix_quotes_customer_open" in plan, plan
    plan = _plan(migrated_url, DUE_CHECKS_SQL, {"now": datetime.now(UTC)})
    assert "ix_verify_status_due" in plan, plan


def test_session_database_is_migrated_and_exported(database_url: str, db_session: Session) -> None:
    assert os.environ["QUOTEFLOW_DATABASE_URL"] == database_url
    assert get_settings().resolved_database_url == database_url
    assert migrate.current(database_url) == migrate.head()
    assert db_session.get_bind().url.render_as_string(hide_password=False) == database_url
    assert db_session.get_bind().dialect.name == session_backend()
    assert set(sa.inspect(db_session.get_bind()).get_table_names()) >= MODEL_TABLES


def test_insert_once_and_get_or_create_keep_one_row_per_key(migrated_url: str) -> None:
    from quoteflow.db import get_or_create, insert_once
    from quoteflow.models import Event, NsPendingPush

    key = f"once-{migrated_url[-12:]}"
    engine = get_engine(migrated_url)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        assert insert_once(session, Event(type="alert", idempotency_key=key, payload={"n": 1}))
        # The same key again: nothing inserted, and the transaction is still usable.
        assert not insert_once(session, Event(type="alert", idempotency_key=key, payload={"n": 2}))
        first = get_or_create(
            session,
            NsPendingPush(external_id="Q-ONCE", quote_id="Q-ONCE", payload={"v": 1}),
            record_type="estimate",
            external_id="Q-ONCE",
        )
        again = get_or_create(
            session,
            NsPendingPush(external_id="Q-ONCE", quote_id="Q-ONCE", payload={"v": 2}),
            record_type="estimate",
            external_id="Q-ONCE",
        )
    assert again.id == first.id and again.payload == {"v": 1}
    with Session(get_engine(migrated_url)) as session:
        events = session.exec(select(Event).where(Event.idempotency_key == key)).all()
        pushes = session.exec(select(NsPendingPush).where(NsPendingPush.external_id == "Q-ONCE"))
        assert [e.payload for e in events] == [{"n": 1}]
        assert len(pushes.all()) == 1
