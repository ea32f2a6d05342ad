"""Screenshots of quoteflow's Slack messages for docs/slack.md.

Slack's own Block Kit rendering is not reachable here, so the messages the app really sent
(recorded by the stack's fake Slack, e.g. after `quoteflow demo`) are rendered as local HTML
from their Block Kit JSON (sections, headers, contexts, buttons, inputs, Slack's mrkdwn)
and photographed in Debian's chromium with Playwright.

    uv run python scripts/slack_screens.py --fake-url http://127.0.0.1:4630 --out docs/screens
"""

from __future__ import annotations

import argparse
import html
import re
from pathlib import Path
from typing import Any

import httpx

CSS = """
body { font-family: Lato, 'Helvetica Neue', Arial, sans-serif; background: #f8f8f8; margin: 0;
       padding: 16px; color: #1d1c1d; }
.msg { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 12px 16px;
       margin-bottom: 18px; max-width: 760px; }
.who { font-weight: 900; margin-bottom: 4px; } .who span { font-weight: 400; color: #616061;
       font-size: 12px; margin-left: 6px; }
.cap { font-size: 12px; color: #616061; margin: 0 0 4px; text-transform: uppercase; }
h3 { margin: 6px 0; font-size: 17px; }
.section { margin: 6px 0; line-height: 1.45; font-size: 15px; white-space: pre-wrap; }
.context { color: #616061; font-size: 12px; margin: 6px 0; }
.actions button { border: 1px solid #bbb; background: #fff; border-radius: 4px; padding: 5px 12px;
       font-weight: 700; margin: 4px 6px 4px 0; font-size: 14px; }
.actions .primary { background: #007a5a; color: #fff; border-color: #007a5a; }
.actions .danger { background: #e01e5a; color: #fff; border-color: #e01e5a; }
.input label { display: block; font-weight: 700; font-size: 14px; margin: 8px 0 4px; }
.input input, .input textarea { width: 95%; padding: 6px; border: 1px solid #bbb;
       border-radius: 4px; font-size: 14px; }
.modal .title { font-weight: 900; font-size: 18px; margin-bottom: 6px; }
.modal .submit { text-align: right; } .modal .submit button { background: #007a5a; color: #fff;
       border: 0; border-radius: 4px; padding: 6px 14px; font-weight: 700; }
.emoji { display: inline-block; border-radius: 3px; padding: 0 4px; color: #fff;
       background: #888; font-weight: 900; } .ok { background: #2eb67d; }
.no { background: #e01e5a; } .warn { background: #ecb22e; }
a { color: #1264a3; text-decoration: none; } code { background: #eee; padding: 1px 3px; }
"""


def mrkdwn(text: str) -> str:
    """Slack's mrkdwn as HTML: links, *bold*, _italic_, `code`, emoji shortcodes."""
    out = html.escape(html.unescape(text), quote=False)
    out = re.sub(r"&lt;(https?://[^|&]+)\|([^&]+)&gt;", r'<a href="\1">\2</a>', out)
    out = re.sub(r"(?<![\w*])\*([^*\n]+)\*", r"<b>\1</b>", out)
    out = re.sub(r"(?<![\w_])_([^_\n]+)_", r"<i>\1</i>", out)
    out = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", out)
    for code, glyph in {
        ":white_check_mark:": '<span class="emoji ok">\u2713</span>',
        ":x:": '<span class="emoji no">\u2717</span>',
        ":warning:": '<span class="emoji warn">!</span>',
        ":hourglass:": '<span class="emoji">\u231b</span>',
    }.items():
        out = out.replace(code, glyph)
    return out


