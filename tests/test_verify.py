"""The verify sweep (contract section 8): pure decisions, then the verify-checks flow on the
real Prefect engine against the local stack (Prefect server, moto S3) and the session
database."""

from __future__ import annotations

import io
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket
from pypdf import PdfWriter
from sqlmodel import Session, select
from typer.testing import CliRunner

from quoteflow.models import (
    ActionType,
    Event,
    OutboundEmailLog,
    Quote,
    VerifyStatus,
    WorkflowVerifyResult,
)
from quoteflow.presentation import format_when
from quoteflow.settings import get_settings
from quoteflow.storage import pdf_key
from quoteflow.verify import (
    Observation,
    QuoteRow,
    StoredPdfHead,
    decide,
    event_key,
    event_type_for,
    malformed,
    observe_email_sent,
    observe_error,
    observe_pdf_stored,
    observe_quote_persisted,
    sweep_counts,
)
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_SCHOOL_YEAR

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DUE = T0 + timedelta(seconds=30)
DEADLINE = T0 + timedelta(minutes=60)
QUOTE = QuoteRow(id="Q-1", lifecycle_status="proposed")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def obs(outcome: str, detail: str = "seen") -> Observation:
    return Observation(outcome=outcome, detail=detail)  # type: ignore[arg-type]


# ---------------------------------------------------------------- pure decisions


@pytest.mark.parametrize(
    ("outcome", "minutes", "status"),
    [
        ("satisfied", 1, VerifyStatus.passed),
        ("satisfied", 90, VerifyStatus.passed),  # seen late, still true: pass
        ("impossible", 1, VerifyStatus.failed),
        ("impossible", 90, VerifyStatus.failed),
        ("not_yet", 1, VerifyStatus.pending),
        ("not_yet", 59.9, VerifyStatus.pending),
        ("not_yet", 60, VerifyStatus.timeout),  # the deadline itself is too late
        ("not_yet", 90, VerifyStatus.timeout),
        ("error", 1, VerifyStatus.pending),
        ("error", 61, VerifyStatus.timeout),
    ],
)
def test_decide_moves_a_due_pending_check(outcome: str, minutes: float, status: VerifyStatus):
    decision = decide("pending", obs(outcome), now=at(minutes), due_at=DUE, deadline=DEADLINE)
    assert decision.status == status
    assert decision.evaluated
    assert "seen" in decision.detail


def test_decide_explains_pending_and_timeout():
    pending = decide("pending", obs("not_yet", "no row"), now=at(5), due_at=DUE, deadline=DEADLINE)
    deadline = format_when(DEADLINE)  # one format, Mike's time zone: never UTC
    assert pending.detail == f"no row; retrying until {deadline}"
    late = decide("pending", obs("error", "error: boom"), now=at(61), due_at=DUE, deadline=DEADLINE)
    assert late.detail == f"not satisfied by the deadline {deadline}: error: boom"
    assert "UTC" not in pending.detail + late.detail


@pytest.mark.parametrize("finished", ["pass", "fail", "timeout"])
@pytest.mark.parametrize("outcome", ["satisfied", "impossible", "not_yet", "error"])
def test_decide_never_changes_a_finished_check(finished: str, outcome: str):
    decision = decide(finished, obs(outcome), now=at(90), due_at=DUE, deadline=DEADLINE)
    assert decision.status == VerifyStatus(finished)
    assert not decision.evaluated


def test_decide_does_not_judge_a_check_before_its_window():
    decision = decide(
        "pending", obs("impossible"), now=T0 + timedelta(seconds=29), due_at=DUE, deadline=DEADLINE
    )
    assert decision.status == VerifyStatus.pending
    assert not decision.evaluated
    assert decide("pending", obs("satisfied"), now=DUE, due_at=DUE, deadline=DEADLINE).evaluated


def test_quote_persisted_observation():
    seen = observe_quote_persisted("Q-1", QUOTE)
    assert (seen.outcome, seen.detail) == (
        "satisfied",
        "quote Q-1 is in quotes (lifecycle proposed)",
    )
    assert observe_quote_persisted("Q-1", None).outcome == "impossible"


