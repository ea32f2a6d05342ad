"""A fake Slack for the local stack and the tests.

Server side (``devstack.stack.run slack``): the Web API methods quoteflow calls
(``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
``views.open``, ``views.update``) under ``/api/``, checking the bot token, and the
``response_url`` targets under ``/_fake/response/<id>``. Every call is recorded;
``GET /_fake/calls`` lists them (with ``?since=<n>`` the ones after the n-th).

Client side (``FakeSlack``): what Slack itself would send the app — slash commands, button
presses and modal submissions, signed with the stack's signing secret (``sign``, or any
timestamp / secret to test refusals) — and readers of the recorded calls.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from pydantic import BaseModel, SecretStr
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

FAKE_TEAM = "TFAKE0001"
FAKE_BOT_USER = "UQUOTEBOT"
MIKE_USER = "UMIKE0001"  # the stack's Slack user mapped to the approver "mike"
STRANGER_USER = "USTRANGER"
NOTICE_CHANNEL = "DMIKE0001"  # Mike's direct message with the app


class FakeSlackCredentials(BaseModel):
    """The dev bot token and signing secret the fake accepts and signs with."""

    bot_token: SecretStr
    signing_secret: SecretStr


class Recorder:
    """Every call, in order; messages by (channel, ts) as last posted or updated."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)

    def record(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            entry = {"n": len(self.calls) + 1, "method": method, "args": args, "at": time.time()}
            self.calls.append(entry)
            return entry

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"


async def _args(request: Request) -> dict[str, Any]:
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    if "json" in ctype:
        return json.loads(body or b"{}")
    args: dict[str, Any] = dict(parse_qsl(body.decode("utf-8")))
    for key in ("blocks", "view", "attachments"):
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args


def create_app(credentials: FakeSlackCredentials) -> Starlette:
    """The fake's ASGI app."""
    rec = Recorder()
    token = credentials.bot_token.get_secret_value()

    async def api(request: Request) -> JSONResponse:
        method = request.path_params["method"]
        if request.headers.get("authorization", "") != f"Bearer {token}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        args = {**dict(request.query_params), **await _args(request)}
        entry = rec.record(method, args)
        if method == "auth.test":
            return JSONResponse(
                {"ok": True, "team_id": FAKE_TEAM, "user_id": FAKE_BOT_USER, "bot_id": "BQUOTE"}
            )
        if method == "chat.postMessage":
            ts = rec.next_ts()
            entry["ts"] = ts
            rec.messages[(args["channel"], ts)] = args
            return JSONResponse({"ok": True, "channel": args["channel"], "ts": ts, "message": args})
        if method == "chat.update":
            key = (args.get("channel", ""), args.get("ts", ""))
            if key not in rec.messages:
                return JSONResponse({"ok": False, "error": "message_not_found"})
            rec.messages[key] = {**rec.messages[key], **args}
            return JSONResponse({"ok": True, "channel": key[0], "ts": key[1]})
        if method in ("views.open", "views.update", "views.push"):
            view = {**args.get("view", {}), "id": "V" + uuid.uuid4().hex[:10].upper()}
            return JSONResponse({"ok": True, "view": view})
        if method == "chat.postEphemeral":
            return JSONResponse({"ok": True, "message_ts": rec.next_ts()})
        return JSONResponse({"ok": False, "error": "unknown_method"})

    async def response_url(request: Request) -> JSONResponse:
        rec.record("response_url", {"id": request.path_params["rid"], **await _args(request)})
        return JSONResponse({"ok": True})

    async def calls(request: Request) -> JSONResponse:
        since = int(request.query_params.get("since", "0"))
        return JSONResponse(rec.calls[since:])

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/api/{method}", api, methods=["GET", "POST"]),
            Route("/_fake/response/{rid}", response_url, methods=["POST"]),
            Route("/_fake/calls", calls, methods=["GET"]),
            Route("/_fake/health", health, methods=["GET"]),
        ]
    )


def serve(host: str, port: int, credentials: FakeSlackCredentials) -> None:
    """Serve the fake until interrupted."""
    import uvicorn

    uvicorn.run(create_app(credentials), host=host, port=port, log_level="warning")


# ---------------------------------------------------------------- the Slack side