def blocks_html(blocks: list[dict[str, Any]]) -> str:
    parts = []
    for b in blocks:
        kind = b.get("type")
        if kind == "header":
            parts.append(f"<h3>{html.escape(b['text']['text'])}</h3>")
        elif kind == "section":
            parts.append(f'<div class="section">{mrkdwn(b["text"]["text"])}</div>')
        elif kind == "context":
            text = " ".join(mrkdwn(e.get("text", "")) for e in b["elements"])
            parts.append(f'<div class="context">{text}</div>')
        elif kind == "actions":
            buttons = "".join(
                f'<button class="{e.get("style", "")}">{html.escape(e["text"]["text"])}</button>'
                for e in b["elements"]
            )
            parts.append(f'<div class="actions">{buttons}</div>')
        elif kind == "input":
            element = b["element"]
            value = html.escape(element.get("initial_value", ""))
            field = (
                f"<textarea rows=2>{value}</textarea>"
                if element.get("multiline")
                else f'<input value="{value}">'
            )
            parts.append(
                f'<div class="input"><label>{html.escape(b["label"]["text"])}</label>{field}</div>'
            )
    return "\n".join(parts)


def message_html(caption: str, blocks: list[dict[str, Any]], *, modal: dict | None = None) -> str:
    if modal is not None:
        return (
            f'<p class="cap">{html.escape(caption)}</p><div class="msg modal"><div class="title">'
            f"{html.escape(modal['title']['text'])}</div>{blocks_html(blocks)}"
            f'<div class="submit"><button>{html.escape(modal["submit"]["text"])}</button></div></div>'
        )
    return (
        f'<p class="cap">{html.escape(caption)}</p><div class="msg"><div class="who">quoteflow'
        f"<span>APP</span></div>{blocks_html(blocks)}</div>"
    )


def page(parts: list[str]) -> str:
    return f"<!doctype html><meta charset=utf-8><style>{CSS}</style>{''.join(parts)}"


def collect(fake_url: str) -> dict[str, str]:
    """The demo's messages, from the fake Slack's record: {file stem: html}."""
    calls = httpx.get(f"{fake_url.rstrip('/')}/_fake/calls", timeout=10).json()
    preview = [
        c["args"]
        for c in calls
        if c["method"] == "response_url" and "New quote for" in str(c["args"].get("blocks"))
    ][-1]
    posts = [c for c in calls if c["method"] == "chat.postMessage"]
    gate = [p for p in posts if "needs your approval" in str(p["args"].get("blocks"))][-1]
    emails = [p for p in posts if "ready to send" in str(p["args"].get("blocks"))]
    email = emails[-1] if emails else None
    modal = [c["args"]["view"] for c in calls if c["method"] == "views.open"][-1]
    final = [
        c["args"] for c in calls if c["method"] == "chat.update" and c["args"]["ts"] == gate["ts"]
    ][-1]
    screens = {
        "slack-draft": page(
            [message_html("/quote in words: what the app understood", preview["blocks"])]
        ),
        "slack-gate": page(
            [
                message_html("The quote waits for Mike", gate["args"]["blocks"]),
                message_html("Change prices", modal["blocks"], modal=modal),
            ]
        ),
        "slack-decided": page(
            [
                message_html(
                    "The same message after the decision, as the run proceeds", final["blocks"]
                )
            ]
            + (
                [message_html("The email draft's message, once approved", _last(calls, email))]
                if email
                else []
            )
        ),
    }
    return screens


def _last(calls: list[dict[str, Any]], post: dict[str, Any]) -> list[dict[str, Any]]:
    """A posted message's blocks as last updated."""
    updates = [
        c["args"]["blocks"]
        for c in calls
        if c["method"] == "chat.update" and c["args"]["ts"] == post["ts"]
    ]
    return updates[-1] if updates else post["args"]["blocks"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--fake-url", required=True, help="The stack's fake Slack, e.g. http://127.0.0.1:4630"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/screens"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        for stem, doc in collect(args.fake_url).items():
            (args.out / f"{stem}.html").write_text(doc)
            for suffix, size in (("", (820, 600)), ("-390", (390, 844))):
                tab = browser.new_page(viewport={"width": size[0], "height": size[1]})
                tab.set_content(doc)
                tab.screenshot(path=str(args.out / f"{stem}{suffix}.png"), full_page=True)
                tab.close()
            print(args.out / f"{stem}.png")
        browser.close()


if __name__ == "__main__":
    main()
