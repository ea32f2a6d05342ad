"""NetSuite client against the fake NetSuite server (the local stack's netsuite service, a
real subprocess on 127.0.0.1, with the dev credentials the stack generates).

The fake verifies every OAuth 1.0a signature with its own RFC 5849 implementation,
so a passing push means the client's signing agrees with an independent verifier.
"""

from __future__ import annotations

import json
import pickle
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256
from oauthlib.oauth1 import Client as OAuth1Client
from pydantic import ValidationError

from devstack.fake_netsuite import FakeCredentials, SignedRequest, check_oauth
from devstack.stack import Stack, StackPorts, load_netsuite_credentials
from quoteflow.netsuite import (
    EstimateLine,
    NetSuiteAuthError,
    NetSuiteClient,
    NetSuiteError,
    NetSuiteRejectedError,
    NetSuiteRetryableError,
    build_estimate_body,
    estimate_lines_from_preview,
    validate_external_id,
)
from quoteflow.netsuite.errors import error_for_response
from quoteflow.quote import QuoteLineView, QuotePreview


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CUSTOMER = "107"
ITEMS = ["13", "14", "15"]
SECRET_FIELDS = ("consumer_key", "consumer_secret", "token_id", "token_secret")


@dataclass
class FakeNetSuite:
    base_url: str
    creds: dict[str, str]

    def control(self, method: str, path: str, payload: Any = None) -> Any:
        response = httpx.request(method, f"{self.base_url}/_fake/{path}", json=payload, timeout=5)
        response.raise_for_status()
        return response.json()

    def inject(self, **spec: Any) -> None:
        self.control("POST", "inject", spec)

    def estimates(self, external_id: str | None = None) -> list[dict[str, Any]]:
        rows = self.control("GET", "estimates")["estimates"]
        return [r for r in rows if external_id is None or r["external_id"] == external_id]

    def requests(self) -> dict[str, Any]:
        return self.control("GET", "requests")

    def client(self, **overrides: Any) -> NetSuiteClient:
        kwargs: dict[str, Any] = {"base_url": self.base_url, **self.creds, "timeout": 5.0}
        kwargs.update(overrides)
        return NetSuiteClient(**kwargs)


def _start(stack: Stack) -> tuple[str, dict[str, str]]:
    """The stack's fake NetSuite, knowing this module's customer and items; its base URL and
    the credentials it accepts."""
    state = stack.up(["netsuite"])
    assert state.netsuite is not None
    base = state.netsuite.base_url
    response = httpx.put(
        f"{base}/_fake/records", json={"customers": [CUSTOMER], "items": ITEMS}, timeout=5
    )
    response.raise_for_status()
    creds = load_netsuite_credentials(stack.state_dir)
    plain = {"account_id": creds.account_id}
    plain |= {f: getattr(creds, f).get_secret_value() for f in SECRET_FIELDS}
    return base, plain


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeNetSuite]:
    stack = Stack(tmp_path_factory.mktemp("fake_netsuite"), StackPorts.free())
    try:
        yield FakeNetSuite(*_start(stack))
    finally:
        stack.down()


@pytest.fixture
def fake(fake_server: FakeNetSuite) -> FakeNetSuite:
    fake_server.control("POST", "reset", {"estimates": True})
    return fake_server


@pytest.fixture
def client(fake: FakeNetSuite) -> Iterator[NetSuiteClient]:
    with fake.client() as c:
        yield c


def body_for(lines: list[tuple[str, int, str]], external_id: str, memo: str | None = None) -> dict:
    return build_estimate_body(
        customer_id=CUSTOMER,
        lines=[EstimateLine(netsuite_item_id=i, quantity=q, rate=Decimal(r)) for i, q, r in lines],
        external_id=external_id,
        memo=memo,
    )


def oauth_headers(fake: FakeNetSuite, method: str, url: str) -> dict[str, str]:
    """Headers of a request signed by oauthlib directly (not through NetSuiteClient)."""
    _, headers, _ = OAuth1Client(
        fake.creds["consumer_key"],
        client_secret=fake.creds["consumer_secret"],
        resource_owner_key=fake.creds["token_id"],
        resource_owner_secret=fake.creds["token_secret"],
        signature_method=SIGNATURE_HMAC_SHA256,
        realm=fake.creds["account_id"],
    ).sign(url, http_method=method)
    return {"Authorization": headers["Authorization"], "Content-Type": "application/json"}


