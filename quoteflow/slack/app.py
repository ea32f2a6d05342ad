"""The Slack app, served by the approval page process at ``/slack/events`` with Slack's
own framework (slack_bolt's AsyncApp and its Starlette adapter).

Bolt verifies every request with the signing secret and Slack's 5-minute window (401
otherwise); a signed request seen before is refused here too (a replay). Only Slack users
mapped in QUOTEFLOW_SLACK_APPROVERS may draft or decide. Handlers acknowledge at once and
do the work after (Slack wants an answer within 3 seconds); the work is
``quoteflow.slack.service``'s, run in a thread (database and Prefect calls block).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from quoteflow.approvals import ApprovalError
from quoteflow.decision import DecisionError
from quoteflow.slack import render, service

REPLAY_WINDOW_SECONDS = 5 * 60
FOLLOW_SECONDS = 15 * 60  # how long the page follows a decided quote's run on the message
FOLLOW_EVERY_SECONDS = 2.0


def _allowed(user_id: str | None) -> str | None:
    return service.approver_of(user_id)


def build_bolt(block: Any) -> Any:
    """The Bolt app with every handler, for the credentials in ``block``."""
    from slack_bolt.async_app import AsyncApp

    app = AsyncApp(
        token=block.bot_token.get_secret_value(),
        signing_secret=block.signing_secret.get_secret_value(),
        client=block.get_async_client(),
        process_before_response=False,
    )
    followers: dict[int, asyncio.Task[None]] = {}

    async def deny(respond: Any) -> None:
        await respond(text=service.NOT_ALLOWED, response_type="ephemeral", replace_original=False)

    # ------------------------------------------------------------ drafting

    async def preview(text: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(service.preview_draft, text, secrets.token_hex(8))

    @app.command("/quote")
    async def quote_command(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        if not _allowed(body.get("user_id")):
            await deny(respond)
            return
        blocks = await preview(body.get("text", ""))
        await respond(
            blocks=blocks, text="Your quote, as I understood it", response_type="ephemeral"
        )

    @app.event("message")
    async def direct_message(event: dict[str, Any], client: Any) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return
        if not _allowed(event.get("user")):
            await client.chat_postMessage(channel=event["channel"], text=service.NOT_ALLOWED)
            return
        text = re.sub(r"^/?quote\b", "", event.get("text", "").strip(), flags=re.I)
        blocks = await preview(text)
        await client.chat_postMessage(
            channel=event["channel"], blocks=blocks, text="Your quote, as I understood it"
        )

    @app.action(re.compile(f"^{render.DRAFT_CHOOSE}_\\d+$"))
    async def choose(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        if not _allowed(body["user"]["id"]):
            await deny(respond)
            return
        blocks = await preview(body["actions"][0]["value"])
        await respond(blocks=blocks, text="Your quote, as I understood it", replace_original=True)

    @app.action(render.DRAFT_CANCEL)
    async def cancel(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await respond(text="Cancelled: nothing was staged.", replace_original=True)

    @app.action(render.DRAFT_CREATE)
    async def create(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        approver = _allowed(body["user"]["id"])
        if not approver:
            await deny(respond)
            return
        try:
            button = render.DraftButton.model_validate_json(body["actions"][0]["value"])
        except ValidationError as exc:
            await respond(text=f"This button is unreadable ({exc.errors()[0]['msg']}).")
            return
        blocks = await asyncio.to_thread(service.create_draft, button, approver)
        await respond(blocks=blocks, text="Quote draft created", replace_original=True)

    # ------------------------------------------------------------ deciding

    async def follow(action_id: int) -> None:
        """Keep the message in step with the run for a while after the decision."""
        deadline = time.monotonic() + FOLLOW_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # a flaky read or call: the next try
                settled = await asyncio.to_thread(service.outcome_settled, action_id)
                await asyncio.to_thread(service.sync_message, action_id)
                if settled:
                    return
            await asyncio.sleep(FOLLOW_EVERY_SECONDS)

    def start_following(action_id: int) -> None:
        running = followers.get(action_id)
        if running is None or running.done():
            followers[action_id] = asyncio.get_running_loop().create_task(follow(action_id))

    async def settle(
        respond: Any,
        value: render.ButtonValue,
        decision: str,
        approver: str,
        **extra: Any,
    ) -> str | None:
        """Decide; on refusal tell the presser why (ephemeral) and show what stands.
        Returns the refusal, None when decided."""
        try:
            await asyncio.to_thread(
                service.decide,
                value.a,
                decision,
                approver=approver,
                shown_hash=value.h,
                **extra,
            )
        except ApprovalError as exc:
            said = await asyncio.to_thread(service.refusal, value.a, str(exc))
            if respond is not None:
                await respond(text=said, response_type="ephemeral", replace_original=False)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(service.sync_message, value.a)
            return said
        with contextlib.suppress(Exception):
            await asyncio.to_thread(service.sync_message, value.a)
        gate = await asyncio.to_thread(service.gate_of, value.a)
        for followed in {value.a, gate} - {None}:
            start_following(followed)
        return None

    async def on_decision(body: dict[str, Any], respond: Any, decision: str) -> None:
        approver = _allowed(body["user"]["id"])
        if not approver:
            await deny(respond)
            return
        value = render.ButtonValue.decode(body["actions"][0]["value"])
        await settle(respond, value, decision, approver)

    @app.action(render.GATE_APPROVE)
    async def approve(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await on_decision(body, respond, "approve")

    @app.action(render.GATE_REJECT)
    async def reject(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await on_decision(body, respond, "reject")

    @app.action(render.GATE_PRICES)
    async def change_prices(ack: Any, body: dict[str, Any], respond: Any, client: Any) -> None:
        await ack()
        if not _allowed(body["user"]["id"]):
            await deny(respond)
            return
        value = render.ButtonValue.decode(body["actions"][0]["value"])
        try:
            preview_ = await asyncio.to_thread(service.prices_to_change, value.a, value.h)
        except ApprovalError as exc:
            said = await asyncio.to_thread(service.refusal, value.a, str(exc))
            await respond(text=said, response_type="ephemeral", replace_original=False)
            return
        container = body.get("container", {})
        state = render.ModalState(
            a=value.a,
            h=value.h,
            channel=container.get("channel_id"),
            ts=container.get("message_ts"),
        )
        await client.views_open(
            trigger_id=body["trigger_id"], view=render.price_modal(preview_, state)
        )

    @app.view(render.PRICES_VIEW)
    async def prices_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        if not _allowed(body["user"]["id"]):
            await ack(response_action="errors", errors={render.NOTES_BLOCK: service.NOT_ALLOWED})
            return
        state = render.ModalState.model_validate_json(view["private_metadata"])
        values = view["state"]["values"]
        prices = {}
        for block_id, fields in values.items():
            if block_id.startswith(render.PRICE_BLOCK_PREFIX):
                typed = (fields.get(render.PRICE_INPUT, {}).get("value") or "").strip()
                if typed:
                    prices[block_id[len(render.PRICE_BLOCK_PREFIX) :]] = typed
        notes = (values.get(render.NOTES_BLOCK, {}).get("notes", {}).get("value") or "").strip()
        errors = {}
        for code, typed in prices.items():
            try:
                service.parse_overrides({code: typed})
            except DecisionError as exc:
                errors[f"{render.PRICE_BLOCK_PREFIX}{code}"] = str(exc)[:150]
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        try:
            staged, approved, concerns = await asyncio.to_thread(service.review, state.a, prices)
        except (DecisionError, ApprovalError) as exc:
            await ack(response_action="errors", errors={render.NOTES_BLOCK: str(exc)[:150]})
            return
        changed = {
            c: p
            for c, p in prices.items()
            if any(line.item_code == c and str(line.case_price) != p for line in staged.lines)
        }
        state = state.model_copy(update={"prices": changed, "notes": notes})
        await ack(
            response_action="update", view=render.review_modal(staged, approved, concerns, state)
        )

    @app.view(render.REVIEW_VIEW)
    async def review_confirmed(
        ack: Any, body: dict[str, Any], view: dict[str, Any], client: Any
    ) -> None:
        await ack()
        state = render.ModalState.model_validate_json(view["private_metadata"])
        approver = _allowed(body["user"]["id"])
        if not approver:
            if state.channel:
                await client.chat_postEphemeral(
                    channel=state.channel, user=body["user"]["id"], text=service.NOT_ALLOWED
                )
            return
        said = await settle(
            None,
            render.ButtonValue(a=state.a, h=state.h),
            "approve",
            approver,
            prices=state.prices,
            notes=state.notes or None,
            confirm=True,
        )
        if said and state.channel:
            await client.chat_postEphemeral(
                channel=state.channel, user=body["user"]["id"], text=said
            )

    return app


class SlackEndpoint:
    """``POST /slack/events``: the Bolt app, built on the first request from the Slack
    block (404 while none is registered), with replays refused."""

    def __init__(self) -> None:
        self._handler: Any = None
        self._lock = asyncio.Lock()
        self._seen: dict[tuple[str, str], float] = {}

    async def _get_handler(self) -> Any:
        async with self._lock:
            if self._handler is None:
                block = await asyncio.to_thread(service.slack_block)
                if block is None:
                    return None
                from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

                self._handler = AsyncSlackRequestHandler(build_bolt(block))
            return self._handler

    def _replayed(self, request: Request) -> bool:
        """A signature seen within the window is a replay; remembered only once valid."""
        key = (
            request.headers.get("x-slack-request-timestamp", ""),
            request.headers.get("x-slack-signature", ""),
        )
        now = time.monotonic()
        for old in [k for k, t in self._seen.items() if now - t > REPLAY_WINDOW_SECONDS]:
            del self._seen[old]
        return key in self._seen

    def _remember(self, request: Request) -> None:
        key = (
            request.headers.get("x-slack-request-timestamp", ""),
            request.headers.get("x-slack-signature", ""),
        )
        self._seen[key] = time.monotonic()

    async def handle(self, request: Request) -> Response:
        handler = await self._get_handler()
        if handler is None:
            return PlainTextResponse("Slack is not set up here (no Slack block registered)", 404)
        if self._replayed(request):
            return PlainTextResponse("this request was already received", 401)
        response: Response = await handler.handle(request)
        if response.status_code != 401:
            self._remember(request)
        return response


def slack_routes() -> list[Route]:
    """The Slack app's route, for the approval page's app."""
    endpoint = SlackEndpoint()
    return [Route("/slack/events", endpoint.handle, methods=["POST"])]
