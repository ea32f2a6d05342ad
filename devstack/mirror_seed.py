"""The demo dataset as the fake NetSuite's SuiteQL records (customer, item, term,
entityaddress and the two custom records the default mirror.yaml reads), so the demo and
the tests load quoteflow's mirror by syncing from the fake."""

from __future__ import annotations

from typing import Any

from devstack.seed import CUSTOMERS, PRICING, PROFILES, PROGRAMS, SPEC_ITEMS

# A fixed "last modified in NetSuite": loading twice changes nothing a sync would read.
SEEDED_MODIFIED = "2025-08-01 14:00:00"


def _item_ids() -> dict[str, str]:
    return {i.item_code: i.netsuite_item_id for i in SPEC_ITEMS}


def suiteql_records() -> dict[str, list[dict[str, Any]]]:
    """``{table: rows}`` for ``SuiteQLStore.upsert`` / ``POST /_fake/suiteql/{table}``."""
    terms = sorted({p.payment_terms for p in PROFILES})
    term_id = {name: n for n, name in enumerate(terms, start=1)}
    profiles = {p.customer_id: p for p in PROFILES}
    customers: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    for n, c in enumerate(CUSTOMERS, start=1):
        profile = profiles.get(c.id)
        addresses.append({"id": n, "nkey": n, "state": c.state})
        customers.append(
            {
                "id": int(c.id),
                "entityid": c.id,
                "companyname": c.name,
                "email": c.email,
                "custentity_qf_contact_name": c.contact_name,
                "defaultbillingaddress": n,
                "creditholdoverride": "ON" if c.entitystatus == "hold" else "AUTO",
                "searchstage": "Prospect" if c.entitystatus == "prospect" else "Customer",
                "isinactive": False,
                "creditlimit": str(profile.credit_limit) if profile else None,
                "balancesearch": str(profile.ar_balance) if profile else None,
                "terms": term_id[profile.payment_terms] if profile else None,
            }
        )
    items = [
        {
            "id": int(i.netsuite_item_id),
            "itemid": i.item_code,
            "displayname": i.description,
            "custitem_qf_catalog": i.catalog,
            "custitem_qf_pack_size": i.pack_size,
            "custitem_qf_unit": i.unit,
            "isinactive": False,
        }
        for i in SPEC_ITEMS
    ]
    ids = _item_ids()
    prices = [
        {
            "id": n,
            "custrecord_qf_bp_customer": int(p.customer_id),
            "custrecord_qf_bp_item": int(ids[p.item_code]),
            "custrecord_qf_bp_school_year": p.school_year,
            "custrecord_qf_bp_case_price": str(p.case_price),
            "custrecord_qf_bp_cost": str(p.cost_basis),
            "isinactive": False,
        }
        for n, p in enumerate(PRICING, start=1)
    ]
    programs = [
        {
            "id": n,
            "name": g.name,
            "custrecord_qf_prog_customer": int(g.customer_id),
            "custrecord_qf_prog_code": g.program_code,
            "custrecord_qf_prog_start": g.starts_on.isoformat() if g.starts_on else None,
            "custrecord_qf_prog_end": g.ends_on.isoformat() if g.ends_on else None,
            "isinactive": g.status != "active",
        }
        # A program deleted in quoteflow's demo data is simply not in NetSuite.
        for n, g in enumerate(PROGRAMS, start=1)
        if g.deleted_at is None
    ]
    return {
        "term": [{"id": i, "name": name} for name, i in term_id.items()],
        "entityaddress": addresses,
        "customer": customers,
        "item": items,
        "customrecord_qf_bid_price": prices,
        "customrecord_qf_program": programs,
    }