def stored_lines(row: dict[str, Any]) -> list[tuple[str, int, float]]:
    return [(x["item"]["id"], x["quantity"], x["rate"]) for x in row["record"]["lines"]]


# -- pure: estimate bodies and external ids -------------------------------------------------------


def test_build_estimate_body_has_netsuite_shape() -> None:
    body = build_estimate_body(
        customer_id="107",
        lines=[
            EstimateLine(netsuite_item_id="13", quantity=50, rate=Decimal("2.5")),
            EstimateLine(
                netsuite_item_id="14", quantity=3, rate=Decimal("10.005"), description="Crayons"
            ),
        ],
        memo="School year 2026-27",
        external_id="Q-2026-0001",
    )
    assert body == {
        "entity": {"id": "107"},
        "item": {
            "items": [
                {"item": {"id": "13"}, "quantity": 50, "rate": 2.5},
                {"item": {"id": "14"}, "quantity": 3, "rate": 10.01, "description": "Crayons"},
            ]
        },
        "externalId": "Q-2026-0001",
        "memo": "School year 2026-27",
    }
    assert isinstance(body["item"]["items"][0]["rate"], float)
    json.dumps(body)  # plain JSON, no Decimal left


def test_build_estimate_body_omits_memo_and_external_id_when_not_given() -> None:
    body = build_estimate_body(
        customer_id="107", lines=[EstimateLine(netsuite_item_id="13", quantity=1, rate=0)]
    )
    assert set(body) == {"entity", "item"}
    assert body["item"]["items"][0]["rate"] == 0.0


def test_build_estimate_body_refuses_empty_lines_and_bad_ids() -> None:
    with pytest.raises(ValueError, match="at least one line"):
        build_estimate_body(customer_id="107", lines=[])
    with pytest.raises(ValueError, match="customer_id"):
        build_estimate_body(
            customer_id="", lines=[EstimateLine(netsuite_item_id="13", quantity=1, rate=1)]
        )
    with pytest.raises(ValueError, match="only letters, digits"):
        build_estimate_body(
            customer_id="107",
            lines=[EstimateLine(netsuite_item_id="13", quantity=1, rate=1)],
            external_id="Q/1",
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"netsuite_item_id": "13", "quantity": 0, "rate": 1},
        {"netsuite_item_id": "13", "quantity": 1, "rate": -0.01},
        {"netsuite_item_id": "", "quantity": 1, "rate": 1},
        {"netsuite_item_id": "13", "quantity": 1, "rate": "NaN"},
    ],
)
def test_estimate_line_rejects_invalid_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EstimateLine(**kwargs)


def test_validate_external_id() -> None:
    assert validate_external_id("Q-2026_0001") == "Q-2026_0001"
    assert validate_external_id("a" * 64) == "a" * 64
    with pytest.raises(ValueError, match="must not be empty"):
        validate_external_id("")
    with pytest.raises(ValueError, match="65 characters long; at most 64"):
        validate_external_id("a" * 65)
    with pytest.raises(ValueError) as info:
        validate_external_id("Q 2026.1")
    message = str(info.value)
    assert "' '" in message and "'.'" in message
    assert "only letters, digits, '_' and '-' are allowed" in message


def _preview(lines: list[QuoteLineView]) -> QuotePreview:
    return QuotePreview(
        quote_id="Q-7",
        customer_id="C-1",
        customer_name="Springfield USD",
        school_year="2026-27",
        generated_at=datetime(2026, 5, 1, tzinfo=UTC),
        valid_until=date(2026, 5, 31),
        lines=lines,
    )


def test_estimate_lines_from_preview_takes_quotable_lines_only() -> None:
    preview = _preview(
        [
            QuoteLineView(
                line_no=1,
                item_code="PAPER",
                description="Copy paper",
                netsuite_item_id="13",
                quantity=40,
                case_price=Decimal("31.20"),
            ),
            QuoteLineView(line_no=2, item_code="GHOST", resolved=False, quantity=2),
            QuoteLineView(line_no=3, item_code="NOPRICE", netsuite_item_id="14", quantity=5),
            QuoteLineView(
                line_no=4, item_code="PENS", netsuite_item_id="15", case_price=Decimal("0")
            ),
        ]
    )
    assert estimate_lines_from_preview(preview) == [
        EstimateLine(
            netsuite_item_id="13", quantity=40, rate=Decimal("31.20"), description="Copy paper"
        ),
        EstimateLine(netsuite_item_id="15", quantity=1, rate=Decimal("0")),
    ]


