"""prefect.yaml, structurally: every entrypoint imports as a flow whose parameters
validate, with the triggers, schedules and work pool the operators rely on."""

from __future__ import annotations

import re

import pytest
import yaml
from jinja2 import Template
from prefect.flows import Flow, load_flow_from_entrypoint

from deployments.deploy import PREFECT_YAML, deployment_specs
from tests.fixtures.demo import DEMO_CUSTOMER_ID, DEMO_ITEM_CODES, DEMO_SCHOOL_YEAR

SPECS = {d["name"]: d for d in deployment_specs()}
SAMPLE_EVENT = {
    "event": "alert",
    "id": "0d6f3a52-6c1e-4d38-9a38-4f0b9a1b2c3d",
    "payload": {
        "request": {
            "customer_id": DEMO_CUSTOMER_ID,
            "item_codes": list(DEMO_ITEM_CODES),
            "school_year": DEMO_SCHOOL_YEAR,
        },
        "proposed_action_id": 7,
    },
}
MINIMAL_PARAMETERS = {
    "verify-checks": {},
    "ns-push-retry": {},
    "quote-housekeeping": {},
    "reconcile": {},
    "mirror-sync": {},
}


def test_the_deployments_are_declared():
    assert set(SPECS) == {
        "customer-quote",
        "send-quote-email",
        "verify-checks",
        "ns-push-retry",
        "quote-housekeeping",
        "reconcile",
        "notify-mike",
        "mirror-sync",
    }


@pytest.mark.parametrize("name", sorted(SPECS))
def test_entrypoint_is_a_flow_named_like_its_deployment(name):
    flow = load_flow_from_entrypoint(SPECS[name]["entrypoint"])
    assert isinstance(flow, Flow)
    assert flow.name == name
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", flow.name)
    assert SPECS[name]["work_pool"]["name"] == "quoteflow-process"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_parameters_from_triggers_or_defaults_validate(name):
    flow = load_flow_from_entrypoint(SPECS[name]["entrypoint"])
    triggers = SPECS[name].get("triggers", [])
    if not triggers:
        flow.validate_parameters(MINIMAL_PARAMETERS[name])
        return
    for trigger in triggers:
        rendered = {}
        for key, template in trigger["parameters"].items():
            inner = template.strip()[2:-2].strip()  # a single {{ expression }}: typed value
            rendered[key] = Template("{{ " + inner + " | tojson }}").render(event=SAMPLE_EVENT)
            rendered[key] = yaml.safe_load(rendered[key])
        flow.validate_parameters(rendered)


def test_triggers_listen_for_the_right_approvals():
    def trigger(name):
        (t,) = SPECS[name]["triggers"]
        return t

    quote, email = trigger("customer-quote"), trigger("send-quote-email")
    for t in (quote, email):
        assert t["expect"] == ["proposed_action.approved"] and t["enabled"]
        assert t["match"]["prefect.resource.id"] == "proposed-action.*"
    assert quote["match"]["action_type"] == "quote_draft"
    assert email["match"]["action_type"] == "send_quote_to_customer"


def test_schedules_and_result_storage():
    (verify,) = SPECS["verify-checks"]["schedules"]
    assert verify["cron"] == "8,38 * * * *"
    assert "QUOTEFLOW_VERIFY_TIMEZONE" in verify["timezone"]
    assert SPECS["ns-push-retry"]["schedules"][0]["interval"] > 0
    assert SPECS["quote-housekeeping"]["schedules"][0]["cron"] == "5 * * * *"
    assert SPECS["reconcile"]["schedules"][0]["interval"] == 60
    often, nightly = SPECS["mirror-sync"]["schedules"]
    assert "QUOTEFLOW_MIRROR_INTERVAL" in often["interval"]
    assert often["parameters"] == {"full": False} and nightly["parameters"] == {"full": True}
    assert "QUOTEFLOW_MIRROR_FULL_CRON" in nightly["cron"]
    env = yaml.safe_load(PREFECT_YAML.read_text())["definitions"]["work_pools"]["process_pool"][
        "job_variables"
    ]["env"]
    assert env["PREFECT_DEFAULT_RESULT_STORAGE_BLOCK"] == "s3-bucket/quoteflow-results"
    assert env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] == "true"
    assert int(env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]) >= 30  # Prefect's minimum


def test_flow_runs_start_the_engine_without_prefects_workspace_supervisor():
    # Without a command the process worker starts a supervisor process (a second Python
    # and Prefect start, ~3 s) before the engine: every run and every resume pays it.
    job_variables = yaml.safe_load(PREFECT_YAML.read_text())["definitions"]["work_pools"][
        "process_pool"
    ]["job_variables"]
    assert job_variables["command"] == "python -m prefect.engine"


def test_bad_customer_quote_parameters_name_the_field():
    flow = load_flow_from_entrypoint(SPECS["customer-quote"]["entrypoint"])
    with pytest.raises(Exception, match="school_year"):
        flow.validate_parameters(
            {"request": {**SAMPLE_EVENT["payload"]["request"], "school_year": "2026"}}
        )


def test_a_starting_worker_leaves_bytecode_for_its_flow_runs(monkeypatch):
    """Flow-run processes must not compile Prefect and quoteflow from source each time
    (PYTHONDONTWRITEBYTECODE keeps Python from writing .pyc files itself)."""
    import importlib.util
    import pathlib

    import flows.customer_quote as module
    from deployments.worker import compile_bytecode

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    source = pathlib.Path(module.__file__)
    cached = pathlib.Path(importlib.util.cache_from_source(str(source)))
    cached.unlink(missing_ok=True)
    compile_bytecode()
    assert cached.is_file() and cached.stat().st_size > 0
    flow_engine = importlib.util.find_spec("prefect.flow_engine")
    assert flow_engine is not None and flow_engine.cached is not None
    assert pathlib.Path(flow_engine.cached).is_file()