def test_email_sent_observation():
    assert observe_email_sent("Q-1", QUOTE, 42).outcome == "satisfied"
    assert "42" in observe_email_sent("Q-1", QUOTE, 42).detail
    assert observe_email_sent("Q-1", QUOTE, None).outcome == "not_yet"
    gone = observe_email_sent("Q-1", None, None)
    assert (gone.outcome, gone.detail) == ("impossible", "quote Q-1 is not in quotes")


def test_pdf_stored_observation():
    key = "quotes/Q-1.pdf"
    pdf = StoredPdfHead(size=1200, content_type="application/pdf", prefix=b"%PDF-")
    text = StoredPdfHead(size=11, content_type="text/plain", prefix=b"hello")
    empty = StoredPdfHead(size=0, content_type=None, prefix=b"")
    assert observe_pdf_stored("Q-1", key, QUOTE, pdf).outcome == "satisfied"
    assert observe_pdf_stored("Q-1", key, QUOTE, None).outcome == "not_yet"
    not_pdf = observe_pdf_stored("Q-1", key, QUOTE, text)
    assert not_pdf.outcome == "impossible"
    assert "not a PDF" in not_pdf.detail and "b'hello'" in not_pdf.detail
    assert observe_pdf_stored("Q-1", key, QUOTE, empty).outcome == "impossible"
    assert observe_pdf_stored("Q-1", key, None, pdf).outcome == "impossible"


def test_malformed_checks_can_never_pass():
    assert malformed("quote_persisted", {"quote_id": "Q-1"}) is None
    assert malformed("pdf_stored", {"quote_id": "Q-1", "key": "quotes/Q-1.pdf"}) is None
    unknown = malformed("invoice_sent", {"quote_id": "Q-1"})
    assert unknown is not None and unknown.outcome == "impossible"
    for name, params in [
        ("email_sent", {}),
        ("email_sent", {"quote_id": ""}),
        ("quote_persisted", {"quote_id": 7}),
        ("pdf_stored", {"quote_id": "Q-1"}),
    ]:
        problem = malformed(name, params)
        assert problem is not None and problem.outcome == "impossible", (name, params)


def test_error_observation_is_bounded():
    seen = observe_error(RuntimeError("x" * 5000))
    assert seen.outcome == "error"
    assert seen.detail.startswith("error: RuntimeError: xxx")
    assert len(seen.detail) <= 1000


def test_events_and_counts():
    assert event_type_for(VerifyStatus.failed) == "verify.failed"
    assert event_type_for(VerifyStatus.timeout) == "verify.timeout"
    assert event_type_for(VerifyStatus.passed) is None
    assert event_type_for(VerifyStatus.pending) is None
    assert event_key(17, VerifyStatus.timeout) == "verify:17:timeout"
    counts = sweep_counts(["pass", "pass", "fail", "pending"], errors=1)
    assert counts == {
        "pending": 1,
        "pass": 2,
        "fail": 1,
        "timeout": 0,
        "skipped": 0,
        "evaluated": 4,
        "errors": 1,
    }


# ---------------------------------------------------------------- the flow, for real


def now() -> datetime:
    return datetime.now(UTC)


def session() -> Session:
    from quoteflow.db import get_engine

    return Session(get_engine(), expire_on_commit=False)


def new_quote_id() -> str:
    return f"QV-{uuid.uuid4().hex[:12].upper()}"


def insert_quote(quote_id: str) -> None:
    with session() as s:
        s.add(Quote(id=quote_id, customer_id=DEMO_CUSTOMER_ID, school_year=DEMO_SCHOOL_YEAR))
        s.commit()


def delete_quote(quote_id: str) -> None:
    with session() as s:
        s.execute(sa.delete(Quote).where(Quote.id == quote_id))
        s.commit()


def log_email(quote_id: str) -> int:
    with session() as s:
        row = OutboundEmailLog(
            related_quote_id=quote_id,
            message_id=f"<{uuid.uuid4().hex}@test.northwind-supply.example>",
            to_addr="buyer@district.example",
            subject=f"Quote {quote_id}",
        )
        s.add(row)
        s.commit()
        assert row.id is not None
        return row.id


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def pdf_bucket() -> S3Bucket:
    return S3Bucket.load("quoteflow-pdfs")


