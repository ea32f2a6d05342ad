"""Gather the contract page from the code's own declarations, and publish it as a
Prefect artifact (from the verify deployment). The page itself: quoteflow.contract."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from prefect import Task, task
from prefect.artifacts import create_markdown_artifact

from quoteflow import CONTRACT_VERSION, RISK_LEVEL, WORKFLOW_TYPE
from quoteflow.contract import (
    ContractPage,
    MirrorContext,
    MirrorTable,
    RetryPolicy,
    SideEffect,
    Step,
    Transition,
    VerifyCheck,
    input_fields,
    live_figures,
    render_markdown,
)
from quoteflow.lifecycle import TRANSITIONS
from quoteflow.models import ActionType
from quoteflow.quote import PRECONDITIONS, QuoteRequest
from quoteflow.run_rules import FANOUT_STEPS, VERIFY_WINDOWS
from quoteflow.settings import default_approver, get_settings
from quoteflow.verify import CHECK_NAMES

CONTRACT_ARTIFACT_KEY = "quoteflow-contract"

# What each fan-out step writes to, and the evidence that it is real: the test that runs it
# against a running service (the local stack: database, moto S3, fake NetSuite, SMTP sink).
# Declared here, not looked up in tests/ (an installed product has no tests/);
# tests/test_contract_evidence.py checks that each named test exists. A step without
# declared evidence is reported as STUB.
SIDE_EFFECT_TARGETS: dict[str, tuple[str, str]] = {
    "write_quote": (
        "quotes, quote_lines, proposed_pricing (SQLite / PostgreSQL)",
        "tests/test_customer_quote_flow.py::test_approve_path_in_every_system",
    ),
    "render_pdf": (
        "PDF in the S3 bucket (prefect-aws S3Bucket)",
        "tests/test_customer_quote_flow.py::test_approve_path_in_every_system",
    ),
    "send_email": (
        "send_quote_to_customer draft; sent over SMTP by send-quote-email after approval",
        "tests/test_send_quote_email.py::test_approved_email_is_sent_once_with_its_pdf",
    ),
    "ns_push": (
        "NetSuite estimate upsert by external id (OAuth1 HMAC-SHA256), through the outbox",
        "tests/test_customer_quote_flow.py::test_approve_path_in_every_system",
    ),
    "ar_forecast_touch": (
        "customer_profiles.last_quote_event",
        "tests/test_customer_quote_flow.py::test_approve_path_in_every_system",
    ),
}


def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj.fn if isinstance(obj, Task) else obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def sql_text(statement: Any) -> str:
    """The SQL as written in the code (``sa.text(...)``, with or without ``.columns()``)."""
    clause = getattr(statement, "element", statement)
    return str(getattr(clause, "text", statement))


def side_effects(
    declared: Mapping[str, tuple[str, str]] = SIDE_EFFECT_TARGETS,
) -> list[SideEffect]:
    """Each fan-out step's target, REAL with its declared test, else STUB."""
    out = []
    for step in FANOUT_STEPS:
        target, test = declared.get(step, ("undeclared", ""))
        out.append(
            SideEffect(
                step=step,
                target=target,
                status="REAL" if test else "STUB",
                evidence=test or "no test declared",
            )
        )
    return out


def _fanout_tasks() -> dict[str, Task[..., Any]]:
    from tasks.ar_forecast import touch_ar_forecast
    from tasks.email import draft_quote_email
    from tasks.netsuite import push_estimate
    from tasks.pdf import render_pdf
    from tasks.quotes import write_quote

    found = [write_quote, render_pdf, draft_quote_email, push_estimate, touch_ar_forecast]
    return {t.name: t for t in found}


def _post_action_tasks() -> list[Task[..., Any]]:
    from tasks.ledger import emit_workflow_event, log_run, stage_verify_checks, write_reflexion
    from tasks.reports import publish_run_summary

    return [log_run, write_reflexion, emit_workflow_event, publish_run_summary, stage_verify_checks]


def _deployments() -> dict[str, dict[str, Any]]:
    from deployments.deploy import deployment_specs

    return {d["name"]: d for d in deployment_specs()}


def _schedule(spec: dict[str, Any]) -> str:
    parts = []
    for s in spec.get("schedules", []):
        if "cron" in s:
            parts.append(f"cron `{s['cron']}`")
        elif "interval" in s:
            parts.append(f"every {s['interval']} s")
    return ", ".join(parts)


