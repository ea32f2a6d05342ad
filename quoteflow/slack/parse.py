"""Drafting in words: ``cedar ridge chicken, 1% milk, apples for 26-27`` -> a customer, items
and a school year, or the question to ask back. Pure: the customers and catalog items are
passed in (the mirror's ``customers`` and ``spec_items``), nothing is read or written.

Rules, in order:
- the school year: ``26-27``, ``2026-27``, ``2026-2027``, ``26/27``, ``SY26-27``, ``next year``,
  ``this year`` (school years start on July 1); none given: ``default_year``;
- the text is cut into phrases at commas, semicolons, ``and``, ``&``, ``+``;
- the customer opens the first phrase: its id, or the longest run of words that each match
  a word of one customer's name (typos allowed); several customers fit: the best 3 are
  offered;
- items: a code (``FS-1005``, ``fs1005``) or a phrase matched word by word against the
  descriptions; several items fit equally: the best 3 are offered; nothing fits: named.
"""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, Field
from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

WORD_MATCH = 80  # a typed word counts as a word of a name or description from this score
ITEM_MATCH = 80  # a phrase matches an item from this (mean word) score
TIE_MARGIN = 5  # candidates this close to the best one are a question, not an answer
CHOICES = 3
MAX_TEXT = 2000

_SEPARATORS = re.compile(r"\s*(?:,|;|\+|&|\band\b|\n)\s*", re.IGNORECASE)
_CODE = re.compile(r"^([A-Za-z]{2,3})-?(\d{3,5})$")
_YEAR = re.compile(
    r"(?:\bfor\s+)?(?:\b(?:the\s+)?(?:sy|school\s+year)\s*|\b)"
    r"(\d{2}|\d{4})\s*[-/\u2013]\s*(\d{2}|\d{4})\b",
    re.IGNORECASE,
)
_RELATIVE_YEAR = re.compile(r"(?:\bfor\s+)?\b(next|this|current)\s+(?:school\s+)?year\b", re.I)
_FILLER = re.compile(r"^(?:a\s+)?(?:quote\s+)?(?:for\s+)?", re.IGNORECASE)


class CustomerOption(BaseModel):
    """A customer Mike may name."""

    id: str
    name: str


class ItemOption(BaseModel):
    """A catalog item Mike may name."""

    item_code: str
    description: str


class Choice(BaseModel):
    """One answer to a question: its label, and the request text with it applied."""

    label: str
    text: str = Field(max_length=MAX_TEXT)


class Question(BaseModel):
    """Something the text leaves open (which customer, which item)."""

    about: str  # "customer" | "item"
    phrase: str
    choices: list[Choice]


class ItemMatch(BaseModel):
    """A phrase and the catalog item it names."""

    phrase: str
    item_code: str
    description: str


