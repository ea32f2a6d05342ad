"""The live hold check: after Mike approves and before the fan-out writes anything, the
run asks NetSuite for the customer's status now (one small SuiteQL query), so a customer
put on hold since the mirror last synced is never written to. Pure: the query and the
rule; tasks/netsuite.py asks NetSuite.

The query is the mirror's own ``customers`` query (quoteflow.mirror.config) restricted to
one id, and its answer is read through the same column mapping, so "on hold" means
exactly what the mirror's entitystatus means (customer_not_on_hold's rule).
"""

from __future__ import annotations

import re

from quoteflow.mirror.config import TableConfig
from quoteflow.quote import is_on_hold

_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def customer_status_query(customer_id: str, customers: TableConfig) -> str:
    """The SuiteQL that reads one customer as the mirror reads customers. SuiteQL over
    REST takes no bind parameters: the id must be a plain id (letters, digits, ``_``
    ``-``) first; an all-digit id (NetSuite's internal ids) is compared as a number."""
    if not _CUSTOMER_ID.match(customer_id):
        raise ValueError(f"customer id {customer_id!r}: letters, digits, _ and - only")
    literal = customer_id if customer_id.isdigit() else f"'{customer_id}'"
    return customers.query(f"{customers.id} = {literal}")


def live_block_reason(
    customer: str, items: list[dict[str, str]], customers: TableConfig
) -> str | None:
    """Why NetSuite's answer forbids writing for ``customer`` (``Maple Valley ISD (1107)``),
    or None when it is clear. Values are SuiteQL's strings (booleans 'T'/'F'; an empty
    value may be left out)."""
    if not items:
        return f"customer {customer} is not in NetSuite"
    row = {k.lower(): (v or "") for k, v in items[0].items()}
    status = row.get(customers.columns.get("entitystatus", "entitystatus"), "")
    if is_on_hold(status):
        return f"customer {customer} is on hold in NetSuite now"
    inactive = row.get(customers.columns.get("isinactive", "isinactive"), "F")
    if inactive.upper() in ("T", "TRUE"):
        return f"customer {customer} is inactive in NetSuite now"
    return None