class FakeSlack:
    """Slack as the app sees it: signed requests to the app, and what the app called."""

    def __init__(self, fake_url: str, events_url: str, signing_secret: str) -> None:
        self.fake_url = fake_url.rstrip("/")
        self.events_url = events_url
        self.signing_secret = signing_secret
        self.http = httpx.Client(timeout=30)

    # ------------------------------------------------------------ signing and sending

    def sign(
        self, body: str, *, timestamp: int | None = None, secret: str | None = None
    ) -> dict[str, str]:
        """Slack's request headers for ``body`` (v0 HMAC-SHA256 over ``v0:ts:body``)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        verifier = SignatureVerifier(secret or self.signing_secret)
        return {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body),
            "Content-Type": "application/x-www-form-urlencoded",
        }

    def post(self, body: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """Send a body to the app, signed now unless ``headers`` are given."""
        return self.http.post(self.events_url, content=body, headers=headers or self.sign(body))

    def new_response_url(self) -> str:
        return f"{self.fake_url}/_fake/response/{uuid.uuid4().hex}"

    def slash_body(self, text: str, *, user: str = MIKE_USER) -> tuple[str, str]:
        """(form body, its response_url) of ``/quote <text>``."""
        response_url = self.new_response_url()
        body = urlencode(
            {
                "command": "/quote",
                "text": text,
                "user_id": user,
                "user_name": user.lower(),
                "team_id": FAKE_TEAM,
                "channel_id": NOTICE_CHANNEL,
                "response_url": response_url,
                "trigger_id": uuid.uuid4().hex,
                "api_app_id": "AQUOTE",
            }
        )
        return body, response_url

    def slash(self, text: str, *, user: str = MIKE_USER) -> tuple[httpx.Response, str]:
        """Send ``/quote <text>``; returns (the app's answer, the response_url it got)."""
        body, response_url = self.slash_body(text, user=user)
        return self.post(body), response_url

    def press(
        self,
        action_id: str,
        value: str,
        *,
        user: str = MIKE_USER,
        channel: str = NOTICE_CHANNEL,
        message_ts: str | None = None,
    ) -> tuple[httpx.Response, str]:
        """Press a button; returns (the app's answer, the response_url it got)."""
        response_url = self.new_response_url()
        payload = {
            "type": "block_actions",
            "team": {"id": FAKE_TEAM},
            "user": {"id": user, "username": user.lower(), "team_id": FAKE_TEAM},
            "api_app_id": "AQUOTE",
            "trigger_id": uuid.uuid4().hex,
            "response_url": response_url,
            "container": {
                "type": "message",
                "channel_id": channel,
                "message_ts": message_ts or "0.0",
            },
            "channel": {"id": channel},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b",
                    "value": value,
                    "action_ts": str(time.time()),
                }
            ],
        }
        return self.post(urlencode({"payload": json.dumps(payload)})), response_url

    def direct_message(self, text: str, *, user: str = MIKE_USER) -> httpx.Response:
        """A direct message to the app (an Events API ``message.im`` event)."""
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": FAKE_TEAM,
                "api_app_id": "AQUOTE",
                "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
                "event_time": int(time.time()),
                "event": {
                    "type": "message",
                    "channel_type": "im",
                    "channel": NOTICE_CHANNEL,
                    "user": user,
                    "text": text,
                    "ts": f"{time.time():.6f}",
                },
            }
        )
        headers = {**self.sign(body), "Content-Type": "application/json"}
        return self.post(body, headers)

    def submit_view(
        self, view: dict[str, Any], values: dict[str, str], *, user: str = MIKE_USER
    ) -> httpx.Response:
        """Submit a modal the app opened, typing ``values`` ({block_id: text})."""
        state: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            typed = values.get(block["block_id"], element.get("initial_value"))
            state[block["block_id"]] = {
                element["action_id"]: {"type": "plain_text_input", "value": typed}
            }
        payload = {
            "type": "view_submission",
            "team": {"id": FAKE_TEAM},
            "user": {"id": user, "username": user.lower(), "team_id": FAKE_TEAM},
            "api_app_id": "AQUOTE",
            "trigger_id": uuid.uuid4().hex,
            "view": {**view, "id": "VFAKE", "state": {"values": state}},
        }
        return self.post(urlencode({"payload": json.dumps(payload)}))

    # ------------------------------------------------------------ what the app called

    def calls(self, method: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        found = self.http.get(f"{self.fake_url}/_fake/calls", params={"since": since}).json()
        return [c for c in found if method is None or c["method"] == method]

    def answer_to(self, response_url: str, timeout: float = 30.0) -> dict[str, Any]:
        """What the app posted to a response_url (the first post)."""
        rid = response_url.rsplit("/", 1)[-1]
        return self.wait_for(
            lambda c: c["method"] == "response_url" and c["args"]["id"] == rid,
            timeout=timeout,
            what=f"answer to {rid}",
        )["args"]

    def mark(self) -> int:
        """How many calls were recorded so far (pass as ``since`` to see only later ones)."""
        return len(self.calls())

    def wait_for(
        self,
        match: Callable[[dict[str, Any]], bool],
        *,
        since: int = 0,
        timeout: float = 30.0,
        what: str = "a Slack call",
    ) -> dict[str, Any]:
        """The first recorded call after ``since`` that ``match``es, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls(since=since):
                if match(call):
                    return call
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {timeout:.0f} s")
            time.sleep(0.2)


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """All the text a message's blocks show, for assertions: sections, headers, contexts,
    button labels."""
    out: list[str] = []
    for b in blocks or []:
        if "text" in b and isinstance(b["text"], dict):
            out.append(b["text"].get("text", ""))
        for e in b.get("elements", []):
            text = e.get("text")
            out.append(text.get("text", "") if isinstance(text, dict) else str(text or ""))
        if b.get("type") == "input":
            out.append(b["label"]["text"])
    return "\n".join(out)


def buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """{action_id: value} of a message's buttons."""
    return {
        e["action_id"]: e.get("value", "")
        for b in blocks or []
        if b.get("type") == "actions"
        for e in b["elements"]
    }
