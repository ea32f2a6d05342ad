"""Claims: exactly one run acts on an approved proposed action.

The approved row is the committed intent ("a run must act on this"); the run that acts
claims it with one conditional UPDATE (approved and unclaimed -> claimed by this run), so
on SQLite and PostgreSQL alike two runs cannot both win. A run that loses, or finds the
action pending, rejected or expired, ends at once and writes nothing but its run log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field

from quoteflow.db import session_scope
from quoteflow.models import ActionStatus, ProposedAction, RunStatus, utcnow

ClaimOutcome = Literal["claimed", "mine", "taken_over", "duplicate", "not_approved"]


class ClaimError(ValueError):
    """The claimed action does not exist or is of another type: bad input, not a duplicate."""


class Claim(BaseModel):
    """What a run learned when it claimed a proposed action."""

    outcome: ClaimOutcome
    action_id: int
    action_type: str
    status: str
    claimed_by_run_id: str | None
    payload: dict[str, Any] = Field(default_factory=dict)
    message: str

    @property
    def acquired(self) -> bool:
        """This run acts on the action (first claim, a re-driven run, or a take-over)."""
        return self.outcome in ("claimed", "mine", "taken_over")

    @property
    def run_status(self) -> RunStatus:
        return RunStatus.duplicate if self.outcome == "duplicate" else RunStatus.not_approved

    @property
    def state_name(self) -> str:
        return "Duplicate" if self.outcome == "duplicate" else "NotApproved"

    def summary(self) -> dict[str, Any]:
        """The run log summary of a run that ended at its claim."""
        return {
            "status": self.run_status.value,
            "proposed_action_id": self.action_id,
            "action_status": self.status,
            "claimed_by_run_id": self.claimed_by_run_id,
            "reason": self.message,
        }


def _read(action_id: int, url: str | None) -> ProposedAction | None:
    with session_scope(url) as s:
        return s.get(ProposedAction, action_id)


def _swap(action_id: int, run_id: str, expected_owner: str | None, url: str | None) -> bool:
    """Compare-and-set the claim: approved, owned by ``expected_owner`` -> owned by ``run_id``."""
    owner = ProposedAction.claimed_by_run_id
    stmt = (
        sa.update(ProposedAction)
        .where(
            ProposedAction.id == action_id,
            ProposedAction.status == ActionStatus.approved,
            owner.is_(None) if expected_owner is None else owner == expected_owner,
        )
        .values(claimed_by_run_id=run_id, claimed_at=utcnow())
    )
    with session_scope(url) as s:
        return s.execute(stmt).rowcount == 1


def claim_action(
    action_id: int,
    run_id: str,
    *,
    action_type: str,
    may_take_over: Callable[[str], bool] | None = None,
    url: str | None = None,
) -> Claim:
    """Claim an approved action for ``run_id``. Claiming again from the same run (a
    re-driven or resumed run) is ``mine``. ``may_take_over(owner_run_id)`` lets a new run
    replace an owner that ended without finishing (send-quote-email after a failed send).
    ClaimError when the action is missing or of another type."""
    won = _swap(action_id, run_id, None, url)
    row = _read(action_id, url)
    if row is None:
        raise ClaimError(
            f"proposed_action_id={action_id}: no such proposed action (expected an approved "
            f"{action_type})"
        )
    if row.action_type != action_type:
        raise ClaimError(
            f"proposed_action_id={action_id}: is a {row.action_type} action, expected {action_type}"
        )
    where = f"proposed action {action_id} ({row.action_type} {row.entity_ref})"

    def claim(outcome: ClaimOutcome, message: str, owner: str | None) -> Claim:
        return Claim(
            outcome=outcome,
            action_id=action_id,
            action_type=row.action_type,
            status=row.status,
            claimed_by_run_id=owner,
            payload=dict(row.payload),
            message=message,
        )

    if won:
        return claim("claimed", f"{where} claimed by run {run_id}", run_id)
    owner = row.claimed_by_run_id
    if owner == run_id:
        return claim("mine", f"{where} already claimed by this run {run_id}", run_id)
    if row.status != ActionStatus.approved:
        return claim("not_approved", f"{where} is {row.status}, not approved: nothing done", owner)
    if owner is not None and may_take_over is not None and may_take_over(owner):
        if _swap(action_id, run_id, owner, url):
            return claim(
                "taken_over",
                f"{where} taken over from run {owner}, which ended unfinished",
                run_id,
            )
        owner = (_read(action_id, url) or row).claimed_by_run_id
    return claim(
        "duplicate",
        f"{where} is already claimed by run {owner}: this run is a duplicate, nothing done",
        owner,
    )


def unclaimed_approved(
    action_types: list[str],
    *,
    decided_before: datetime,
    decided_after: datetime,
    url: str | None = None,
) -> list[ProposedAction]:
    """Approved actions no run has claimed, decided between ``decided_after`` and
    ``decided_before`` (older than the time their trigger normally needs), oldest first."""
    stmt = (
        sa.select(ProposedAction)
        .where(
            ProposedAction.action_type.in_(action_types),
            ProposedAction.status == ActionStatus.approved,
            ProposedAction.claimed_by_run_id.is_(None),
            ProposedAction.decided_at < decided_before,
            ProposedAction.decided_at > decided_after,
        )
        .order_by(ProposedAction.decided_at)
    )
    with session_scope(url) as s:
        return list(s.execute(stmt).scalars().all())