class DraftParse(BaseModel):
    """What a drafting text was understood to ask for."""

    text: str
    customer_id: str | None = None
    customer_name: str | None = None
    items: list[ItemMatch] = Field(default_factory=list)
    school_year: str | None = None
    year_given: bool = False
    unmatched: list[str] = Field(default_factory=list)
    questions: list[Question] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Enough to stage a draft: a customer, an item, a school year, nothing open."""
        return bool(
            self.customer_id
            and self.items
            and self.school_year
            and not self.questions
            and not self.problems
        )

    @property
    def item_codes(self) -> list[str]:
        return list(dict.fromkeys(m.item_code for m in self.items))


# ---------------------------------------------------------------- school years


def school_year_starting(year: int) -> str:
    """``2026`` -> ``2026-27``."""
    return f"{year}-{(year + 1) % 100:02d}"


def current_school_year(today: date) -> str:
    """School years run July to June."""
    return school_year_starting(today.year if today.month >= 7 else today.year - 1)


def _full_year(text: str, near: int | None = None) -> int:
    value = int(text)
    if len(text) == 4:
        return value
    century = (near // 100) * 100 if near else 2000
    return century + value


def read_school_year(text: str, today: date) -> tuple[str | None, str, str | None]:
    """(school year, the text without it, a problem) for the first school year the text
    names; (None, text, None) when it names none."""
    rel = _RELATIVE_YEAR.search(text)
    if rel:
        start = int(current_school_year(today)[:4]) + (1 if rel.group(1).lower() == "next" else 0)
        rest = (text[: rel.start()] + " " + text[rel.end() :]).strip()
        return school_year_starting(start), rest, None
    m = _YEAR.search(text)
    if not m:
        return None, text, None
    rest = (text[: m.start()] + " " + text[m.end() :]).strip()
    first = _full_year(m.group(1))
    second = _full_year(m.group(2), near=first)
    if second != first + 1:
        return None, rest, f"{m.group(0).strip()!r} is not a school year (e.g. 2026-27)"
    return school_year_starting(first), rest, None


# ---------------------------------------------------------------- word matching


def _words(text: str) -> list[str]:
    return default_process(text).split()


def _word_score(word: str, tokens: list[str]) -> float:
    """How well one typed word matches the best word of a name: typos and prefixes
    (``choc`` for chocolate) count."""
    best = 0.0
    for token in tokens:
        if word == token:
            return 100.0
        score = fuzz.ratio(word, token)
        if len(word) >= 3 and token.startswith(word):
            score = max(score, 95.0)
        best = max(best, score)
    return best


def _phrase_score(words: list[str], tokens: list[str]) -> float:
    if not words:
        return 0.0
    return sum(_word_score(w, tokens) for w in words) / len(words)


def _ranked(words: list[str], names: dict[str, list[str]], floor: float) -> list[tuple[str, float]]:
    scored = [(key, _phrase_score(words, toks)) for key, toks in names.items()]
    scored = [(k, s) for k, s in scored if s >= floor]
    return sorted(scored, key=lambda ks: (-ks[1], ks[0]))


def _leaders(ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The candidates within TIE_MARGIN of the best one."""
    if not ranked:
        return []
    top = ranked[0][1]
    return [(k, s) for k, s in ranked if top - s < TIE_MARGIN]


# ---------------------------------------------------------------- the parse


class _Catalog:
    def __init__(self, customers: list[CustomerOption], items: list[ItemOption]) -> None:
        self.customers = {c.id: c for c in customers}
        self.customer_words = {c.id: _words(c.name) for c in customers}
        self.items = {i.item_code.upper(): i for i in items}
        self.item_words = {i.item_code.upper(): _words(i.description) for i in items}

    def code(self, word: str) -> str | None:
        """The item code a word spells (``fs1005`` -> ``FS-1005``), known or not."""
        m = _CODE.match(word.strip())
        return f"{m.group(1).upper()}-{m.group(2)}" if m else None

    def customer_prefix(self, words: list[str]) -> tuple[int, list[tuple[str, float]]]:
        """The longest opening run of words that all match one customer's name, and the
        customers it fits, best first."""
        for k in range(len(words), 0, -1):
            head = words[:k]
            fits = [
                cid
                for cid, toks in self.customer_words.items()
                if all(_word_score(w, toks) >= WORD_MATCH for w in head)
            ]
            if fits:
                ranked = sorted(
                    ((cid, _phrase_score(head, self.customer_words[cid])) for cid in fits),
                    key=lambda ks: (-ks[1], ks[0]),
                )
                return k, ranked
        return 0, []


def _customer_question(
    catalog: _Catalog,
    phrase: str,
    ranked: list[tuple[str, float]],
    tail: list[str],
    year: str | None,
) -> Question:
    """Which customer did Mike mean: one button per candidate, each the full command."""
    return Question(
        about="customer",
        phrase=phrase,
        choices=[
            Choice(label=catalog.customers[cid].name, text=_canonical(cid, tail, year))
            for cid, _ in ranked
        ],
    )


def _canonical(customer: str, phrases: list[str], year: str | None) -> str:
    text = f"{customer} {', '.join(p for p in phrases if p)}".strip()
    return f"{text} for {year}" if year else text


