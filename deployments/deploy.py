"""Create what the deployments in prefect.yaml need, then deploy them all."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml
from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate
from prefect.exceptions import ObjectNotFound

from quoteflow.prefect_api import require_api_url
from quoteflow.processes import prefect_command
from quoteflow.settings import PROJECT_ROOT, get_settings

PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"


def deployment_specs(path: Path = PREFECT_YAML) -> list[dict]:
    """The deployments declared in prefect.yaml (aliases resolved)."""
    return list(yaml.safe_load(path.read_text())["deployments"])


def work_pool_name(path: Path = PREFECT_YAML) -> str:
    return yaml.safe_load(path.read_text())["definitions"]["work_pools"]["process_pool"]["name"]


def ensure_work_pool(name: str) -> None:
    """A process work pool of this name (created once)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))


def ensure_netsuite_limit(limit: int = 2) -> None:
    """The global concurrency limit every NetSuite writer takes a slot of."""
    ensure_concurrency_limit(get_settings().netsuite_concurrency_limit, limit)


def ensure_hot_gate_limit() -> None:
    """The global concurrency limit with one slot per approval gate waiting hot."""
    settings = get_settings()
    ensure_concurrency_limit(settings.hot_gate_limit, settings.hot_gate_cap)


def ensure_concurrency_limit(name: str, limit: int) -> None:
    """A Prefect global concurrency limit of this name (created once)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=limit, active=True)
            )


def deploy_all(project_dir: Path = PROJECT_ROOT) -> str:
    """`prefect --no-prompt deploy --all` from the project directory, then the declared
    Automations (deployments/automations.yaml); returns the output.

    Re-deploying updates the deployments and automations in place (one of each)."""
    ensure_work_pool(work_pool_name())
    ensure_netsuite_limit()
    ensure_hot_gate_limit()
    env = dict(os.environ)
    env["QUOTEFLOW_PROJECT_DIR"] = str(project_dir)
    env["QUOTEFLOW_VERIFY_TIMEZONE"] = get_settings().verify_timezone
    env["QUOTEFLOW_RECONCILE_SCHEDULE_ACTIVE"] = str(
        get_settings().reconcile_schedule_active
    ).lower()
    env["QUOTEFLOW_MIRROR_INTERVAL"] = f"PT{round(get_settings().mirror_interval_minutes * 60)}S"
    env["QUOTEFLOW_MIRROR_FULL_CRON"] = get_settings().mirror_full_cron
    env["PREFECT_API_URL"] = require_api_url()
    proc = subprocess.run(
        [*prefect_command(), "--no-prompt", "deploy", "--all"],
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
