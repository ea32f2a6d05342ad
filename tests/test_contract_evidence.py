"""The contract's REAL side effects name their evidence in code (tasks.contract); here,
where the tests are, each named test must exist, so a removed or renamed test fails the
suite instead of leaving the contract claiming evidence that is gone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from quoteflow.runs import FANOUT_STEPS
from tasks.contract import SIDE_EFFECT_TARGETS, side_effects

ROOT = Path(__file__).resolve().parent.parent


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


@pytest.mark.parametrize("step", sorted(SIDE_EFFECT_TARGETS))
def test_each_declared_evidence_is_a_test_in_the_suite(step: str) -> None:
    _, ref = SIDE_EFFECT_TARGETS[step]
    path, _, name = ref.partition("::")
    assert (ROOT / path).is_file(), f"{step}: {path} is not a test file"
    assert name.startswith("test_") and name in _test_functions(ROOT / path), (
        f"{step}: {ref} names no test"
    )


def test_every_fanout_step_is_real_and_an_undeclared_one_is_a_stub() -> None:
    assert set(SIDE_EFFECT_TARGETS) == set(FANOUT_STEPS)
    assert {e.status for e in side_effects()} == {"REAL"}
    partial = {k: v for k, v in SIDE_EFFECT_TARGETS.items() if k != "ns_push"}
    stubs = [e for e in side_effects(partial) if e.status == "STUB"]
    assert [(e.step, e.target, e.evidence) for e in stubs] == [
        ("ns_push", "undeclared", "no test declared")
    ]
