"""Standard Webhooks verification: the spec's vector, the reference library, every refusal."""

from __future__ import annotations

import base64
import datetime as dt
import os

import pytest
from standardwebhooks import Webhook

from surveys.signatures import (
    InvalidWebhookSecret,
    WebhookSignatureError,
    parse_webhook_secret,
    sign_webhook,
    signed_headers,
    verify_webhook,
)

# The specification's published test vector (standard-webhooks/standard-webhooks,
# libraries/python/tests/test_webhooks.py, test_sign_function). The reference library
# installed here reproduces it too (checked below), so it is not taken on trust.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

NOW = 1_764_000_000.0


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _headers(
    body: bytes, secrets: list[str], *, at: float = NOW, msg_id: str = "msg_1"
) -> dict[str, str]:
    return signed_headers(body=body, msg_id=msg_id, timestamp=int(at), secrets=secrets)


def _refusal(**kwargs: object) -> WebhookSignatureError:
    with pytest.raises(WebhookSignatureError) as caught:
        verify_webhook(**kwargs)  # type: ignore[arg-type]
    return caught.value


def test_the_reference_library_reproduces_the_published_vector() -> None:
    signed_at = dt.datetime.fromtimestamp(VECTOR_TIMESTAMP, tz=dt.UTC)
    assert (
        Webhook(VECTOR_SECRET).sign(VECTOR_ID, signed_at, VECTOR_BODY.decode()) == VECTOR_SIGNATURE
    )


def test_our_signer_produces_the_published_vector_and_it_verifies() -> None:
    assert (
        sign_webhook(
            body=VECTOR_BODY, msg_id=VECTOR_ID, timestamp=VECTOR_TIMESTAMP, secrets=VECTOR_SECRET
        )
        == VECTOR_SIGNATURE
    )
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    assert (
        verify_webhook(
            body=VECTOR_BODY, headers=headers, secrets=[VECTOR_SECRET], now=VECTOR_TIMESTAMP + 1
        )
        == VECTOR_ID
    )


def test_a_delivery_signed_by_the_reference_library_verifies() -> None:
    secret = _secret()
    body = b'{"type": "export.ready", "round": "pre"}'
    now = dt.datetime.now(tz=dt.UTC)
    headers = {
        "Webhook-Id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",  # header names in any case
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": Webhook(secret).sign(
            "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, body.decode()
        ),
    }
    assert (
        verify_webhook(body=body, headers=headers, secrets=[secret])
        == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    )


def test_the_reference_library_verifies_what_we_sign() -> None:
    secret = _secret()
    body = b'{"round": "post"}'
    headers = _headers(body, [secret], at=dt.datetime.now(tz=dt.UTC).timestamp())
    assert Webhook(secret).verify(body, headers) == {"round": "post"}


def test_the_raw_bytes_are_verified_even_when_they_are_not_text() -> None:
    secret = _secret()
    body = b"PK\x03\x04\xff\xfe binary export"  # an export pushed as the body itself
    assert (
        verify_webhook(body=body, headers=_headers(body, [secret]), secrets=[secret], now=NOW)
        == "msg_1"
    )


def test_a_changed_body_does_not_verify() -> None:
    secret = _secret()
    headers = _headers(b'{"rows": 100}', [secret])
    error = _refusal(body=b'{"rows": 100} ', headers=headers, secrets=[secret], now=NOW)
    assert error.reason == "no-match"
    assert error.detail.startswith("No signature matches any configured secret")
    assert error.status == 400 and error.code == "webhook-signature-invalid"


def test_any_configured_secret_verifies_during_a_rotation() -> None:
    old, new, unrelated = _secret(), _secret(), _secret()
    body = b"{}"
    for signer in (old, new):
        assert (
            verify_webhook(body=body, headers=_headers(body, [signer]), secrets=[new, old], now=NOW)
            == "msg_1"
        )
    assert (
        _refusal(body=body, headers=_headers(body, [unrelated]), secrets=[new, old], now=NOW).reason
        == "no-match"
    )


def test_one_valid_signature_among_several_verifies() -> None:
    secret, other = _secret(), _secret()
    body = b'{"a": 1}'
    headers = _headers(body, [other, secret])  # the sender signs with two keys
    assert len(headers["webhook-signature"].split()) == 2
    headers["webhook-signature"] = (
        "v1a,bm90LWFzeW1tZXRyaWM= v1,@@not-base64@@ " + headers["webhook-signature"]
    )
    assert verify_webhook(body=body, headers=headers, secrets=[secret], now=NOW) == "msg_1"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(missing: str) -> None:
    secret = _secret()
    headers = _headers(b"{}", [secret])
    del headers[missing]
    error = _refusal(body=b"{}", headers=headers, secrets=[secret], now=NOW)
    assert error.detail == f"The delivery has no {missing} header."
    assert error.reason == "missing-header"


