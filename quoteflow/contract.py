"""The workflow contract page, generated from the code so it cannot drift from it.

``ContractPage`` holds what the code declares (gathered by ``tasks.contract``: the input
model's JSON schema, the SQL constants, the precondition rules, the gate settings, the
fan-out steps and their retry policy, the post actions, the verify check specs, the quote
lifecycle rules) plus live figures read here from the database. ``render_markdown`` is
the one presentation, used by ``quoteflow contract``, the page and the verify artifact.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field

from quoteflow.db import session_scope
from quoteflow.models import Event, ProposedAction, WorkflowRunLog, WorkflowVerifyResult, utcnow

EffectStatus = Literal["REAL", "STUB"]


class InputField(BaseModel):
    name: str
    type: str
    required: bool
    rule: str  # the schema's limits in words
    description: str


class Step(BaseModel):
    """A named step (task) and what it does, in its own docstring's words."""

    name: str
    does: str


class SideEffect(BaseModel):
    step: str
    target: str
    status: EffectStatus
    evidence: str  # the test that exercises it against a running service, or why STUB


class RetryPolicy(BaseModel):
    attempts: int
    base_seconds: float
    max_seconds: float
    delays_seconds: list[float]
    retries_on: str
    alert_on_final_failure: bool


class VerifyCheck(BaseModel):
    name: str
    due_after_seconds: float
    deadline_minutes: int


class Transition(BaseModel):
    action: str
    allowed_from: list[str]
    to: str
    event: str
    proposals: str


class MirrorTable(BaseModel):
    """One table of the local NetSuite mirror, as its configuration declares it."""

    table: str
    key: list[str]
    on_full_pass: str  # what a full pass does to rows NetSuite no longer returns
    suiteql: str


class MirrorContext(BaseModel):
    config: str  # where the configuration was read from
    max_age_hours: float
    schedule: str
    tables: list[MirrorTable]


class LiveFigures(BaseModel):
    since: datetime
    runs_by_outcome: dict[str, int]
    verify_by_status: dict[str, int]
    actions_waiting: dict[str, int]
    last_alert: dict[str, Any] | None


class ContractPage(BaseModel):
    workflow_type: str
    version: int
    risk_level: int
    flow_name: str
    triggers: list[str]
    inputs: list[InputField]
    queries: dict[str, str]
    mirror: MirrorContext | None = None
    preconditions: list[tuple[str, str, str]]  # (check, block|warn, rule)
    gate: dict[str, str]
    fanout: list[Step]
    side_effects: list[SideEffect]
    retry: RetryPolicy
    post_actions: list[Step]
    verify_cron: str
    verify_checks: list[VerifyCheck]
    lifecycle: list[Transition]
    scheduled: list[str]
    live: LiveFigures | None = Field(default=None)


def input_fields(schema: dict[str, Any]) -> list[InputField]:
    """The fields of a pydantic JSON schema, with their limits spelled out."""
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        variants = prop.get("anyOf", [prop])
        types = [v.get("type", "?") for v in variants]
        type_ = " | ".join(
            f"list[{v.get('items', {}).get('type', '?')}]" if v.get("type") == "array" else t
            for v, t in zip(variants, types, strict=True)
        )
        limits = []
        for v in variants:
            for key, word in (
                ("minLength", "min length"),
                ("maxLength", "max length"),
                ("minItems", "min items"),
                ("maxItems", "max items"),
                ("pattern", "pattern"),
            ):
                if key in v:
                    limits.append(f"{word} {v[key]}")
            items = v.get("items", {})
            if "pattern" in items:
                limits.append(f"each matches {items['pattern']}")
        if "default" in prop:
            limits.append(f"default {prop['default']!r}")
        out.append(
            InputField(
                name=name,
                type=type_,
                required=name in required,
                rule=", ".join(limits) or "-",
                description=prop.get("description", ""),
            )
        )
    return out


def live_figures(now: datetime | None = None, days: int = 7) -> LiveFigures:
    """Runs in the last ``days`` by outcome, verify results of those days by status,
    proposed actions waiting for Mike by type, and the last alert."""
    since = (now or utcnow()) - timedelta(days=days)
    with session_scope() as s:
        runs = s.execute(
            sa.select(WorkflowRunLog.status, sa.func.count())
            .where(WorkflowRunLog.started_at >= since)
            .group_by(WorkflowRunLog.status)
        ).all()
        verify = s.execute(
            sa.select(WorkflowVerifyResult.status, sa.func.count())
            .where(WorkflowVerifyResult.created_at >= since)
            .group_by(WorkflowVerifyResult.status)
        ).all()
        waiting = s.execute(
            sa.select(ProposedAction.action_type, sa.func.count())
            .where(ProposedAction.status == "pending")
            .group_by(ProposedAction.action_type)
        ).all()
        alert = (
            s.execute(
                sa.select(Event)
                .where(Event.type == "alert")
                .order_by(Event.occurred_at.desc(), Event.id.desc())
                .limit(1)
            )
            .scalars()
            .first()
        )
    return LiveFigures(
        since=since,
        runs_by_outcome=dict(sorted((str(k), int(v)) for k, v in runs)),
        verify_by_status=dict(sorted((str(k), int(v)) for k, v in verify)),
        actions_waiting=dict(sorted((str(k), int(v)) for k, v in waiting)),
        last_alert={"at": alert.occurred_at, **alert.payload} if alert else None,
    )


