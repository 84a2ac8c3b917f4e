"""Bearer-token verification: every way a token can be wrong gets a 401/403 problem."""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from fastapi.testclient import TestClient

from rlc_shared.auth import generate_private_key_pem, mint_token
from rlc_shared.config import AUDIENCE, DEV_ISSUER
from rlc_testkit import Keys


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return signing_input + "." + b64(signature)


def hs256(header: dict, claims: dict, secret: bytes) -> str:
    signing_input = (
        b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    ).encode()
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(signing_input)
    return signing_input.decode() + "." + b64(mac.finalize())


def claims(**over) -> dict:
    now = int(time.time())
    base = {
        "iss": DEV_ISSUER,
        "aud": AUDIENCE,
        "sub": "someone",
        "exp": now + 600,
        "iat": now,
        "roles": ["trial_manager"],
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def assert_problem(resp, status: int, fragment: str = "") -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == status
    assert fragment.lower() in body["detail"].lower(), body["detail"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def public_key_bytes(keys: Keys, encoding) -> bytes:
    key = serialization.load_pem_private_key(keys.private_pem, password=None).public_key()
    return key.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_valid_token_passes(client: TestClient, keys: Keys) -> None:
    resp = client.get("/whoami", headers=keys.headers("school", urn=123456, sub="head@x"))
    assert resp.status_code == 200
    assert resp.json() == {"sub": "head@x", "roles": ["school"], "urn": 123456}


def test_missing_token(client: TestClient) -> None:
    assert_problem(client.get("/whoami"), 401, "Authentication required")
    assert_problem(client.get("/whoami", headers={"Authorization": "Basic abc"}), 401, "Bearer")


def test_expired_token(client: TestClient, keys: Keys) -> None:
    token = keys.token(ttl_seconds=-120)
    assert_problem(client.get("/whoami", headers=bearer(token)), 401, "expired")


def test_future_nbf(client: TestClient, keys: Keys) -> None:
    token = keys.token(extra={"nbf": int(time.time()) + 3600})
    assert_problem(client.get("/whoami", headers=bearer(token)), 401, "rejected")


@pytest.mark.parametrize(
    "override",
    [
        {"aud": None},
        {"aud": "another-platform"},
        {"iss": None},
        {"iss": "https://evil.example"},
        {"sub": None},
        {"exp": None},
    ],
    ids=["no-aud", "wrong-aud", "no-iss", "wrong-iss", "no-sub", "no-exp"],
)
def test_required_claims(client: TestClient, keys: Keys, override: dict) -> None:
    from jose import jwt

    token = jwt.encode(
        claims(**override), keys.private_pem.decode(), algorithm="RS256", headers={"kid": keys.kid}
    )
    assert_problem(client.get("/whoami", headers=bearer(token)), 401)


def test_alg_none(client: TestClient, keys: Keys) -> None:
    token = forge({"alg": "none", "typ": "JWT", "kid": keys.kid}, claims())
    assert_problem(client.get("/whoami", headers=bearer(token)), 401, "RS256")


@pytest.mark.parametrize("encoding", ["PEM", "DER"])
def test_hs256_signed_with_public_key(client: TestClient, keys: Keys, encoding: str) -> None:
    secret = public_key_bytes(keys, getattr(serialization.Encoding, encoding))
    token = hs256({"alg": "HS256", "typ": "JWT", "kid": keys.kid}, claims(), secret)
    assert_problem(client.get("/whoami", headers=bearer(token)), 401, "RS256")


def test_unknown_kid(client: TestClient, keys: Keys) -> None:
    other = generate_private_key_pem()
    token = mint_token(
        private_pem=other,
        kid="not-ours",
        sub="x",
        roles=["trial_manager"],
        issuer=DEV_ISSUER,
        audience=AUDIENCE,
    )
    assert_problem(client.get("/whoami", headers=bearer(token)), 401, "unknown key")


def test_right_kid_wrong_key(client: TestClient, keys: Keys) -> None:
    other = generate_private_key_pem()
    token = mint_token(
        private_pem=other,
        kid=keys.kid,
        sub="x",
        roles=["trial_manager"],
        issuer=DEV_ISSUER,
        audience=AUDIENCE,
    )
    assert_problem(client.get("/whoami", headers=bearer(token)), 401, "rejected")


def test_garbage_token(client: TestClient) -> None:
    assert_problem(client.get("/whoami", headers=bearer("not-a-jwt")), 401, "malformed")


def test_missing_role(client: TestClient, keys: Keys) -> None:
    assert_problem(client.get("/managers-only", headers=keys.headers("auditor")), 403, "role")
    assert client.get("/managers-only", headers=keys.headers("trial_manager")).status_code == 200


def test_wrong_scope_is_answered_as_missing(client: TestClient, keys: Keys) -> None:
    own = keys.headers("school", urn=100001)
    assert client.get("/las/370/schools/100001", headers=own).status_code == 200
    assert_problem(client.get("/las/370/schools/100002", headers=own), 404, "no school")
    vs = keys.headers("virtual_school", la_code="370")
    assert client.get("/las/370/schools/100002", headers=vs).status_code == 200
    assert_problem(client.get("/las/865/schools/100002", headers=vs), 404, "no school")
    # A school-role token without a urn claim reaches no school.
    assert_problem(client.get("/las/370/schools/100001", headers=keys.headers("school")), 404)


def test_token_never_logged(
    client: TestClient, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    from rlc_shared.logging import JsonFormatter

    token = keys.token(ttl_seconds=-120)
    with caplog.at_level("DEBUG"):
        client.get("/whoami", headers=bearer(token))
    text = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert token not in text
    assert token.split(".")[1] not in text