def test_estimate_lines_from_preview_refuses_a_priced_line_without_netsuite_id() -> None:
    preview = _preview(
        [QuoteLineView(line_no=1, item_code="PAPER", quantity=4, case_price=Decimal("3"))]
    )
    with pytest.raises(ValueError, match="PAPER.*no NetSuite item id"):
        estimate_lines_from_preview(preview)


# -- pure: errors and the fake's signature verifier ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, NetSuiteRejectedError, False),
        (401, NetSuiteAuthError, False),
        (404, NetSuiteRejectedError, False),
        (429, NetSuiteRetryableError, True),
        (500, NetSuiteRetryableError, True),
        (503, NetSuiteRetryableError, True),
    ],
)
def test_error_mapping_by_status(status: int, kind: type[NetSuiteError], retryable: bool) -> None:
    body = json.dumps(
        {
            "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
            "title": "x",
            "status": status,
            "o:errorDetails": [
                {"detail": "Bad\nthing", "o:errorCode": "SOME_CODE", "o:errorPath": "item"}
            ],
        }
    )
    err = error_for_response(status, body, method="PUT", path="/x")
    assert type(err) is kind
    assert (err.status, err.code, err.error_path, err.retryable) == (
        status,
        "SOME_CODE",
        "item",
        retryable,
    )
    assert str(err) == f"NetSuite PUT /x HTTP {status} SOME_CODE: Bad thing (at item)"
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is kind and str(copy) == str(err) and copy.code == "SOME_CODE"


def test_error_from_non_json_body_keeps_text_on_one_line() -> None:
    err = error_for_response(502, "<html>\n<b>Bad gateway</b>\n</html>")
    assert isinstance(err, NetSuiteRetryableError)
    assert err.code is None and "\n" not in str(err) and "Bad gateway" in str(err)


def _signed(creds: FakeCredentials, method: str, url: str, **client_kw: Any) -> SignedRequest:
    oauth = OAuth1Client(
        creds.consumer_key,
        client_secret=creds.consumer_secret,
        resource_owner_key=creds.token_id,
        resource_owner_secret=creds.token_secret,
        signature_method=SIGNATURE_HMAC_SHA256,
        realm=creds.account_id,
        **client_kw,
    )
    _, headers, _ = oauth.sign(url, http_method=method)
    parsed = httpx.URL(url)
    return SignedRequest(
        method=method,
        scheme=parsed.scheme,
        host=parsed.netloc.decode(),
        raw_path=parsed.raw_path.decode().partition("?")[0],
        query_string=parsed.query.decode(),
        authorization=headers["Authorization"],
    )


def test_fake_verifier_agrees_with_oauthlib_and_rejects_tampering() -> None:
    creds = FakeCredentials("1234567_SB1", "ck", "c&s ecret", "tk", "t/secret~")
    url = "http://127.0.0.1:8080/services/rest/record/v1/estimate/eid:Q-1?q=a+b&x=%C3%A9~&x=1"
    req = _signed(creds, "PUT", url)
    assert check_oauth(req, creds, time.time())[0] is None
    assert 'realm="1234567_SB1"' in (req.authorization or "")

    tampered = [
        SignedRequest(**{**req.__dict__, "method": "POST"}),
        SignedRequest(**{**req.__dict__, "raw_path": req.raw_path + "2"}),
        SignedRequest(**{**req.__dict__, "query_string": "q=a+b&x=1"}),
        SignedRequest(**{**req.__dict__, "host": "127.0.0.1:8081"}),
    ]
    for bad in tampered:
        assert check_oauth(bad, creds, time.time())[0] == "signature mismatch"
    other = FakeCredentials("1234567_SB1", "ck", "other", "tk", "t/secret~")
    assert check_oauth(req, other, time.time())[0] == "signature mismatch"
    wrong_realm = FakeCredentials("1234567", "ck", "c&s ecret", "tk", "t/secret~")
    assert check_oauth(req, wrong_realm, time.time())[0] == "realm is not the account id"
    stale = _signed(creds, "GET", url, timestamp=str(int(time.time()) - 301))
    assert check_oauth(stale, creds, time.time())[0] == "timestamp outside the 5 minute window"