# ---------------------------------------------------------------- Markdown


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items()) or "none"


def what_changes(page: ContractPage) -> list[list[str]]:
    """Every write a run makes, aggregated: (target, status, source)."""
    rows = [[page.gate["action type"] + " proposed_actions row", "REAL", "HITL gate"]]
    rows += [
        [e.target, e.status, f"fan-out #{n} ({e.step})"]
        for n, e in enumerate(page.side_effects, start=1)
    ]
    rows += [[s.does, "REAL", f"post action {s.name}"] for s in page.post_actions]
    return rows


def _mirror_section(mirror: MirrorContext | None) -> list[str]:
    if mirror is None:
        return []
    return [
        "### The local mirror of NetSuite",
        f"These tables are kept by the `mirror-sync` deployment ({mirror.schedule}) from "
        f"{mirror.config}; rows older than {mirror.max_age_hours:g} h are stale "
        "(QUOTEFLOW_MIRROR_MAX_AGE_HOURS).",
        _table(
            ["table", "key", "on a full pass"],
            [[t.table, ", ".join(t.key), t.on_full_pass] for t in mirror.tables],
        ),
        "\n\n".join(f"**{t.table}** (SuiteQL)\n```sql\n{t.suiteql}\n```" for t in mirror.tables),
    ]


def render_markdown(page: ContractPage) -> str:
    """The contract page as Markdown, numbered like the original contract page (0-10),
    then the quote lifecycle, the schedules and the live figures."""
    r = page.retry
    real = sum(1 for e in page.side_effects if e.status == "REAL")
    parts = [
        f"# Contract: {page.workflow_type} v{page.version} (risk {page.risk_level})",
        "_Generated from quoteflow's code; every section below is read from a declaration._",
        "## 0. Flow",
        f"`{page.flow_name}`: trigger → context → preconditions → HITL gate → fan-out "
        f"({len(page.fanout)} steps) → post actions → verify ({len(page.verify_checks)} checks)",
        "## 1. Trigger",
        "\n".join(f"- {t}" for t in page.triggers),
        "## 2. Inputs (QuoteRequest JSON schema)",
        _table(
            ["field", "type", "required", "rule", "description"],
            [
                [f.name, f.type, "yes" if f.required else "no", f.rule, f.description]
                for f in page.inputs
            ],
        ),
        "## 3. Context loaded (tasks/context.py)",
        "\n\n".join(f"**{name}**\n```sql\n{sql}\n```" for name, sql in page.queries.items()),
        *_mirror_section(page.mirror),
        "## 4. Preconditions",
        _table(["check", "effect", "rule"], [list(p) for p in page.preconditions]),
        "## 5. HITL gate",
        _table(["setting", "value"], [[k, v] for k, v in page.gate.items()]),
        f"## 6. Fan-out targets: {len(page.side_effects)} total · {real} real · "
        f"{len(page.side_effects) - real} stub",
        _table(
            ["step", "does", "target", "status", "evidence"],
            [
                [s.name, s.does, e.target, e.status, e.evidence]
                for s, e in zip(page.fanout, page.side_effects, strict=True)
            ],
        ),
        "## 7. Post actions (every outcome)",
        _table(["step", "does"], [[s.name, s.does] for s in page.post_actions]),
        "## 8. Verify checks",
        f"Run by the scheduled `verify-checks` deployment: {page.verify_cron}.",
        _table(
            ["check", "due after (s)", "deadline (min)"],
            [[c.name, f"{c.due_after_seconds:g}", c.deadline_minutes] for c in page.verify_checks],
        ),
        "## 9. Retry policy (every fan-out step)",
        _table(
            ["setting", "value"],
            [
                ["max_attempts", r.attempts],
                ["backoff", "exponential, capped"],
                ["base_ms", f"{r.base_seconds * 1000:g}"],
                ["max_ms", f"{r.max_seconds * 1000:g}"],
                ["delays (s)", r.delays_seconds],
                ["retries on", r.retries_on.rstrip(".")],
                ["alert_on_final_failure", "true" if r.alert_on_final_failure else "false"],
            ],
        ),
        "## 10. What changes when this workflow runs",
        _table(["target", "status", "source"], what_changes(page)),
        "## After the run: the quote lifecycle",
        _table(
            ["action", "allowed from", "to", "event", "proposed pricing"],
            [
                [t.action, ", ".join(t.allowed_from), t.to, t.event, t.proposals]
                for t in page.lifecycle
            ],
        ),
        "## Scheduled deployments",
        "\n".join(f"- {s}" for s in page.scheduled),
    ]
    if page.live is not None:
        live = page.live
        alert = live.last_alert
        parts += [
            "## Live status",
            _table(
                ["figure", "value"],
                [
                    [f"runs since {live.since:%Y-%m-%d %H:%M} UTC", _counts(live.runs_by_outcome)],
                    ["verify results", _counts(live.verify_by_status)],
                    ["actions waiting for Mike", _counts(live.actions_waiting)],
                    [
                        "last alert",
                        f"{alert['at']:%Y-%m-%d %H:%M} UTC step {alert.get('step')} of run "
                        f"{alert.get('run_id')}: {alert.get('error')}"
                        if alert
                        else "none",
                    ],
                ],
            ),
        ]
    return "\n\n".join(parts) + "\n"
