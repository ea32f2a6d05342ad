"""The mirror sync's tasks: one pass over one table, and the stale-failure alert."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from quoteflow.mirror.config import load_config
from quoteflow.mirror.sync import alert_if_stale, sync_table
from tasks.policy import uncached_transient_options

if TYPE_CHECKING:
    from blocks.netsuite import NetSuiteCredentials


@task(
    name="sync_mirror_table",
    task_run_name="sync_mirror_table-{table}",
    **uncached_transient_options(),
)
def sync_mirror_table(table: str, full: bool, netsuite: NetSuiteCredentials) -> dict[str, Any]:
    """One pass over ``table`` from NetSuite (429/5xx/timeouts retried; each retry resumes
    from the cursor the last committed page left)."""
    with netsuite.get_client() as client:
        return sync_table(client, load_config(), table, full=full).as_dict()


@task(name="alert_stale_mirror", cache_policy=NO_CACHE)
def alert_stale_mirror(tables: list[str]) -> list[str]:
    """Raise Mike's alert for each failing table whose data is older than the freshness limit."""
    return [t for t in tables if alert_if_stale(t)]