# -- against the fake server --------------------------------------------------------------------


def test_upsert_creates_then_updates_the_same_estimate(
    fake: FakeNetSuite, client: NetSuiteClient
) -> None:
    first = body_for([("13", 50, "2.50"), ("14", 2, "19.99")], "Q-100", memo="v1")
    internal_id = client.upsert_estimate("Q-100", first)
    assert internal_id.isdigit()
    assert fake.requests()["by_status"] == {"204": 1}

    second = body_for([("15", 7, "4.00")], "Q-100", memo="v2")
    assert client.upsert_estimate("Q-100", second) == internal_id
    assert client.upsert_estimate("Q-100", second) == internal_id

    rows = fake.estimates()
    assert len(rows) == 1
    assert str(rows[0]["id"]) == internal_id and rows[0]["writes"] == 3
    assert stored_lines(rows[0]) == [("15", 7, 4.0)]  # replaced, not appended

    record = client.get_estimate_by_external_id("Q-100")
    assert record["id"] == internal_id and record["externalId"] == "Q-100"
    assert record["entity"]["id"] == CUSTOMER and record["memo"] == "v2"
    assert [(x["item"]["id"], x["quantity"], x["rate"]) for x in record["item"]["items"]] == [
        ("15", 7, 4.0)
    ]
    assert client.get_estimate(internal_id)["externalId"] == "Q-100"


def test_body_arrives_as_sent(fake: FakeNetSuite, client: NetSuiteClient) -> None:
    body = build_estimate_body(
        customer_id=CUSTOMER,
        lines=[
            EstimateLine(netsuite_item_id="13", quantity=12, rate=Decimal("3.10"), description="A"),
            EstimateLine(netsuite_item_id="14", quantity=1, rate=Decimal("1234.5")),
        ],
        external_id="Q-101",
        memo="Früh – 2026-27",
    )
    client.upsert_estimate("Q-101", body)
    (row,) = fake.estimates("Q-101")
    assert row["last_body"] == body
    assert stored_lines(row) == [("13", 12, 3.1), ("14", 1, 1234.5)]


def test_create_estimate_posts_a_new_record(fake: FakeNetSuite, client: NetSuiteClient) -> None:
    body = body_for([("13", 1, "1.00")], "Q-102")
    internal_id = client.create_estimate(body)
    assert client.get_estimate(internal_id)["externalId"] == "Q-102"
    with pytest.raises(NetSuiteRejectedError) as info:
        client.create_estimate(body)  # POST is not idempotent: NetSuite refuses the duplicate
    assert info.value.error_path == "externalId"
    assert len(fake.estimates()) == 1


def test_block_builds_a_working_client(fake: FakeNetSuite) -> None:
    from blocks.netsuite import NetSuiteCredentials

    block = NetSuiteCredentials(**fake.creds, base_url=fake.base_url + "/", timeout_seconds=5)
    with block.get_client() as client:
        internal_id = client.upsert_estimate("Q-103", body_for([("13", 4, "2")], "Q-103"))
        assert client.get_estimate(internal_id)["item"]["items"][0]["quantity"] == 4
    recent = fake.requests()["recent"]
    assert {r["realm"] for r in recent} == {fake.creds["account_id"]}
    assert {r["signature_method"] for r in recent} == {"HMAC-SHA256"}


def test_wrong_consumer_secret_is_an_auth_error(fake: FakeNetSuite) -> None:
    with fake.client(consumer_secret="0" * 64) as client, pytest.raises(NetSuiteAuthError) as info:
        client.upsert_estimate("Q-104", body_for([("13", 1, "1")], "Q-104"))
    err = info.value
    assert isinstance(err, NetSuiteRejectedError) and not err.retryable
    assert (err.status, err.code) == (401, "INVALID_LOGIN")
    for text in (str(err), repr(err)):
        assert "\n" not in text
        assert not any(fake.creds[f] in text for f in SECRET_FIELDS)
    assert fake.estimates() == []
    stats = fake.requests()
    assert stats["auth_failures"] == 1 and stats["recent"][0]["reason"] == "signature mismatch"


