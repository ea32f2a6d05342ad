"""The workflow contract page, generated from the code so it cannot drift from it.

``ContractPage`` holds what the code declares (gathered by ``tasks.contract``: the input
model's JSON schema, the SQL constants, the precondition rules, the gate settings, the
fan-out steps and their retry policy, the post actions, the verify check specs, the quote
lifecycle rules) plus live figures read here from the database. ``contract_document``
turns it into the one document model; its Markdown (``render_markdown``: ``quoteflow
contract`` and the verify artifact) and the approval page's HTML are two templates over it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import sqlalchemy as sa
from jinja2 import Environment, PackageLoader, StrictUndefined, Template
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


# ---------------------------------------------------------------- the document
# One document model of the page; the Markdown (quoteflow/templates/contract.md.j2) and the
# approval page's HTML (contract.html) are two templates over it, nothing else.


class Table(BaseModel):
    header: list[str]
    rows: list[list[str]]


class Section(BaseModel):
    """One heading and what follows it; text may hold `code` spans."""

    title: str
    level: int = 2
    text: str = ""
    items: list[str] = Field(default_factory=list)
    code: dict[str, str] = Field(default_factory=dict)  # name -> SQL
    table: Table | None = None


class ContractDocument(BaseModel):
    title: str
    note: str
    sections: list[Section]


def _table(header: list[str], rows: list[list[Any]]) -> Table:
    return Table(header=header, rows=[[str(v) for v in row] for row in rows])


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


def _mirror_sections(mirror: MirrorContext | None) -> list[Section]:
    if mirror is None:
        return []
    return [
        Section(
            title="The local mirror of NetSuite",
            level=3,
            text=f"These tables are kept by the `mirror-sync` deployment ({mirror.schedule}) "
            f"from {mirror.config}; rows older than {mirror.max_age_hours:g} h are stale "
            "(QUOTEFLOW_MIRROR_MAX_AGE_HOURS).",
            table=_table(
                ["table", "key", "on a full pass"],
                [[t.table, ", ".join(t.key), t.on_full_pass] for t in mirror.tables],
            ),
            code={f"{t.table} (SuiteQL)": t.suiteql for t in mirror.tables},
        )
    ]


def _live_section(live: LiveFigures) -> Section:
    from quoteflow.presentation import format_when

    alert = live.last_alert
    last = (
        f"{format_when(alert['at'])}: step {alert.get('step')} of run {alert.get('run_id')}: "
        f"{alert.get('error')}"
        if alert
        else "none"
    )
    return Section(
        title="Live status",
        table=_table(
            ["figure", "value"],
            [
                [f"runs since {format_when(live.since)}", _counts(live.runs_by_outcome)],
                ["verify results", _counts(live.verify_by_status)],
                ["actions waiting for Mike", _counts(live.actions_waiting)],
                ["last alert", last],
            ],
        ),
    )


def contract_document(page: ContractPage) -> ContractDocument:
    """The contract page, numbered like the original contract page (0-10), then the quote
    lifecycle, the schedules and the live figures."""
    r = page.retry
    real = sum(1 for e in page.side_effects if e.status == "REAL")
    effects = {e.step: e for e in page.side_effects}
    sections = [
        Section(
            title="0. Flow",
            text=f"`{page.flow_name}`: trigger → context → preconditions → HITL gate → "
            f"fan-out ({len(page.fanout)} steps) → post actions → verify "
            f"({len(page.verify_checks)} checks)",
        ),
        Section(title="1. Trigger", items=page.triggers),
        Section(
            title="2. Inputs (QuoteRequest JSON schema)",
            table=_table(
                ["field", "type", "required", "rule", "description"],
                [
                    [f.name, f.type, "yes" if f.required else "no", f.rule, f.description]
                    for f in page.inputs
                ],
            ),
        ),
        Section(title="3. Context loaded (tasks/context.py)", code=page.queries),
        *_mirror_sections(page.mirror),
        Section(
            title="4. Preconditions",
            table=_table(["check", "effect", "rule"], [list(p) for p in page.preconditions]),
        ),
        Section(
            title="5. HITL gate",
            table=_table(["setting", "value"], [[k, v] for k, v in page.gate.items()]),
        ),
        Section(
            title=f"6. Fan-out targets: {len(page.side_effects)} total · {real} real · "
            f"{len(page.side_effects) - real} stub",
            table=_table(
                ["step", "does", "target", "status", "evidence"],
                [
                    [s.name, s.does, effects[s.name].target, effects[s.name].status]
                    + [effects[s.name].evidence]
                    for s in page.fanout
                ],
            ),
        ),
        Section(
            title="7. Post actions (every outcome)",
            table=_table(["step", "does"], [[s.name, s.does] for s in page.post_actions]),
        ),
        Section(
            title="8. Verify checks",
            text=f"Run by the scheduled `verify-checks` deployment: {page.verify_cron}.",
            table=_table(
                ["check", "due after (s)", "deadline (min)"],
                [
                    [c.name, f"{c.due_after_seconds:g}", c.deadline_minutes]
                    for c in page.verify_checks
                ],
            ),
        ),
        Section(
            title="9. Retry policy (every fan-out step)",
            table=_table(
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
        ),
        Section(
            title="10. What changes when this workflow runs",
            table=_table(["target", "status", "source"], what_changes(page)),
        ),
        Section(
            title="After the run: the quote lifecycle",
            table=_table(
                ["action", "allowed from", "to", "event", "proposed pricing"],
                [
                    [t.action, ", ".join(t.allowed_from), t.to, t.event, t.proposals]
                    for t in page.lifecycle
                ],
            ),
        ),
        Section(title="Scheduled deployments", items=page.scheduled),
    ]
    if page.live is not None:
        sections.append(_live_section(page.live))
    return ContractDocument(
        title=f"Contract: {page.workflow_type} v{page.version} (risk {page.risk_level})",
        note="Generated from quoteflow's code; every section is read from a declaration. "
        "The same page is `quoteflow contract`, the approval page's /contract and the "
        "`quoteflow-contract` artifact of every verify run.",
        sections=sections,
    )


def _markdown_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


@lru_cache(maxsize=1)
def _markdown_template() -> Template:
    env = Environment(
        loader=PackageLoader("quoteflow", "templates"),
        autoescape=False,  # Markdown, not HTML
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = _markdown_cell
    return env.get_template("contract.md.j2")


def render_markdown(page: ContractPage) -> str:
    """The contract page as Markdown (``quoteflow contract``, the verify artifact)."""
    return _markdown_template().render(doc=contract_document(page))