def stage(
    run_id: str,
    check_name: str,
    params: dict,
    *,
    due_in: timedelta = timedelta(seconds=-5),
    deadline_in: timedelta = timedelta(minutes=10),
) -> int:
    """A pending verify row, as a customer-quote run stages it."""
    t = now()
    with session() as s:
        row = WorkflowVerifyResult(
            run_id=run_id,
            workflow_type="customer_quote",
            check_name=check_name,
            params=params,
            due_at=t + due_in,
            deadline=t + deadline_in,
        )
        s.add(row)
        s.commit()
        assert row.id is not None
        return row.id


def rows(*ids: int) -> dict[int, WorkflowVerifyResult]:
    with session() as s:
        found = s.exec(select(WorkflowVerifyResult).where(WorkflowVerifyResult.id.in_(ids))).all()
        return {r.id: r for r in found}  # type: ignore[misc]


def events_for(check_id: int) -> list[Event]:
    with session() as s:
        return list(
            s.exec(select(Event).where(Event.idempotency_key.like(f"verify:{check_id}:%"))).all()
        )


def sweep(batch_size: int = 200) -> tuple[dict[str, int], list[dict[str, str]]]:
    """Run the flow on the engine; return its counts and its sweep table artifact."""
    from flows.verify_checks import verify_checks
    from quoteflow.cli.verify import sweep_artifact_rows

    state = verify_checks(batch_size=batch_size, return_state=True)
    assert state.is_completed(), state.message
    return state.result(), sweep_artifact_rows(state.state_details.flow_run_id)


def table_row(table: list[dict[str, str]], run_id: str, check: str) -> dict[str, str] | None:
    found = [r for r in table if r["run id"] == run_id and r["check"] == check]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.fixture
def verify_env(stack, seeded_db):
    get_settings.cache_clear()
    yield stack
    get_settings.cache_clear()
    # Deliver this test's buffered logs and events while the server is still up.
    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


