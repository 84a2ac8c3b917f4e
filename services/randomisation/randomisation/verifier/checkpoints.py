"""Signed checkpoints: compact RS256 JWS over ``{tree_size, root_hash, timestamp}`` (section 5).

This is the only module of the verifier that touches python-jose, so replacing it (as the
FastAPI template did for PyJWT) changes one file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jose import jwk, jws
from jose.exceptions import JOSEError

from .canonical import canonical_json, is_hex64, is_int, is_rfc3339_utc

CHECKPOINT_ALGORITHM = "RS256"


class CheckpointError(ValueError):
    """A checkpoint is malformed, uses a refused algorithm or key, or its signature is bad."""


def checkpoint_payload(tree_size: int, root_hash: bytes | str, timestamp: str) -> dict[str, Any]:
    """The signed content of a checkpoint."""
    root_hex = root_hash.hex() if isinstance(root_hash, bytes | bytearray) else root_hash
    return {"tree_size": tree_size, "root_hash": root_hex, "timestamp": timestamp}


def sign_checkpoint(payload: Mapping[str, Any], private_pem: str | bytes, kid: str) -> str:
    """Sign a checkpoint payload as a compact RS256 JWS (for tests and benchmarks)."""
    key = private_pem.decode("ascii") if isinstance(private_pem, bytes) else private_pem
    token = jws.sign(
        canonical_json(dict(payload)), key, headers={"kid": kid}, algorithm=CHECKPOINT_ALGORITHM
    )
    return str(token)


def public_jwk_from_pem(public_pem: str | bytes, kid: str) -> dict[str, Any]:
    """The public JWK (``kty, n, e, kid, alg, use``) of an RSA key given in PEM."""
    pem = public_pem.decode("ascii") if isinstance(public_pem, bytes) else public_pem
    key = jwk.construct(pem, CHECKPOINT_ALGORITHM).public_key().to_dict()
    return {
        "kty": "RSA",
        "n": key["n"],
        "e": key["e"],
        "kid": kid,
        "alg": CHECKPOINT_ALGORITHM,
        "use": "sig",
    }


def _find_jwk(jwks: Mapping[str, Any], kid: str) -> Mapping[str, Any]:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise CheckpointError('the JWKS has no "keys" list')
    matches = [key for key in keys if isinstance(key, Mapping) and key.get("kid") == kid]
    if not matches:
        raise CheckpointError(f"unknown key id (kid) {kid!r}: not in the JWKS")
    if len(matches) > 1:
        raise CheckpointError(f"the JWKS holds {len(matches)} keys with kid {kid!r}")
    key = matches[0]
    if key.get("kty") != "RSA":
        raise CheckpointError(f"key {kid!r} is not an RSA key")
    if key.get("alg", CHECKPOINT_ALGORITHM) != CHECKPOINT_ALGORITHM:
        raise CheckpointError(f"key {kid!r} is for {key.get('alg')!r}, not RS256")
    if key.get("use", "sig") != "sig":
        raise CheckpointError(f"key {kid!r} is not a signing key (use={key.get('use')!r})")
    return key


def verify_checkpoint(jws_compact: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Verify a checkpoint and return its payload ``{"tree_size", "root_hash", "timestamp"}``.

    The key is the JWKS entry named by the JWS header's ``kid``; only RS256 is accepted.  Raises
    ``CheckpointError`` on a malformed token, an unknown kid, a refused algorithm, a bad
    signature or a malformed payload.  It does not compare the root with any log.
    """
    token = jws_compact.strip()
    try:
        header = jws.get_unverified_header(token)
    except JOSEError as exc:
        raise CheckpointError(f"not a compact JWS: {exc}") from exc
    alg = header.get("alg")
    if alg != CHECKPOINT_ALGORITHM:
        raise CheckpointError(f"algorithm {alg!r} refused: checkpoints must use RS256")
    if "crit" in header:  # no extensions are defined, so none can be honoured
        raise CheckpointError("the JWS header has a crit parameter, which is not supported")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise CheckpointError("the JWS header has no kid")
    key_data = _find_jwk(jwks, kid)
    try:
        key = jwk.construct(dict(key_data), CHECKPOINT_ALGORITHM)
    except Exception as exc:  # the backends raise assorted types on a malformed n or e
        raise CheckpointError(f"key {kid!r} in the JWKS is malformed: {exc}") from exc
    try:
        raw = jws.verify(token, key, algorithms=[CHECKPOINT_ALGORITHM])
    except JOSEError as exc:
        raise CheckpointError(f"signature does not verify with key {kid!r}") from exc
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise CheckpointError("the checkpoint payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise CheckpointError("the checkpoint payload is not a JSON object")
    size = payload.get("tree_size")
    if not is_int(size) or size < 0:
        raise CheckpointError(f"tree_size must be a non-negative integer, not {size!r}")
    if not is_hex64(payload.get("root_hash")):
        raise CheckpointError("root_hash must be 64 lowercase hex digits")
    if not is_rfc3339_utc(payload.get("timestamp")):
        raise CheckpointError("timestamp must be an RFC 3339 UTC date-time")
    return payload


def unverified_payload(jws_compact: str) -> object | None:
    """The checkpoint's payload as JSON, signature unchecked; None if the token is malformed.

    Only for comparing a checkpoint file's unsigned copies with what was signed; the signature
    itself is checked, and a malformed token reported, by ``verify_checkpoint``.
    """
    try:
        return json.loads(jws.get_unverified_claims(jws_compact.strip()))
    except (JOSEError, ValueError):
        return None


def read_checkpoint_file(text: str) -> list[tuple[str, dict[str, Any] | None]]:
    """Parse a checkpoint file: ``[(compact_jws, unsigned_fields_or_None), ...]``.

    Accepted: a bare compact JWS (one per line); a JSON object ``{"checkpoint": "<jws>", ...}``
    whose other fields (``tree_size``, ``root_hash``) are unsigned convenience copies; a JSON
    array or JSON Lines of such objects or strings.  Raises ``ValueError`` on anything else.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("the checkpoint file is empty")
    items: list[Any]
    if stripped[0] in "{[":
        try:
            document = json.loads(stripped)
            items = document if isinstance(document, list) else [document]
        except ValueError:
            items = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    else:
        items = [line.strip() for line in stripped.splitlines() if line.strip()]
    found: list[tuple[str, dict[str, Any] | None]] = []
    for item in items:
        if isinstance(item, str):
            found.append((item, None))
        elif isinstance(item, dict) and isinstance(item.get("checkpoint"), str):
            extra = {key: value for key, value in item.items() if key != "checkpoint"}
            found.append((item["checkpoint"], extra))
        else:
            raise ValueError('each checkpoint must be a compact JWS or {"checkpoint": "<jws>"}')
    return found
