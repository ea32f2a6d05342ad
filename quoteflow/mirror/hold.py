"""The live hold check: after Mike approves and before the fan-out writes anything, the
run asks NetSuite for the customer's status now (one small SuiteQL query), so a customer
put on hold since the mirror last synced is never written to. Pure: the query and the
rule; tasks/netsuite.py asks NetSuite.
"""

from __future__ import annotations

import re

from quoteflow.quote import is_on_hold

_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def customer_status_query(customer_id: str) -> str:
    """The SuiteQL that reads one customer's status. SuiteQL over REST takes no bind
    parameters: the id is checked to be a plain id (letters, digits, ``_`` ``-``) first."""
    if not _CUSTOMER_ID.match(customer_id):
        raise ValueError(f"customer id {customer_id!r}: letters, digits, _ and - only")
    return f"SELECT id, entitystatus, isinactive FROM customer WHERE id = '{customer_id}'"


def live_block_reason(customer: str, items: list[dict[str, str]]) -> str | None:
    """Why NetSuite's answer forbids writing for ``customer`` (``Maple Valley ISD (1107)``),
    or None when it is clear. Values are SuiteQL's strings: booleans 'T'/'F'."""
    if not items:
        return f"customer {customer} is not in NetSuite"
    row = {k.lower(): (v or "") for k, v in items[0].items()}
    if is_on_hold(row.get("entitystatus", "")):
        return f"customer {customer} is on hold in NetSuite now"
    if row.get("isinactive", "F").upper() == "T":
        return f"customer {customer} is inactive in NetSuite now"
    return None