@pytest.mark.usefixtures("verify_env")
def test_sweep_outcomes_events_and_idempotence():
    bucket = pdf_bucket()
    run = str(uuid.uuid4())

    # A complete quote: row, PDF, email: all three checks pass.
    ok = new_quote_id()
    insert_quote(ok)
    bucket.write_path(pdf_key(ok), pdf_bytes())
    email_id = log_email(ok)
    ok_quote = stage(run, "quote_persisted", {"quote_id": ok})
    ok_pdf = stage(run, "pdf_stored", {"quote_id": ok, "key": pdf_key(ok)})
    ok_email = stage(run, "email_sent", {"quote_id": ok})

    # Not emailed yet, deadline ahead: stays pending. Deadline passed: timeout.
    waiting = new_quote_id()
    insert_quote(waiting)
    waiting_email = stage(str(uuid.uuid4()), "email_sent", {"quote_id": waiting})
    waiting_pdf = stage(
        str(uuid.uuid4()), "pdf_stored", {"quote_id": waiting, "key": pdf_key(waiting)}
    )
    late = new_quote_id()
    insert_quote(late)
    late_email = stage(
        str(uuid.uuid4()),
        "email_sent",
        {"quote_id": late},
        due_in=timedelta(minutes=-61),
        deadline_in=timedelta(minutes=-1),
    )

    # The quote row is gone: every check of it fails.
    gone = new_quote_id()
    insert_quote(gone)
    bucket.write_path(pdf_key(gone), pdf_bytes())
    delete_quote(gone)
    gone_run = str(uuid.uuid4())
    gone_quote = stage(gone_run, "quote_persisted", {"quote_id": gone})
    gone_pdf = stage(gone_run, "pdf_stored", {"quote_id": gone, "key": pdf_key(gone)})

    # Something that is not a PDF at the key: fail.
    text = new_quote_id()
    insert_quote(text)
    bucket.write_path(pdf_key(text), b"<html>not a pdf</html>")
    text_pdf = stage(str(uuid.uuid4()), "pdf_stored", {"quote_id": text, "key": pdf_key(text)})

    # Not due for another hour: untouched, even though it would pass.
    not_due = stage(
        str(uuid.uuid4()), "quote_persisted", {"quote_id": ok}, due_in=timedelta(hours=1)
    )

    started = now()
    counts, table = sweep()
    after = rows(
        ok_quote, ok_pdf, ok_email, waiting_email, waiting_pdf, late_email, gone_quote, gone_pdf,
        text_pdf, not_due,
    )  # fmt: skip
    expected = {
        ok_quote: "pass",
        ok_pdf: "pass",
        ok_email: "pass",
        waiting_email: "pending",
        waiting_pdf: "pending",
        late_email: "timeout",
        gone_quote: "fail",
        gone_pdf: "fail",
        text_pdf: "fail",
    }
    for check_id, status in expected.items():
        row = after[check_id]
        assert row.status == status, (row.check_name, row.detail)
        assert row.attempts == 1
        assert row.checked_at is not None and row.checked_at >= started
        assert row.detail
        shown = table_row(table, row.run_id, row.check_name)
        assert shown is not None and shown["status"] == f"pending → {status}"
        assert shown["detail"] == row.detail
    assert f"outbound_email_log id {email_id}" in after[ok_email].detail
    assert "%PDF signature" in after[ok_pdf].detail
    assert f"quote {gone} is not in quotes" == after[gone_pdf].detail
    assert "not a PDF" in after[text_pdf].detail
    assert "not satisfied by the deadline" in after[late_email].detail
    assert f"no object at {pdf_key(waiting)}" in after[waiting_pdf].detail
    untouched = after[not_due]
    assert (untouched.status, untouched.attempts, untouched.checked_at) == ("pending", 0, None)
    assert table_row(table, untouched.run_id, "quote_persisted") is None

    # The returned counts describe the table the UI shows (other tests' rows included).
    assert counts["evaluated"] == len(table)
    for status in ("pass", "fail", "timeout", "pending"):
        assert counts[status] == sum(r["status"].endswith(f"→ {status}") for r in table)

    # One ledger event per failure or timeout, none for the others.
    for check_id in (gone_quote, gone_pdf, text_pdf):
        assert [(e.type, e.idempotency_key) for e in events_for(check_id)] == [
            ("verify.failed", f"verify:{check_id}:fail")
        ]
    assert [e.type for e in events_for(late_email)] == ["verify.timeout"]
    assert events_for(late_email)[0].payload["check"] == "email_sent"
    for check_id in (ok_quote, ok_pdf, ok_email, waiting_email, not_due):
        assert events_for(check_id) == []

    # A second sweep leaves finished checks alone and writes no event twice.
    _, table2 = sweep()
    again = rows(*after)
    for check_id, status in expected.items():
        if status == "pending":
            continue
        before, now_row = after[check_id], again[check_id]
        assert (now_row.status, now_row.attempts, now_row.checked_at, now_row.detail) == (
            before.status,
            before.attempts,
            before.checked_at,
            before.detail,
        )
        assert table_row(table2, now_row.run_id, now_row.check_name) is None
        assert len(events_for(check_id)) == (1 if status in ("fail", "timeout") else 0)
    assert again[waiting_email].status == "pending" and again[waiting_email].attempts == 2
    assert again[not_due].attempts == 0

    # Once Mike's email goes out, the next sweep passes the waiting check.
    log_email(waiting)
    sweep()
    final = rows(waiting_email)[waiting_email]
    assert (final.status, final.attempts) == ("pass", 3)


@pytest.mark.usefixtures("verify_env")
def test_batches_cover_every_due_check_once_in_due_order():
    quote_id = new_quote_id()
    insert_quote(quote_id)
    runs = [str(uuid.uuid4()) for _ in range(5)]
    ids = [
        stage(
            runs[i],
            "email_sent" if i == 2 else "quote_persisted",  # no email: stays pending
            {"quote_id": quote_id},
            due_in=timedelta(seconds=-60 + i),
        )
        for i in range(5)
    ]
    _, table = sweep(batch_size=2)
    after = rows(*ids)
    statuses = [after[i].status for i in ids]
    assert statuses == ["pass", "pass", "pending", "pass", "pass"]
    # The still-pending check was evaluated once, not re-selected by a later batch.
    assert [after[i].attempts for i in ids] == [1, 1, 1, 1, 1]
    mine = [r["run id"] for r in table if r["run id"] in {after[i].run_id for i in ids}]
    assert mine == [after[i].run_id for i in ids]


