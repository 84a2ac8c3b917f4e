"""Standard Webhooks signatures (https://www.standardwebhooks.com), verified and made.

The survey platform signs each delivery: ``webhook-signature`` holds one or more
``v1,<base64 HMAC-SHA256>`` of ``"{webhook-id}.{webhook-timestamp}.{raw body}"`` under a
``whsec_<base64 key>`` secret. During a key rotation the platform may sign with several keys and
we may accept several, so any valid signature under any configured secret verifies.

Verification is over the raw bytes (never a re-serialised body), compares in constant time, and
refuses timestamps outside a tolerance either way, which bounds replays; the returned
``webhook-id`` is the idempotency key that stops a replay within it. Refusals say what to fix
and never contain the secret or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from rlc_shared.errors import ProblemError

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "InvalidWebhookSecret",
    "WebhookSignatureError",
    "parse_webhook_secret",
    "sign_webhook",
    "signed_headers",
    "verify_webhook",
]

DEFAULT_TOLERANCE_SECONDS: Final = 300
SECRET_PREFIX: Final = "whsec_"
# The specification asks for at least 24 random bytes (192 bits).
MIN_SECRET_BYTES: Final = 24
_MAX_ID_LENGTH: Final = 256
_SIGNATURE_BYTES: Final = 32  # HMAC-SHA256


class WebhookSignatureError(ProblemError):
    """A delivery that does not verify. ``reason`` is a short code for logs and metrics."""

    status, code = 400, "webhook-signature-invalid"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


class InvalidWebhookSecret(ValueError):
    """A configured secret is not ``whsec_`` + base64 of at least 24 bytes: our configuration
    is wrong, not the delivery. The message names the secret's position, never its value."""


def parse_webhook_secret(secret: str, *, position: int = 1) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret (the prefix may be omitted, as the
    specification's libraries allow). ``position`` (from 1) names it in the error."""
    text = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        # Strict decoding: b64decode's default silently drops non-alphabet characters, which
        # would turn a mistyped secret into a different, valid-looking key.
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhookSecret(
            f"Webhook secret {position} is not valid: expected 'whsec_' followed by base64."
        ) from None
    if len(key) < MIN_SECRET_BYTES:
        raise InvalidWebhookSecret(
            f"Webhook secret {position} is too short: it decodes to {len(key)} bytes, and "
            f"Standard Webhooks secrets have at least {MIN_SECRET_BYTES}."
        )
    return key


def _keys(secrets: str | Sequence[str]) -> list[bytes]:
    listed = [secrets] if isinstance(secrets, str) else list(secrets)
    if not listed:
        raise InvalidWebhookSecret("No webhook secret is configured, so nothing can verify.")
    return [parse_webhook_secret(s, position=i) for i, s in enumerate(listed, start=1)]


def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign_webhook(*, body: bytes, msg_id: str, timestamp: int, secrets: str | Sequence[str]) -> str:
    """The ``webhook-signature`` value for a delivery: one ``v1,<base64>`` per secret,
    space-separated (for tests, the demo, and re-sending an export by hand)."""
    keys = _keys(secrets)
    return " ".join(
        "v1," + base64.b64encode(_signature(k, msg_id, str(timestamp), body)).decode() for k in keys
    )


def signed_headers(
    *, body: bytes, msg_id: str, timestamp: int, secrets: str | Sequence[str]
) -> dict[str, str]:
    """All three Standard Webhooks headers for a delivery."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_webhook(
            body=body, msg_id=msg_id, timestamp=timestamp, secrets=secrets
        ),
    }


def _header_values(headers: Mapping[str, str] | Iterable[tuple[str, str]], name: str) -> list[str]:
    # Header names are case-insensitive; a Starlette Headers object lists repeats in items().
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [v for k, v in items if k.lower() == name]


def _single(headers: Mapping[str, str], name: str) -> str:
    values = {v.strip() for v in _header_values(headers, name)}
    values.discard("")
    if not values:
        raise WebhookSignatureError(f"The delivery has no {name} header.", reason="missing-header")
    if len(values) > 1:
        raise WebhookSignatureError(
            f"The delivery has {len(values)} different {name} headers; it must have one.",
            reason="repeated-header",
        )
    return values.pop()


def _candidates(header: str) -> tuple[list[bytes], list[str]]:
    """The decodable v1 signatures in a signature header, and the other versions seen."""
    v1: list[bytes] = []
    others: list[str] = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            others.append(version[:10])  # "v1a" (asymmetric) is legitimate; we do not use it
            continue
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(decoded) == _SIGNATURE_BYTES:
            v1.append(decoded)
    return v1, others


def verify_webhook(
    *,
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """Verify a delivery; return its ``webhook-id``.

    ``body`` is the request body exactly as received. Raises ``WebhookSignatureError`` (400)
    naming what is wrong, and ``InvalidWebhookSecret`` if ``secrets`` is empty or one of them is
    malformed (a configuration error, checked before the delivery is judged).
    """
    keys = _keys(secrets)
    msg_id = _single(headers, "webhook-id")
    if "." in msg_id or len(msg_id) > _MAX_ID_LENGTH or not msg_id.isprintable():
        # The id is part of the signed text "{id}.{timestamp}.{body}"; a "." in it would make
        # that text ambiguous, as the specification warns.
        raise WebhookSignatureError(
            f"The webhook-id header is not a valid id (at most {_MAX_ID_LENGTH} printable "
            "characters, no '.').",
            reason="bad-id",
        )
    stamp = _single(headers, "webhook-timestamp")
    if not (stamp.isascii() and stamp.isdigit()):
        raise WebhookSignatureError(
            "The webhook-timestamp header is not a whole number of seconds since 1970.",
            reason="bad-timestamp",
        )
    age = (time.time() if now is None else now) - int(stamp)
    if age > tolerance_seconds:
        raise WebhookSignatureError(
            f"The webhook-timestamp is {math.ceil(age)} s old; deliveries older than "
            f"{tolerance_seconds} s are refused (a replay, or a retry of an old delivery: "
            "the sender should sign each attempt afresh).",
            reason="stale-timestamp",
        )
    if -age > tolerance_seconds:
        raise WebhookSignatureError(
            f"The webhook-timestamp is {math.ceil(-age)} s in the future; deliveries more than "
            f"{tolerance_seconds} s ahead are refused (check the sender's clock).",
            reason="future-timestamp",
        )
    header = " ".join(_header_values(headers, "webhook-signature"))
    if not header.strip():
        raise WebhookSignatureError(
            "The delivery has no webhook-signature header.", reason="missing-header"
        )
    offered, others = _candidates(header)
    if not offered:
        seen = f" (it has only {', '.join(sorted(set(others)))})" if others else ""
        raise WebhookSignatureError(
            f"The webhook-signature header has no well-formed v1 signature{seen}.",
            reason="no-v1-signature",
        )
    matched = False
    for key in keys:
        expected = _signature(key, msg_id, stamp, body)
        for candidate in offered:
            # No early exit: every comparison runs, so timing does not reveal which key matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookSignatureError(
            "No signature matches any configured secret: the body was changed after signing, "
            "or the sender uses a secret we do not have (check key rotation).",
            reason="no-match",
        )
    return msg_id
