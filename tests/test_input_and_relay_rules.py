"""No input can kill a waiting gate, and no relay can hang a send. Pure rules and a real
socket, no stack: the RunInput schema as the Prefect server checks it (its own
``validate``) and ``ApprovalDecision`` accept exactly the same inputs; a padded item code
is the same item; an SMTP relay that never answers fails within its timeout."""

from __future__ import annotations

import smtplib
import socket
import threading
import time
from email.message import EmailMessage

import pytest
from prefect.utilities.schema_tools.validation import validate
from pydantic import ValidationError

from blocks.smtp import RelayUnreachableError, email_server_credentials, send_message
from quoteflow.decision import (
    ApprovalDecision,
    DecisionError,
    overrides_of,
    refused_input_problem,
)
from quoteflow.sending import delivery_after_failure
from quoteflow.settings import get_settings

PRICES = [
    "41.50",
    "41.50\n",  # Python re's `$` matches before a final newline: both sides accept it
    "41.50\n\n",
    " 41.50",
    "41.50 ",
    "41.5",
    "0",
    "007",
    "999999.99",
    "1000000",
    "1e3",
    "-1",
    "41,50",
    "NaN",
    "",
    "41.505",
    "４１.５０",  # full-width digits
]


def _server_accepts(run_input: dict) -> bool:
    schema = ApprovalDecision.model_json_schema()
    return not validate(run_input, schema, raise_on_error=False)


def _form_accepts(run_input: dict) -> bool:
    try:
        ApprovalDecision.model_validate(run_input)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("price", PRICES)
def test_the_server_schema_and_the_form_accept_exactly_the_same_prices(price: str) -> None:
    run_input = {
        "decision": "approve",
        "price_overrides": [{"item_code": "FS-1001", "case_price": price}],
    }
    assert _server_accepts(run_input) == _form_accepts(run_input), repr(price)


def test_a_trailing_newline_price_is_the_price() -> None:
    decision = ApprovalDecision.model_validate(
        {
            "decision": "approve",
            "price_overrides": [{"item_code": "FS-1001", "case_price": "41.50\n"}],
        }
    )
    assert str(overrides_of(decision)["FS-1001"]) == "41.50"


def test_a_padded_item_code_is_the_same_item_given_twice() -> None:
    decision = ApprovalDecision.model_validate(
        {
            "decision": "approve",
            "price_overrides": [
                {"item_code": "FS-1001", "case_price": "41.50"},
                {"item_code": "FS-1001 ", "case_price": "39.00"},
            ],
        }
    )
    with pytest.raises(DecisionError, match="given twice: FS-1001"):
        overrides_of(decision)
    one = ApprovalDecision.model_validate(
        {"decision": "approve", "price_overrides": [{"item_code": " FS-1001 ", "case_price": "39"}]}
    )
    assert list(overrides_of(one)) == ["FS-1001"]


def test_a_refused_form_input_is_named_field_by_field() -> None:
    with pytest.raises(ValidationError) as info:
        ApprovalDecision.model_validate({"decision": "maybe"})
    assert "decision 'maybe'" in refused_input_problem(info.value)


# ---------------------------------------------------------------- the relay's timeouts


class _Relay:
    """A TCP server on 127.0.0.1 that accepts and then says nothing (``silent``), or
    greets and answers until the data, then says nothing."""

    def __init__(self, *, silent: bool) -> None:
        self.silent = silent
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.data_received = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            if self.silent:
                continue
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        conn.sendall(b"220 relay\r\n")
        while line := reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                while reader.readline() not in (b".\r\n", b""):
                    pass
                self.data_received.set()
                return  # hangs: never answers the data
            conn.sendall(b"250 ok\r\n")

    def close(self) -> None:
        self.sock.close()
        for c in self._conns:
            c.close()


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "q@example.com", "b@example.org", "Quote"
    msg.set_content("Hello")
    return msg


@pytest.fixture
def short_timeouts(monkeypatch):
    monkeypatch.setenv("QUOTEFLOW_SMTP_CONNECT_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("QUOTEFLOW_SMTP_READ_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_relay_that_accepts_tcp_and_never_greets_fails_within_the_timeout(
    short_timeouts,
) -> None:
    relay = _Relay(silent=True)
    try:
        server = email_server_credentials(host="127.0.0.1", port=relay.port, tls_mode="none")
        started = time.monotonic()
        with pytest.raises(RelayUnreachableError) as info:
            send_message(server, _message())
        took = time.monotonic() - started
    finally:
        relay.close()
    assert took < 5, took
    assert "not reachable within 1 s" in str(info.value)
    # Nothing was handed over: the claim is released and the send retried (then re-driven).
    assert delivery_after_failure(info.value) == "not_sent"


def test_a_relay_that_hangs_after_the_data_fails_within_the_timeout_in_doubt(
    short_timeouts,
) -> None:
    relay = _Relay(silent=False)
    try:
        server = email_server_credentials(host="127.0.0.1", port=relay.port, tls_mode="none")
        started = time.monotonic()
        with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected)) as info:
            send_message(server, _message())
        took = time.monotonic() - started
    finally:
        relay.close()
    assert relay.data_received.is_set()
    assert took < 5, took
    # The message may have been accepted: never re-sent on its own (Mike is alerted).
    assert delivery_after_failure(info.value) == "in_doubt"