def test_stale_and_future_timestamps_are_refused_with_the_age() -> None:
    secret = _secret()
    body = b"{}"
    stale = _refusal(
        body=body, headers=_headers(body, [secret], at=NOW - 412), secrets=[secret], now=NOW
    )
    assert stale.reason == "stale-timestamp"
    assert "412 s old; deliveries older than 300 s are refused" in stale.detail
    future = _refusal(
        body=body, headers=_headers(body, [secret], at=NOW + 301), secrets=[secret], now=NOW
    )
    assert future.reason == "future-timestamp"
    assert "301 s in the future" in future.detail and "check the sender's clock" in future.detail
    # At the edge of the tolerance it still verifies, and the tolerance is configurable.
    for at in (NOW - 300, NOW + 300):
        assert verify_webhook(
            body=body, headers=_headers(body, [secret], at=at), secrets=[secret], now=NOW
        )
    tight = _refusal(
        body=body,
        headers=_headers(body, [secret], at=NOW - 61),
        secrets=[secret],
        now=NOW,
        tolerance_seconds=60,
    )
    assert "older than 60 s" in tight.detail


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("webhook-timestamp", "1764000000.5", "bad-timestamp"),
        ("webhook-timestamp", "soon", "bad-timestamp"),
        ("webhook-id", "msg.1", "bad-id"),
        ("webhook-signature", "v1a,c2lnbmF0dXJl", "no-v1-signature"),
        ("webhook-signature", "v1,c2hvcnQ=", "no-v1-signature"),  # not 32 bytes: not an HMAC-SHA256
    ],
)
def test_malformed_headers_are_refused(field: str, value: str, reason: str) -> None:
    secret = _secret()
    headers = _headers(b"{}", [secret])
    headers[field] = value
    assert _refusal(body=b"{}", headers=headers, secrets=[secret], now=NOW).reason == reason


def test_two_different_ids_are_refused_but_a_repeated_signature_header_is_joined() -> None:
    secret = _secret()
    body = b"{}"
    good = _headers(body, [secret])
    pairs = [
        ("webhook-id", "msg_1"),
        ("Webhook-Id", "msg_2"),
        *((k, v) for k, v in good.items() if k != "webhook-id"),
    ]
    error = _refusal(body=body, headers=_Pairs(pairs), secrets=[secret], now=NOW)
    assert error.reason == "repeated-header"
    split = [(k, v) for k, v in good.items() if k != "webhook-signature"]
    split += [("webhook-signature", "v1,AAAA"), ("webhook-signature", good["webhook-signature"])]
    assert verify_webhook(body=body, headers=_Pairs(split), secrets=[secret], now=NOW) == "msg_1"


class _Pairs(dict[str, str]):
    """Headers with a name repeated, as Starlette's Headers.items() lists them."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self._pairs = pairs

    def items(self):  # type: ignore[override]
        return list(self._pairs)


def test_refusals_never_contain_the_secret_or_a_signature() -> None:
    secret = _secret()
    body = b"{}"
    headers = _headers(body, [secret])
    errors = [
        _refusal(body=b"[]", headers=headers, secrets=[secret], now=NOW),
        _refusal(body=body, headers=headers, secrets=[secret], now=NOW + 1000),
        _refusal(
            body=body, headers={**headers, "webhook-signature": "v2,xyz"}, secrets=[secret], now=NOW
        ),
    ]
    key = secret.removeprefix("whsec_")
    signature = headers["webhook-signature"].split(",", 1)[1]
    for error in errors:
        text = str(error.to_problem())
        assert key not in text and signature not in text


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        (["whsec_not base64!"], "Webhook secret 1 is not valid"),
        ([VECTOR_SECRET, "whsec_c2hvcnQ="], "Webhook secret 2 is too short: it decodes to 5 bytes"),
        ([], "No webhook secret is configured"),
    ],
)
def test_a_malformed_secret_is_a_configuration_error(secrets: list[str], message: str) -> None:
    headers = _headers(b"{}", [VECTOR_SECRET])
    with pytest.raises(InvalidWebhookSecret, match=message) as caught:
        verify_webhook(body=b"{}", headers=headers, secrets=secrets, now=NOW)
    assert "not base64!" not in str(caught.value) and "c2hvcnQ" not in str(caught.value)


def test_a_secret_without_its_prefix_or_padding_is_accepted() -> None:
    key = parse_webhook_secret(VECTOR_SECRET)
    assert len(key) == 24
    assert parse_webhook_secret(VECTOR_SECRET.removeprefix("whsec_")) == key
    padded = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    assert parse_webhook_secret(padded.rstrip("=")) == parse_webhook_secret(padded)
