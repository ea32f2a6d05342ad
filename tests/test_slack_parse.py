"""Drafting in words: phrasings Mike might type, each with what it must be understood as
(customer, items, school year, unmatched words) or the question it must ask back. Pure:
no database, no stack; the demo dataset's customers and catalog."""

from __future__ import annotations

from datetime import date

import pytest

from devstack.seed import CUSTOMERS, SPEC_ITEMS
from quoteflow.slack.parse import CustomerOption, ItemOption, parse_draft

CUSTOMER_OPTIONS = [CustomerOption(id=c.id, name=c.name) for c in CUSTOMERS]
ITEM_OPTIONS = [ItemOption(item_code=i.item_code, description=i.description) for i in SPEC_ITEMS]
TODAY = date(2026, 3, 10)  # in school year 2025-26
DEFAULT_YEAR = "2026-27"  # the newest priced year

# (text, customer id, item codes, school year, unmatched, question: (about, phrase, first
# choices' labels start with) or None, problem fragment or None)
CASES = [
    # the issue's own example, and plain variants
    (
        "cedar ridge chicken, 1% milk, apples for 26-27",
        "1107",
        ["FS-1001", "FS-1005", "FS-1007"],
        "2026-27",
        [],
        None,
        None,
    ),
    (
        "Cedar Ridge chicken, 1% milk, apples for 2026-27",
        "1107",
        ["FS-1001", "FS-1005", "FS-1007"],
        "2026-27",
        [],
        None,
        None,
    ),
    (
        "cedar ridge chicken and apples for 2026-2027",
        "1107",
        ["FS-1001", "FS-1007"],
        "2026-27",
        [],
        None,
        None,
    ),
    (
        "cedar ridge chicken; apples for 26/27",
        "1107",
        ["FS-1001", "FS-1007"],
        "2026-27",
        [],
        None,
        None,
    ),
    ("cedar ridge chicken for SY26-27", "1107", ["FS-1001"], "2026-27", [], None, None),
    ("cedar ridge chicken for school year 2025-26", "1107", ["FS-1001"], "2025-26", [], None, None),
    # relative school years (today is in 2025-26)
    ("cedar ridge chicken for next year", "1107", ["FS-1001"], "2026-27", [], None, None),
    ("cedar ridge chicken for this year", "1107", ["FS-1001"], "2025-26", [], None, None),
    ("cedar ridge chicken", "1107", ["FS-1001"], DEFAULT_YEAR, [], None, None),
    # ids and codes
    ("1107 FS-1001, FS-1005 for 26-27", "1107", ["FS-1001", "FS-1005"], "2026-27", [], None, None),
    ("1107 fs1001 fs1005 for 26-27", "1107", ["FS-1001", "FS-1005"], "2026-27", [], None, None),
    ("#1156 CU-2013 + pizza for 26-27", "1156", ["CU-2013", "FS-1004"], "2026-27", [], None, None),
    (
        "a quote for maple hollow FS-1002 & FS-1004 for 26-27",
        "1112",
        ["FS-1002", "FS-1004"],
        "2026-27",
        [],
        None,
        None,
    ),
    # typos
    (
        "cedr rdge chiken, aples for 26-27",
        "1107",
        ["FS-1001", "FS-1007"],
        "2026-27",
        [],
        None,
        None,
    ),
    (
        "pine bluf bananas, carots for 26-27",
        "1125",
        ["FS-1020", "FS-1008"],
        "2026-27",
        [],
        None,
        None,
    ),
    (
        "red mesa orange juce, yogurt for 26-27",
        "1156",
        ["FS-1009", "FS-1011"],
        "2026-27",
        [],
        None,
        None,
    ),
    # partial names and descriptions
    ("maple gloves, mop for 26-27", "1112", ["CU-2013", "CU-2011"], "2026-27", [], None, None),
    (
        "harbor choc milk, bananas for 26-27",
        "1148",
        ["FS-1006", "FS-1020"],
        "2026-27",
        [],
        None,
        None,
    ),
    (
        "silver lake floor finish, floor stripper for 26-27",
        "1131",
        ["CU-2009", "CU-2010"],
        "2026-27",
        [],
        None,
        None,
    ),
    (
        "cedar ridge beef patty, whole grain tortilla for 26-27",
        "1107",
        ["FS-1002", "FS-1017"],
        "2026-27",
        [],
        None,
        None,
    ),
    # ambiguous names and items: a question with the best matches
    (
        "unified chicken for 26-27",
        None,
        ["FS-1001"],
        "2026-27",
        [],
        ("customer", "unified", "Cedar Ridge"),
        None,
    ),
    (
        "school district chicken for 26-27",
        None,
        ["FS-1001"],
        "2026-27",
        [],
        ("customer", "school district", "Cedar Ridge"),
        None,
    ),
    ("cedar ridge milk for 26-27", "1107", [], "2026-27", [], ("item", "milk", "FS-1005"), None),
    (
        "cedar ridge cheese, apples for 26-27",
        "1107",
        ["FS-1007"],
        "2026-27",
        [],
        ("item", "cheese", "FS-1004"),
        None,
    ),
    (
        "cedar ridge can liner for 26-27",
        "1107",
        [],
        "2026-27",
        [],
        ("item", "can liner", "CU-2001"),
        None,
    ),
    # unknown items are named, the rest still understood
    (
        "red mesa pizza, unicorn steaks for 26-27",
        "1156",
        ["FS-1004"],
        "2026-27",
        ["unicorn steaks"],
        None,
        None,
    ),
    (
        "cedar ridge FS-1001 ZZ-9999 for 26-27",
        "1107",
        ["FS-1001"],
        "2026-27",
        ["ZZ-9999"],
        None,
        None,
    ),
    (
        "cedar ridge chicken, hovercraft, apples for 26-27",
        "1107",
        ["FS-1001", "FS-1007"],
        "2026-27",
        ["hovercraft"],
        None,
        None,
    ),
    # what cannot be drafted: the problem named
    ("cedar ridge chicken for 27-29", "1107", ["FS-1001"], None, [], None, "not a school year"),
    ("cedar ridge", "1107", [], DEFAULT_YEAR, [], None, "Which items?"),
    ("zorgon academy chicken for 26-27", None, [], "2026-27", [], None, "No customer matches"),
    ("", None, [], None, [], None, "Tell me a customer"),
]