def test_wrong_account_realm_is_refused(fake: FakeNetSuite) -> None:
    with fake.client(account_id="9999999") as client, pytest.raises(NetSuiteAuthError):
        client.get_estimate_by_external_id("Q-105")
    assert fake.requests()["recent"][0]["reason"] == "realm is not the account id"


def test_replayed_request_is_refused(fake: FakeNetSuite) -> None:
    url = f"{fake.base_url}/services/rest/record/v1/estimate/eid:Q-106?expandSubResources=true"
    headers = oauth_headers(fake, "GET", url)
    assert httpx.get(url, headers=headers).status_code == 404  # authenticated; no such estimate
    replay = httpx.get(url, headers=headers)
    assert replay.status_code == 401
    assert replay.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    assert fake.requests()["recent"][-1]["reason"] == "nonce already used"


def test_missing_estimate_is_a_rejected_404(client: NetSuiteClient) -> None:
    with pytest.raises(NetSuiteRejectedError) as info:
        client.get_estimate_by_external_id("Q-NOPE")
    assert info.value.status == 404 and not info.value.retryable


@pytest.mark.parametrize(
    ("lines", "customer", "path", "value"),
    [
        ([("13", 1, "1"), ("999", 1, "1")], CUSTOMER, "item.items[1].item.id", '"999"'),
        ([("13", 1, "1")], "555", "entity.id", '"555"'),
    ],
)
def test_unknown_reference_is_rejected_with_its_path(
    fake: FakeNetSuite,
    client: NetSuiteClient,
    lines: list[tuple[str, int, str]],
    customer: str,
    path: str,
    value: str,
) -> None:
    body = body_for(lines, "Q-107")
    body["entity"]["id"] = customer
    with pytest.raises(NetSuiteRejectedError) as info:
        client.upsert_estimate("Q-107", body)
    err = info.value
    assert not isinstance(err, NetSuiteAuthError) and not err.retryable
    assert (err.status, err.code, err.error_path) == (400, "INVALID_CONTENT", path)
    assert value in (err.detail or "") and path in str(err)
    assert fake.estimates() == []


def test_invalid_line_values_are_rejected(client: NetSuiteClient) -> None:
    body = body_for([("13", 1, "1"), ("14", 1, "1")], "Q-108")
    body["item"]["items"][1]["quantity"] = 2.5
    with pytest.raises(NetSuiteRejectedError) as info:
        client.upsert_estimate("Q-108", body)
    assert info.value.error_path == "item.items[1].quantity"
    body["item"]["items"][1]["quantity"] = 2
    body["item"]["items"][0]["rate"] = -1
    with pytest.raises(NetSuiteRejectedError) as info:
        client.upsert_estimate("Q-108", body)
    assert info.value.error_path == "item.items[0].rate"


def test_invalid_external_id_never_leaves_the_client(
    fake: FakeNetSuite, client: NetSuiteClient
) -> None:
    with pytest.raises(ValueError, match="only letters, digits, '_' and '-'"):
        client.upsert_estimate("Q 109", body_for([("13", 1, "1")], "Q-109"))
    assert fake.requests()["total"] == 0


def test_fake_rejects_invalid_external_id_in_url(fake: FakeNetSuite) -> None:
    url = f"{fake.base_url}/services/rest/record/v1/estimate/eid:Q.110"
    content = json.dumps(body_for([("13", 1, "1")], "Q-110")).encode()
    headers = oauth_headers(fake, "PUT", url)
    answer = httpx.put(url, content=content, headers=headers)
    assert answer.status_code == 400
    detail = answer.json()["o:errorDetails"][0]
    assert detail["o:errorCode"] == "INVALID_CONTENT" and detail["o:errorPath"] == "externalId"
    assert "Q.110" in detail["detail"]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_injected_status_is_retryable_and_count_is_honoured(
    fake: FakeNetSuite, client: NetSuiteClient, status: int
) -> None:
    body = body_for([("13", 3, "1.25")], "Q-111")
    fake.inject(mode="status", status=status, count=2)
    for _ in range(2):
        with pytest.raises(NetSuiteRetryableError) as info:
            client.upsert_estimate("Q-111", body)
        assert info.value.status == status and info.value.retryable
    assert fake.estimates() == []
    internal_id = client.upsert_estimate("Q-111", body)  # the third attempt goes through
    assert [str(r["id"]) for r in fake.estimates()] == [internal_id]
    stats = fake.requests()
    assert stats["by_status"] == {str(status): 2, "204": 1} and stats["rejected"] == 2
    if status == 429:
        assert info.value.code == "CONCURRENCY_LIMIT_EXCEEDED"


