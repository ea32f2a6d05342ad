"""Every status badge on the page from one mapping: the words Mike reads and one of four
tones. The status text never becomes a CSS class; an unknown status shows as itself in
the neutral tone."""

from __future__ import annotations

from markupsafe import Markup, escape

OK, WAIT, BAD, NEUTRAL = "ok", "wait", "bad", "neutral"

# status -> (label, tone); quote statuses are said the way the customer's answer is said.
BADGES: dict[str, tuple[str, str]] = {
    # decisions
    "pending": ("waiting for you", WAIT),
    "approved": ("approved", OK),
    "rejected": ("rejected", BAD),
    "expired": ("expired", NEUTRAL),
    "attention": ("needs attention", BAD),
    # quotes and prices
    "draft": ("draft", WAIT),
    "sent": ("sent", OK),
    "proposed": ("waiting for the customer", WAIT),
    "accepted": ("accepted", OK),
    "declined": ("declined", BAD),
    "superseded": ("replaced", NEUTRAL),
    "closed": ("closed", NEUTRAL),
    "applied": ("applied", OK),
    # what followed a decision
    "completed": ("done", OK),
    "done": ("done", OK),
    "stored": ("stored", OK),
    "pushed": ("in NetSuite", OK),
    "pass": ("passed", OK),
    "not sent": ("not sent", WAIT),
    "sending": ("sending", WAIT),
    "not to send": ("not sent (your choice)", NEUTRAL),
    "not written": ("not made", NEUTRAL),
    "not drafted": ("not drafted", NEUTRAL),
    "not pushed": ("not in NetSuite", WAIT),
    "none": ("none", NEUTRAL),
    "failed": ("failed", BAD),
    "fail": ("failed", BAD),
    "timeout": ("timed out", BAD),
    "crashed": ("stopped", BAD),
    # the contract page
    "real": ("real", OK),
    "stub": ("stand-in", BAD),
}
QUOTE_WORDS = {"rejected": ("declined", BAD)}
STEP_WORDS = {"pending": ("not yet", WAIT), "running": ("running", WAIT)}


def badge_parts(status: str | None, *, quote: bool = False, step: bool = False) -> tuple[str, str]:
    """(label, tone) of a status; ``quote``/``step``: said as a quote's or a step's."""
    key = (status or "").strip().lower()
    if quote and key in QUOTE_WORDS:
        return QUOTE_WORDS[key]
    if step and key in STEP_WORDS:
        return STEP_WORDS[key]
    return BADGES.get(key, (status or "unknown", NEUTRAL))


def badge(status: str | None, *, quote: bool = False, step: bool = False) -> Markup:
    """The badge of a status: ``<span class="badge tone-ok" ...>approved</span>``."""
    label, tone = badge_parts(status, quote=quote, step=step)
    return Markup('<span class="badge tone-{}" data-status="{}">{}</span>').format(
        tone, escape(status or ""), label
    )