def mirror_context(deployment: dict[str, Any] | None) -> MirrorContext:
    """The mirror's tables, queries and freshness, from its configuration."""
    from quoteflow.mirror.config import OnMissing, load_config

    settings = get_settings()
    config = load_config()
    tables = []
    for name, cfg in config.tables.items():
        if isinstance(cfg.on_missing, OnMissing):
            if cfg.on_missing.delete is not None:
                scope = ", ".join(f"{k}={v}" for k, v in cfg.on_missing.delete.items())
                action = "deleted" + (f" (rows with {scope})" if scope else "")
            else:
                marks = ", ".join(f"{k}={v}" for k, v in (cfg.on_missing.mark or {}).items())
                action = f"marked {marks}"
        else:
            action = "kept"
        tables.append(
            MirrorTable(
                table=name,
                key=cfg.key,
                on_full_pass=action,
                suiteql=cfg.query("<cursor: modified, id after the last page>"),
            )
        )
    return MirrorContext(
        config=str(settings.mirror_config_path or "the default mirror.yaml (in the package)"),
        max_age_hours=settings.mirror_max_age_hours,
        schedule=(f"cron `{settings.mirror_cron}`, full pass cron `{settings.mirror_full_cron}`")
        if deployment
        else "not deployed",
        tables=tables,
    )


def collect_contract(*, live: bool = True) -> ContractPage:
    """The contract as the code declares it now (settings included), with live figures."""
    import tasks.context as context_queries
    from tasks.policy import alert_on_final_failure, fanout_task_options, is_transient

    settings = get_settings()
    deployments = _deployments()
    quote_dep = deployments["customer-quote"]
    triggers = [
        f"event `{', '.join(t['expect'])}` matching "
        + ", ".join(f"{k}={v}" for k, v in t.get("match", {}).items())
        for t in quote_dep.get("triggers", [])
    ] + [
        "`quoteflow actions approve` of a quote_draft (the same event)",
        "Slack: `/quote <customer> <items> [for <school year>]` or the same text in a direct "
        "message to the app; *Create quote* stages and approves a quote_draft (the same event)"
        f" (the approval page at /slack/events; block {settings.slack_block}, users in "
        "QUOTEFLOW_SLACK_APPROVERS)",
    ]
    options = fanout_task_options()
    tasks_by_name = _fanout_tasks()
    return ContractPage(
        workflow_type=WORKFLOW_TYPE,
        version=CONTRACT_VERSION,
        risk_level=RISK_LEVEL,
        flow_name="customer-quote",
        triggers=triggers,
        inputs=input_fields(QuoteRequest.model_json_schema()),
        queries={
            name: sql_text(value)
            for name, value in vars(context_queries).items()
            if name.endswith("_SQL")
        },
        mirror=mirror_context(deployments.get("mirror-sync")),
        preconditions=[tuple(p) for p in PRECONDITIONS],
        gate={
            "action type": ActionType.quote_gate.value,
            "approver": default_approver(),
            "risk level": f"{RISK_LEVEL} (>= 3 needs approval)",
            "approval window": f"{settings.approval_window_minutes:g} min "
            "(QUOTEFLOW_APPROVAL_WINDOW_MINUTES)",
            "decision": "approve | reject, notes, price overrides (each >= 0)",
            "margin floor": f"{settings.margin_floor_pct:g}% (QUOTEFLOW_MARGIN_FLOOR_PCT)",
            "decision channels": "approval page, signed email link, Slack buttons (Approve, "
            "Reject, Change prices; the message is updated as the run proceeds), "
            "`quoteflow actions`, the Prefect UI form: one ApprovalDecision, one approval "
            "service",
            "in a deployment": "suspend (no process held); elsewhere pause, polling every "
            f"{settings.pause_poll_seconds} s",
        },
        fanout=[
            Step(
                name=name,
                does=_first_line(tasks_by_name[name]) if name in tasks_by_name else "undeclared",
            )
            for name in FANOUT_STEPS
        ],
        side_effects=side_effects(),
        retry=RetryPolicy(
            attempts=options["retries"] + 1,
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
            delays_seconds=list(options["retry_delay_seconds"]),
            retries_on=_first_line(is_transient),
            alert_on_final_failure=alert_on_final_failure in options["on_failure"],
        ),
        post_actions=[Step(name=t.name, does=_first_line(t)) for t in _post_action_tasks()],
        verify_cron=_schedule(deployments["verify-checks"]),
        verify_checks=[
            VerifyCheck(
                name=name,
                due_after_seconds=VERIFY_WINDOWS[name].total_seconds(),
                deadline_minutes=settings.verify_deadline_minutes,
            )
            for name in CHECK_NAMES
        ],
        lifecycle=[
            Transition(
                action=str(action),
                allowed_from=sorted(rule.allowed_from),
                to=str(rule.to),
                event=rule.event_type,
                proposals=str(rule.proposals_to),
            )
            for action, rule in TRANSITIONS.items()
        ],
        scheduled=[
            f"`{name}`: {_schedule(spec)}; {spec.get('description', '')}"
            for name, spec in deployments.items()
            if spec.get("schedules")
        ],
        live=live_figures() if live else None,
    )


def contract_markdown(*, live: bool = True) -> str:
    return render_markdown(collect_contract(live=live))


@task(name="publish_contract_page")
def publish_contract_page() -> str:
    """The contract page, generated from the code with live figures, as a markdown artifact."""
    markdown = contract_markdown()
    create_markdown_artifact(
        key=CONTRACT_ARTIFACT_KEY,
        markdown=markdown,
        description="customer_quote contract, generated from quoteflow's code, with live figures",
    )
    return markdown