def test_slow_answer_beyond_timeout_is_retryable_and_retry_is_safe(fake: FakeNetSuite) -> None:
    body = body_for([("13", 9, "1.00")], "Q-112")
    fake.inject(mode="slow", delay=2.0, count=1)
    with fake.client(timeout=0.5) as client:
        # The error itself shows the client gave up at its timeout: the server does answer
        # this request (204, counted below), only after its 2 s delay.
        with pytest.raises(NetSuiteRetryableError) as info:
            client.upsert_estimate("Q-112", body)
        assert info.value.status is None and "0.5s" in str(info.value)
        internal_id = client.upsert_estimate("Q-112", body)
    # The timed-out request is still processed by the server when its delay ends;
    # the upsert makes that harmless: one estimate, written twice.
    deadline = time.monotonic() + 5
    while fake.requests()["by_status"].get("204", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = fake.estimates()
    assert len(rows) == 1 and str(rows[0]["id"]) == internal_id and rows[0]["writes"] == 2


def test_dropped_connection_is_retryable(fake: FakeNetSuite, client: NetSuiteClient) -> None:
    body = body_for([("13", 1, "1.00")], "Q-113")
    fake.inject(mode="drop", count=1)
    with pytest.raises(NetSuiteRetryableError) as info:
        client.upsert_estimate("Q-113", body)
    assert isinstance(info.value.__cause__, httpx.TransportError)
    assert info.value.status is None
    assert fake.estimates() == []
    assert client.upsert_estimate("Q-113", body).isdigit()
    assert fake.requests()["dropped"] == 1


def test_estimate_survives_a_fake_server_restart(tmp_path: Path) -> None:
    stack = Stack(tmp_path, StackPorts.free())
    try:
        base, creds = _start(stack)
        with NetSuiteClient(base_url=base, **creds) as client:
            internal_id = client.upsert_estimate("Q-114", body_for([("14", 6, "7.77")], "Q-114"))
        stack.down(["netsuite"])
        base, creds = _start(stack)
        with NetSuiteClient(base_url=base, **creds) as client:
            record = client.get_estimate_by_external_id("Q-114")
            assert record["id"] == internal_id
            assert record["item"]["items"][0]["rate"] == 7.77
            again = client.upsert_estimate("Q-114", body_for([("14", 6, "7.77")], "Q-114"))
            assert again == internal_id
    finally:
        stack.down()


def test_known_records_can_be_changed_at_runtime(
    fake: FakeNetSuite, client: NetSuiteClient
) -> None:
    body = body_for([("42", 1, "1")], "Q-115")
    with pytest.raises(NetSuiteRejectedError):
        client.upsert_estimate("Q-115", body)
    original = fake.control("GET", "records")
    try:
        fake.control("PUT", "records", {"customers": [CUSTOMER], "items": [*ITEMS, "42"]})
        assert client.upsert_estimate("Q-115", body).isdigit()
    finally:
        fake.control("PUT", "records", original)


def test_upsert_without_replace_appends_lines_like_netsuite(fake: FakeNetSuite) -> None:
    """Why the client sends ?replace=item: without it NetSuite adds the lines again."""
    url = f"{fake.base_url}/services/rest/record/v1/estimate/eid:Q-116"
    content = json.dumps(body_for([("13", 2, "1.50")], "Q-116")).encode()
    for _ in range(2):
        answer = httpx.put(url, content=content, headers=oauth_headers(fake, "PUT", url))
        assert answer.status_code == 204
    (row,) = fake.estimates("Q-116")
    assert stored_lines(row) == [("13", 2, 1.5), ("13", 2, 1.5)]


def test_unreachable_server_is_retryable() -> None:
    with (
        NetSuiteClient(
            base_url=f"http://127.0.0.1:{free_port()}",
            account_id="1234567",
            consumer_key="ck",
            consumer_secret="cs",
            token_id="tk",
            token_secret="ts",
            timeout=2,
        ) as client,
        pytest.raises(NetSuiteRetryableError) as info,
    ):
        client.get_estimate("1")
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "ConnectError" in str(info.value) and info.value.retryable
