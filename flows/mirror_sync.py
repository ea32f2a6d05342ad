"""mirror-sync: the local mirror of NetSuite, table by table (every 15 minutes, and a
nightly full pass that also finds records deleted or made inactive in NetSuite)."""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow, get_run_logger
from pydantic import Field

from blocks.netsuite import NetSuiteCredentials
from quoteflow.mirror.config import load_config
from quoteflow.mirror.service import tables_to_sync
from quoteflow.settings import get_settings
from tasks.mirror import alert_stale_mirror, sync_mirror_table


@flow(
    name="mirror-sync",
    description="Sync quoteflow's mirror of NetSuite (customers, items, profiles, pricing, "
    "programs) through SuiteQL.",
)
def mirror_sync(
    table: Annotated[
        str | None, Field(max_length=64, description="Only this mirrored table (default: all).")
    ] = None,
    full: Annotated[
        bool, Field(description="Read every row and drop or mark what NetSuite no longer has.")
    ] = False,
) -> list[dict[str, Any]]:
    """Sync each configured table in order; a failing table does not stop the others.

    Args:
        table: Only this mirrored table (default: all).
        full: Read every row and drop or mark what NetSuite no longer has.
    """
    logger = get_run_logger()
    tables = tables_to_sync(load_config(), table)
    netsuite = NetSuiteCredentials.load(get_settings().netsuite_block)
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    for name in tables:
        state = sync_mirror_table(name, full, netsuite, return_state=True)
        if state.is_completed():
            results.append(state.result())
        else:
            failed.append(name)
            results.append({"table": name, "full": full, "error": state.message})
    alerted = alert_stale_mirror(failed) if failed else []
    for r in results:
        logger.info("mirror %s: %s", r["table"], r)
    if failed:
        raise RuntimeError(
            f"mirror sync failed for {', '.join(failed)}"
            + (f" (alerted: {', '.join(alerted)})" if alerted else "")
        )
    return results