def test_a_finished_check_is_never_rewritten(seeded_db):
    """Two overlapping sweeps: only the first decision on a pending row is written."""
    from quoteflow.ledger import record_verify_decision
    from quoteflow.verify import CheckVerdict

    check_id = stage(str(uuid.uuid4()), "quote_persisted", {"quote_id": new_quote_id()})
    first = CheckVerdict(status=VerifyStatus.failed, detail="gone", evaluated=True)
    second = CheckVerdict(status=VerifyStatus.passed, detail="there", evaluated=True)
    assert record_verify_decision(check_id, first, now()) is True
    assert record_verify_decision(check_id, second, now()) is False
    row = rows(check_id)[check_id]
    assert (row.status, row.detail, row.attempts) == ("fail", "gone", 1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.usefixtures("verify_env")
def test_an_unreachable_bucket_is_recorded_and_the_sweep_goes_on(monkeypatch):
    # An S3Bucket block whose endpoint nothing listens on (connection refused at once).
    good = pdf_bucket()
    creds = AwsCredentials(
        aws_access_key_id=good.credentials.aws_access_key_id,
        aws_secret_access_key=good.credentials.aws_secret_access_key,
        region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(
            endpoint_url=f"http://127.0.0.1:{free_port()}",
            config={"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 2},
        ),
    )
    name = f"verify-test-down-{uuid.uuid4().hex[:8]}"
    S3Bucket(bucket_name=good.bucket_name, credentials=creds).save(name)
    monkeypatch.setenv("QUOTEFLOW_S3_BUCKET_BLOCK", name)
    get_settings.cache_clear()

    quote_id = new_quote_id()
    insert_quote(quote_id)
    run = str(uuid.uuid4())
    pdf = stage(run, "pdf_stored", {"quote_id": quote_id, "key": pdf_key(quote_id)})
    persisted = stage(run, "quote_persisted", {"quote_id": quote_id})
    late_run = str(uuid.uuid4())
    late_pdf = stage(
        late_run,
        "pdf_stored",
        {"quote_id": quote_id, "key": pdf_key(quote_id)},
        due_in=timedelta(minutes=-70),
        deadline_in=timedelta(minutes=-10),
    )

    counts, table = sweep()
    after = rows(pdf, persisted, late_pdf)
    assert after[pdf].status == "pending" and after[pdf].attempts == 1
    assert "error: EndpointConnectionError" in (after[pdf].detail or "")
    assert after[persisted].status == "pass"
    assert after[late_pdf].status == "timeout"
    assert "EndpointConnectionError" in (after[late_pdf].detail or "")
    assert counts["errors"] >= 2
    assert [e.type for e in events_for(late_pdf)] == ["verify.timeout"]

    # A block that does not exist: the reason is recorded on the pdf check.
    monkeypatch.setenv("QUOTEFLOW_S3_BUCKET_BLOCK", f"no-such-block-{uuid.uuid4().hex[:8]}")
    get_settings.cache_clear()
    sweep()
    row = rows(pdf)[pdf]
    assert row.status == "pending" and row.attempts == 2
    assert "could not be loaded" in (row.detail or "")


@pytest.mark.usefixtures("verify_env")
def test_batch_size_is_validated_by_the_flow():
    from flows.verify_checks import verify_checks

    state = verify_checks(batch_size=0, return_state=True)
    assert state.is_failed()
    assert "batch_size: Input should be greater than or equal to 1" in (state.message or "")


@pytest.mark.usefixtures("verify_env")
def test_cli_verify_now_prints_the_sweep(stack, monkeypatch, tmp_path: Path):
    from quoteflow.cli.verify import app

    quote_id = new_quote_id()
    insert_quote(quote_id)
    run = str(uuid.uuid4())
    check_id = stage(run, "quote_persisted", {"quote_id": quote_id})
    runner = CliRunner()

    result = runner.invoke(app, ["now", "--batch-size", "50"])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if run in ln)
    assert "quote_persisted" in line and quote_id in line and "pending → pass" in line
    assert "EVALUATED" in result.output and "ERRORS" in result.output
    assert rows(check_id)[check_id].status == "pass"

    # Without PREFECT_API_URL, `quoteflow` takes the local stack's server (the dev plugin
    # names it, quoteflow.cli.main points the process at it) ...
    from devstack.cli import local_api_url

    monkeypatch.setenv("QUOTEFLOW_STATE_DIR", str(stack.state_dir))
    get_settings.cache_clear()
    assert local_api_url() == stack.prefect.api_url
    monkeypatch.setenv("QUOTEFLOW_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    assert local_api_url() is None

    # ... and with neither the command says so, without starting a server of its own.
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert not PREFECT_API_URL.value()
        result = runner.invoke(app, ["now"])
        assert result.exit_code == 1
        assert "no Prefect server" in result.output


def test_email_sent_observation_of_a_declined_draft_is_moot():
    quote = QuoteRow(id="Q1", lifecycle_status="proposed")
    seen = observe_email_sent("Q1", quote, None, "rejected")
    assert seen.outcome == "moot" and "declined" in seen.detail
    assert observe_email_sent("Q1", quote, None, "pending").outcome == "not_yet"
    assert observe_email_sent("Q1", quote, 7, "rejected").outcome == "satisfied"  # sent anyway
    skipped = decide("pending", seen, now=at(90), due_at=at(0), deadline=at(60))
    assert skipped.status == VerifyStatus.skipped and skipped.detail == seen.detail
    assert event_type_for(VerifyStatus.skipped) is None


@pytest.mark.usefixtures("verify_env")
def test_a_declined_email_skips_its_check_instead_of_timing_out():
    from quoteflow.approvals import reject, stage_action

    quote_id = new_quote_id()
    insert_quote(quote_id)
    draft = stage_action(
        action_type=ActionType.send_quote,
        entity_ref=f"quote:{quote_id}",
        payload={"quote_id": quote_id, "to": "buyer@example.org", "subject": "Quote"},
    )
    reject(draft.id, notes="customer asked us not to email")
    check_id = stage(
        str(uuid.uuid4()),
        "email_sent",
        {"quote_id": quote_id},
        due_in=timedelta(minutes=-61),
        deadline_in=timedelta(minutes=-1),  # past its deadline: it would time out
    )
    counts, table = sweep()
    row = rows(check_id)[check_id]
    assert row.status == "skipped" and "declined" in row.detail
    assert events_for(check_id) == []  # no verify.timeout
    assert table_row(table, row.run_id, "email_sent")["status"] == "pending → skipped"
    assert counts["skipped"] >= 1
    with session() as s:
        declined = s.exec(
            select(Event).where(Event.idempotency_key == f"email-declined:{draft.id}")
        ).one()
    assert declined.type == "quote.email_declined" and declined.payload["quote_id"] == quote_id


@pytest.mark.parametrize(
    ("lifecycle", "draft", "words"),
    [
        ("accepted", "pending", "was accepted before its email was sent"),
        ("rejected", "pending", "was declined before its email was sent"),
        ("expired", None, "expired before its email was sent"),
        ("superseded", "pending", "replaced by a newer quote"),
        ("proposed", "expired", "expired unsent"),
        ("proposed", "rejected", "chose not to send it"),
    ],
)
def test_email_sent_for_an_email_never_to_be_sent_is_recorded_once_not_retried(
    lifecycle, draft, words
):
    seen = observe_email_sent("Q1", QuoteRow(id="Q1", lifecycle_status=lifecycle), None, draft)
    assert seen.outcome == "moot"
    assert seen.detail.startswith("not sent by decision: ") and words in seen.detail
    # before the deadline it is finished, not "retrying until ..."
    decided = decide("pending", seen, now=at(5), due_at=at(0), deadline=at(60))
    assert decided.status == VerifyStatus.skipped and "retrying" not in decided.detail
    # an email that did go out still passes, whatever happened to the quote later
    assert (
        observe_email_sent("Q1", QuoteRow(id="Q1", lifecycle_status=lifecycle), 7, draft).outcome
        == "satisfied"
    )