def parse_draft(
    text: str,
    customers: list[CustomerOption],
    items: list[ItemOption],
    *,
    today: date,
    default_year: str | None = None,
) -> DraftParse:
    """Understand one drafting text; see the module docstring for the rules."""
    raw = " ".join(text.split())[:MAX_TEXT]
    result = DraftParse(text=raw)
    if not raw:
        result.problems.append(
            "Tell me a customer and items, e.g. `/quote cedar ridge chicken, 1% milk for 26-27`."
        )
        return result
    catalog = _Catalog(customers, items)
    year, rest, problem = read_school_year(raw, today)
    if problem:
        result.problems.append(problem)
    result.year_given = year is not None
    result.school_year = year or default_year
    rest = _FILLER.sub("", rest.strip())
    segments = [s.strip() for s in _SEPARATORS.split(rest) if s and s.strip()]
    if not segments:
        result.problems.append("Name a customer (its name or id) and at least one item.")
        return result

    # The customer opens the first phrase.
    first = segments[0].split()
    customer_words_used = 0
    if first and first[0].lstrip("#") in catalog.customers:
        cid = first[0].lstrip("#")
        result.customer_id, result.customer_name = cid, catalog.customers[cid].name
        customer_words_used = 1
    else:
        usable: list[str] = []
        for word in first:
            if catalog.code(word) is not None:
                break
            usable.append(" ".join(_words(word)))
        k, ranked = catalog.customer_prefix(usable)
        if k == 0:
            # A name typed with no item words after it (``/quote pine bluf``) or nothing
            # that fits: the best fuzzy guesses.
            guess_words = _words(segments[0])
            guesses = _ranked(guess_words, catalog.customer_words, 60)[:CHOICES]
            phrase = segments[0]
            result.problems.append(f"No customer matches {phrase!r}.")
            if guesses:
                result.questions.append(
                    _customer_question(catalog, phrase, guesses, segments[1:], result.school_year)
                )
            return result
        leaders = _leaders(ranked)
        customer_words_used = k
        phrase = " ".join(first[:k])
        if len(leaders) > 1:
            rest_first = " ".join(first[k:])
            tail = [rest_first, *segments[1:]]
            result.questions.append(
                _customer_question(catalog, phrase, ranked[:CHOICES], tail, result.school_year)
            )
        else:
            cid = leaders[0][0]
            result.customer_id, result.customer_name = cid, catalog.customers[cid].name
    item_segments = [" ".join(first[customer_words_used:]), *segments[1:]]
    item_segments = [s for s in item_segments if s.strip()]

    # Items: codes first, then phrases.
    phrases_out: list[str] = []  # the item text with every answer applied, for choices
    pending: list[tuple[str, list[tuple[str, float]]]] = []
    for segment in item_segments:
        words = segment.split()
        codes = [catalog.code(w) for w in words]
        if any(codes):
            for word, code in zip(words, codes, strict=True):
                if code is None:
                    _match_phrase(catalog, word, result, pending, phrases_out)
                elif code in catalog.items:
                    _add(result, word, catalog.items[code])
                    phrases_out.append(code)
                else:
                    result.unmatched.append(word)
            continue
        _match_phrase(catalog, segment, result, pending, phrases_out)
    if not item_segments:
        result.problems.append("Which items? Name them by code or description after the customer.")
    for phrase, ranked in pending:
        cust = result.customer_id or (result.questions[0].phrase if result.questions else "")
        result.questions.append(
            Question(
                about="item",
                phrase=phrase,
                choices=[
                    Choice(
                        label=f"{code} {catalog.items[code].description}",
                        text=_canonical(
                            cust,
                            [code if p == phrase else p for p in phrases_out],
                            result.school_year,
                        ),
                    )
                    for code, _ in ranked[:CHOICES]
                ],
            )
        )
    if result.school_year is None and not problem:
        result.problems.append("Which school year? Add e.g. `for 26-27` or `for next year`.")
    return result


def _add(result: DraftParse, phrase: str, item: ItemOption) -> None:
    if item.item_code not in {m.item_code for m in result.items}:
        result.items.append(
            ItemMatch(phrase=phrase, item_code=item.item_code, description=item.description)
        )


def _match_phrase(
    catalog: _Catalog,
    phrase: str,
    result: DraftParse,
    pending: list[tuple[str, list[tuple[str, float]]]],
    phrases_out: list[str],
) -> None:
    words = _words(phrase)
    if not words:
        return
    ranked = _ranked(words, catalog.item_words, ITEM_MATCH)
    leaders = _leaders(ranked)
    if not leaders:
        result.unmatched.append(phrase)
        return
    if len(leaders) > 1:
        pending.append((phrase, leaders))
        phrases_out.append(phrase)
        return
    code = leaders[0][0]
    _add(result, phrase, catalog.items[code])
    phrases_out.append(code)
