"""The Automations declared in deployments/automations.yaml, created or updated in place
by name, so `quoteflow deploy` run twice leaves one of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect.events.schemas.automations import AutomationCore

from quoteflow import prefect_api
from quoteflow.settings import get_settings

AUTOMATIONS_YAML = Path(__file__).resolve().parent / "automations.yaml"
ZOMBIE_RUNS = "quoteflow-zombie-runs"
STUCK_SUBMISSIONS = "quoteflow-stuck-submissions"
RECONCILE_STALE = "quoteflow-reconcile-stale"


def _windows() -> dict[str, float]:
    """Each automation's `within`, in seconds, from settings."""
    settings = get_settings()
    return {
        ZOMBIE_RUNS: settings.zombie_within_seconds,
        STUCK_SUBMISSIONS: settings.submission_within_seconds,
        RECONCILE_STALE: settings.reconcile_stale_minutes * 60,
    }


def _resolve(spec: dict[str, Any], deployment_ids: dict[str, str] | None) -> dict[str, Any]:
    """Settings-driven windows, and a run-deployment action's ``deployment`` name as the
    id Prefect wants (left out when no server is asked: the spec is only validated)."""
    spec = {**spec, "trigger": {**spec["trigger"]}}
    if spec["name"] in _windows():
        spec["trigger"]["within"] = _windows()[spec["name"]]
    if spec["name"] == RECONCILE_STALE and not get_settings().reconcile_schedule_active:
        spec["enabled"] = False  # no schedule (the tests drive its passes): nothing to miss
    actions = []
    for action in spec.get("actions", []):
        action = dict(action)
        name = action.pop("deployment", None)
        if name is not None:
            action["deployment_id"] = (deployment_ids or {}).get(name)
            if action["deployment_id"] is None:
                action["deployment_id"] = "00000000-0000-0000-0000-000000000000"
        actions.append(action)
    spec["actions"] = actions
    return spec


def declared_automations(
    path: Path = AUTOMATIONS_YAML, deployment_ids: dict[str, str] | None = None
) -> list[AutomationCore]:
    """The declared automations, validated by Prefect's own model."""
    specs = yaml.safe_load(path.read_text())["automations"]
    return [AutomationCore.model_validate(_resolve(a, deployment_ids)) for a in specs]


def _deployment_ids(path: Path) -> dict[str, str]:
    names = {
        action["deployment"]
        for spec in yaml.safe_load(path.read_text())["automations"]
        for action in spec.get("actions", [])
        if "deployment" in action
    }
    return prefect_api.deployment_ids(names)


def ensure_automations(path: Path = AUTOMATIONS_YAML) -> list[str]:
    """Create each declared automation, or update the one of that name (deleting any
    extra copies); returns a line per automation."""
    return prefect_api.put_automations(declared_automations(path, _deployment_ids(path)))
