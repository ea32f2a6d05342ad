"""Shared test fixtures. Each concern's fixtures live in tests/fixtures/<concern>.py.

Every test that needs the local stack (the ``stack`` fixture, directly or through a fixture
built on it) is marked ``stack`` here, so ``./dev.sh test -m "not stack"`` is the fast loop.
"""

from __future__ import annotations

import pytest

from devstack import use_checkout_state_dir

# As the checkout's dev commands do: state in <checkout>/.var unless QUOTEFLOW_STATE_DIR is set.
use_checkout_state_dir()

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.pricing",
    "tests.fixtures.stack",
    "tests.fixtures.worker",
    "tests.fixtures.fake_suiteql",
    "tests.fixtures.fake_prefect",
]

STACK_FIXTURE = "stack"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # item.fixturenames is the fixture closure: it names ``stack`` also when the test only
    # asks for a fixture that depends on it (smtp_messages, cold_gate_worker, fault_env...).
    for item in items:
        if STACK_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)