@pytest.mark.parametrize(
    ("text", "customer", "items", "year", "unmatched", "question", "problem"),
    CASES,
    ids=[c[0] or "(empty)" for c in CASES],
)
def test_drafting_phrasings(text, customer, items, year, unmatched, question, problem):
    got = parse_draft(text, CUSTOMER_OPTIONS, ITEM_OPTIONS, today=TODAY, default_year=DEFAULT_YEAR)
    assert got.customer_id == customer
    assert got.item_codes == items
    if problem != "not a school year":
        assert got.school_year == year
    assert got.unmatched == unmatched
    if question is None:
        assert got.questions == []
    else:
        about, phrase, first_label = question
        [q] = got.questions
        assert (q.about, q.phrase) == (about, phrase)
        assert 2 <= len(q.choices) <= 3
        assert q.choices[0].label.startswith(first_label)
    if problem is None:
        assert got.problems == []
        assert got.ready == (question is None)
    else:
        assert any(problem in p for p in got.problems), got.problems
        assert not got.ready


def test_a_choice_answers_its_question():
    """Pressing a choice re-reads the text with the answer applied: it is then understood."""
    first = parse_draft(
        "unified chicken, milk for 26-27", CUSTOMER_OPTIONS, ITEM_OPTIONS, today=TODAY
    )
    customer_q = next(q for q in first.questions if q.about == "customer")
    second = parse_draft(customer_q.choices[0].text, CUSTOMER_OPTIONS, ITEM_OPTIONS, today=TODAY)
    assert second.customer_id == "1107"
    [item_q] = second.questions
    assert item_q.about == "item"
    third = parse_draft(item_q.choices[0].text, CUSTOMER_OPTIONS, ITEM_OPTIONS, today=TODAY)
    assert third.ready
    assert (third.customer_id, third.item_codes, third.school_year) == (
        "1107",
        ["FS-1001", "FS-1005"],
        "2026-27",
    )
