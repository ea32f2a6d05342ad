"""Create what the deployments in prefect.yaml need, then deploy them all.

prefect.yaml ships inside this package (in a checkout, ``deployments/prefect.yaml`` links to
the one at the root), so an installed wheel deploys without a checkout: the flows' code is
run from ``Settings.project_dir``, where the quoteflow packages are.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml
from pydantic import BaseModel

from quoteflow.prefect_api import ensure_concurrency_limit, ensure_work_pool, require_api_url
from quoteflow.processes import prefect_command
from quoteflow.settings import get_settings

PREFECT_YAML = Path(__file__).resolve().parent / "prefect.yaml"


def deployment_specs(path: Path = PREFECT_YAML) -> list[dict]:
    """The deployments declared in prefect.yaml (aliases resolved)."""
    return list(yaml.safe_load(path.read_text())["deployments"])


def work_pool_name(path: Path = PREFECT_YAML) -> str:
    return yaml.safe_load(path.read_text())["definitions"]["work_pools"]["process_pool"]["name"]


def ensure_netsuite_limit(limit: int = 2) -> None:
    """The global concurrency limit every NetSuite writer takes a slot of."""
    ensure_concurrency_limit(get_settings().netsuite_concurrency_limit, limit)


def ensure_hot_gate_limit() -> None:
    """The global concurrency limit with one slot per approval gate waiting hot."""
    settings = get_settings()
    ensure_concurrency_limit(settings.hot_gate_limit, settings.hot_gate_cap)


class PlannedDeployment(BaseModel):
    """One deployment as `quoteflow deploy` would create it."""

    name: str
    entrypoint: str
    code: Path  # the entrypoint's file under the project dir
    found: bool  # whether that file is there
    work_pool: str
    schedules: list[str]
    triggers: list[str]


class DeployPlan(BaseModel):
    """What `quoteflow deploy` would do, read from prefect.yaml without a Prefect server."""

    prefect_file: Path
    project_dir: Path
    deployments: list[PlannedDeployment]

    @property
    def missing(self) -> list[PlannedDeployment]:
        return [d for d in self.deployments if not d.found]


def deploy_plan(project_dir: Path | None = None) -> DeployPlan:
    """The deployments of prefect.yaml, each with where the worker will find its flow."""
    project_dir = (project_dir or get_settings().project_dir).resolve()
    planned = []
    for spec in deployment_specs():
        path = spec["entrypoint"].partition(":")[0]
        schedules = [
            f"cron {s['cron']}" if "cron" in s else f"every {s['interval']} s"
            for s in spec.get("schedules", [])
        ]
        triggers = [", ".join(t.get("expect", [])) for t in spec.get("triggers", [])]
        planned.append(
            PlannedDeployment(
                name=spec["name"],
                entrypoint=spec["entrypoint"],
                code=project_dir / path,
                found=(project_dir / path).is_file(),
                work_pool=spec["work_pool"]["name"],
                schedules=schedules,
                triggers=triggers,
            )
        )
    return DeployPlan(prefect_file=PREFECT_YAML, project_dir=project_dir, deployments=planned)


def deploy_all(project_dir: Path | None = None) -> str:
    """`prefect --no-prompt deploy --all` of the shipped prefect.yaml, from the project
    directory (default ``Settings.project_dir``), then the declared Automations
    (deployments/automations.yaml); returns the output.

    Re-deploying updates the deployments and automations in place (one of each)."""
    plan = deploy_plan(project_dir)
    if plan.missing:
        names = ", ".join(f"{d.name} ({d.code})" for d in plan.missing)
        raise RuntimeError(f"project_dir {plan.project_dir} lacks the flows of: {names}")
    project_dir = plan.project_dir
    ensure_work_pool(work_pool_name())
    ensure_netsuite_limit()
    ensure_hot_gate_limit()
    env = dict(os.environ)
    env["QUOTEFLOW_PROJECT_DIR"] = str(project_dir)
    env["QUOTEFLOW_VERIFY_TIMEZONE"] = get_settings().verify_timezone
    env["QUOTEFLOW_RECONCILE_SCHEDULE_ACTIVE"] = str(
        get_settings().reconcile_schedule_active
    ).lower()
    env["QUOTEFLOW_MIRROR_CRON"] = get_settings().mirror_cron
    env["QUOTEFLOW_MIRROR_FULL_CRON"] = get_settings().mirror_full_cron
    env["PREFECT_API_URL"] = require_api_url()
    proc = subprocess.run(
        [*prefect_command(), "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_YAML)],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"prefect deploy failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    from deployments.automations import ensure_automations

    return proc.stdout + "\n".join(ensure_automations()) + "\n"
