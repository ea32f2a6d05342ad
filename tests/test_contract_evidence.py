"""The contract's REAL side effects name their evidence in code (tasks.contract); here,
where the tests are, each named test must exist, so a removed or renamed test fails the
suite instead of leaving the contract claiming evidence that is gone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from quoteflow.run_rules import FANOUT_STEPS
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


def test_the_markdown_shows_every_section_and_row_of_the_one_contract_document() -> None:
    from datetime import UTC, datetime

    from quoteflow.contract import LiveFigures, contract_document, render_markdown
    from tasks.contract import collect_contract

    page = collect_contract(live=False)
    page.live = LiveFigures(
        since=datetime(2026, 12, 1, tzinfo=UTC),
        runs_by_outcome={"completed": 3},
        verify_by_status={},
        actions_waiting={"quote_draft": 1},
        last_alert={
            "at": datetime(2026, 12, 2, 15, tzinfo=UTC),
            "step": "ns_push",
            "run_id": "r1",
            "error": "refused | retry",
        },
    )
    markdown = render_markdown(page)
    doc = contract_document(page)
    for section in doc.sections:
        assert f"{'#' * section.level} {section.title}\n" in markdown
        for row in section.table.rows if section.table else []:
            cells = [cell.replace("|", "\\|").replace("\n", " ") for cell in row]
            assert "| " + " | ".join(cells) + " |" in markdown
    assert "## 6. Fan-out targets: 5 total · 5 real · 0 stub" in markdown
    # A cell's own pipe is escaped, and the moment is in Mike's one format.
    assert "refused \\| retry" in markdown and "Wed Dec 2, 2026, 9:00 AM CST" in markdown
