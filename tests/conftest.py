"""Shared test fixtures. Each concern's fixtures live in tests/fixtures/<concern>.py."""

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.pricing",
    "tests.fixtures.stack",
    "tests.fixtures.worker",
    "tests.fixtures.fake_suiteql",
]
