"""Bearer-token auth. The only module that imports python-jose, so a move to another JOSE
library touches this file alone.

Tokens are RS256 JWTs verified against a JWKS (file or URL), the key chosen by ``kid``. Only RS256
is accepted: python-jose would otherwise take the algorithm from the token's header, and a public
key used as an HS256 secret is a known bypass. ``exp``, ``iss``, ``aud`` and ``sub`` are required.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, Request
from jose import ExpiredSignatureError, JWTError, jwk, jws, jwt
from jose.exceptions import JOSEError

from rlc_shared.errors import Unauthorized

ALGORITHM = "RS256"


class Role(StrEnum):
    trial_manager = "trial_manager"
    evaluator = "evaluator"
    delivery = "delivery"
    virtual_school = "virtual_school"
    school = "school"
    auditor = "auditor"
    service = "service"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject, roles and scope claims."""

    sub: str
    roles: frozenset[str]
    la_code: str | None = None
    urn: int | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return self.sub


class KeySet:
    """The trusted public keys, from a JWKS file (re-read when it changes) or URL (cached)."""

    def __init__(
        self, *, jwks_file: str | None = None, jwks_url: str | None = None, ttl: float = 300.0
    ) -> None:
        if not jwks_file and not jwks_url:
            raise ValueError("configure JWKS_FILE or JWKS_URL to verify tokens")
        self._file = Path(jwks_file) if jwks_file else None
        self._url = jwks_url
        self._ttl = ttl
        self._keys: dict[str, dict[str, Any]] = {}
        self._loaded_at = 0.0
        self._mtime = 0.0
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._url:
            with httpx.Client(timeout=5.0, follow_redirects=False) as client:
                resp = client.get(self._url)
                resp.raise_for_status()
                doc = resp.json()
        else:
            assert self._file is not None
            doc = json.loads(self._file.read_text())
            self._mtime = self._file.stat().st_mtime
        self._keys = {k["kid"]: k for k in doc.get("keys", []) if k.get("kid")}
        self._loaded_at = time.monotonic()

    def _stale(self) -> bool:
        if not self._loaded_at:
            return True
        if self._file is not None:
            try:
                return self._file.stat().st_mtime != self._mtime
            except FileNotFoundError:
                return False
        return time.monotonic() - self._loaded_at > self._ttl

    def get(self, kid: str) -> dict[str, Any] | None:
        with self._lock:
            try:
                if self._stale():
                    self._load()
                elif (
                    kid not in self._keys and self._url and time.monotonic() - self._loaded_at > 10
                ):
                    self._load()  # key rotation: refetch once, at most every 10 s
            except (OSError, ValueError, httpx.HTTPError) as exc:
                if not self._keys:
                    raise Unauthorized(
                        "Tokens cannot be verified: the trusted key set is unavailable."
                    ) from exc
            return self._keys.get(kid)


def verify_token(
    token: str, *, keys: KeySet, issuer: str, audience: str, leeway: int = 30
) -> Principal:
    """Verify a bearer token and return its principal, or raise Unauthorized with the reason."""
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as exc:
        raise Unauthorized("The bearer token is malformed.") from exc
    if header.get("alg") != ALGORITHM:
        raise Unauthorized(f"Tokens must be signed with {ALGORITHM}; got {header.get('alg')!r}.")
    kid = header.get("kid")
    if not kid:
        raise Unauthorized("The token has no key id (kid).")
    key = keys.get(kid)
    if key is None:
        raise Unauthorized("The token was signed by an unknown key (kid); obtain a new token.")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={
                "require_exp": True,
                "require_iss": True,
                "require_aud": True,
                "require_sub": True,
                "verify_nbf": True,
                "leeway": leeway,
            },
        )
    except ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired; obtain a new one.") from exc
    except JWTError as exc:
        raise Unauthorized(f"The token was rejected: {exc}.") from exc
    roles = claims.get("roles") or []
    if isinstance(roles, str):
        roles = [roles]
    urn = claims.get("urn")
    try:
        urn = int(urn) if urn is not None else None
    except (TypeError, ValueError) as exc:
        raise Unauthorized("The token's urn claim is not a URN.") from exc
    return Principal(
        sub=str(claims["sub"]),
        roles=frozenset(str(r) for r in roles),
        la_code=str(claims["la_code"]) if claims.get("la_code") else None,
        urn=urn,
        claims=claims,
    )


# --- signing: the dev token issuer, service tokens, checkpoints -------------------------------


def generate_private_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_jwk(private_pem: bytes, kid: str) -> dict[str, Any]:
    """The public half of a private key, as a JWK ready for a JWKS document."""
    public_pem = (
        serialization.load_pem_private_key(private_pem, password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    doc = jwk.construct(public_pem, ALGORITHM).to_dict()
    doc = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in doc.items()}
    doc.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    return doc


def public_pem(private_pem: bytes) -> bytes:
    return (
        serialization.load_pem_private_key(private_pem, password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def mint_token(
    *,
    private_pem: bytes,
    kid: str,
    sub: str,
    roles: list[str],
    issuer: str,
    audience: str,
    la_code: str | None = None,
    urn: int | None = None,
    ttl_seconds: int = 8 * 3600,
    extra: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "roles": roles,
    }
    if la_code:
        claims["la_code"] = la_code
    if urn is not None:
        claims["urn"] = urn
    claims.update(extra or {})
    return jwt.encode(claims, private_pem.decode(), algorithm=ALGORITHM, headers={"kid": kid})


def sign_jws(payload: dict[str, Any], *, private_pem: bytes, kid: str) -> str:
    """A compact RS256 JWS over canonical JSON (used for signed log checkpoints)."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return jws.sign(body, private_pem.decode(), algorithm=ALGORITHM, headers={"kid": kid})


def verify_jws(token: str, *, keys: KeySet) -> dict[str, Any]:
    """The JSON payload of a compact RS256 JWS signed by a key of ``keys`` (chosen by ``kid``).

    Raises ``ValueError`` with the reason: the caller decides which problem that is.
    """
    try:
        header = jws.get_unverified_header(token)
    except JOSEError as exc:
        raise ValueError("the signature is not a compact JWS") from exc
    if header.get("alg") != ALGORITHM:
        raise ValueError(f"it must be signed with {ALGORITHM}")
    key = keys.get(str(header.get("kid") or ""))
    if key is None:
        raise ValueError("it is signed by a key the trusted key set does not hold")
    try:
        payload = json.loads(jws.verify(token, key, algorithms=[ALGORITHM]))
    except (JOSEError, ValueError) as exc:
        raise ValueError("its signature does not verify") from exc
    if not isinstance(payload, dict):
        raise ValueError("its payload is not a JSON object")
    return payload


# --- FastAPI: the caller, verified once per request by the middleware --------------------------


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


class VerifiedTokens:
    """Tokens already verified, so a client's next request with the same token skips the RSA
    check: kept at most ``ttl`` seconds (a key withdrawn from the JWKS stops being trusted
    within that time) and never past the token's own expiry; bounded in number."""

    def __init__(self, *, ttl: float = 60.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._seen: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        hit = self._seen.get(token)
        if hit is None:
            return None
        if hit[1] <= time.time():
            with self._lock:
                self._seen.pop(token, None)
            return None
        return hit[0]

    def put(self, token: str, principal: Principal) -> None:
        exp = principal.claims.get("exp")
        until = min(time.time() + self.ttl, float(exp) if isinstance(exp, int | float) else 0.0)
        with self._lock:
            if len(self._seen) >= self.size:
                self._seen.clear()  # rare, and the next requests simply verify again
            self._seen[token] = (principal, until)


def authenticate(app_state: Any, authorization: str | None) -> Principal:
    """Verify the request's bearer token against the app's key set and settings."""
    token = _bearer(authorization)
    cache: VerifiedTokens | None = getattr(app_state, "verified_tokens", None)
    if cache is not None and (known := cache.get(token)) is not None:
        return known
    settings = app_state.settings
    principal = verify_token(
        token,
        keys=app_state.keyset,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
    )
    if cache is not None:
        cache.put(token, principal)
    return principal


def principal_of(request: Request) -> Principal:
    """The verified caller of a request (verified once, by the middleware, before the body)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        principal = authenticate(request.app.state, request.headers.get("authorization"))
        request.state.principal = principal
    return principal


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in the
# thread pool, and a hop there and back per dependency is most of a small request's cost.
async def get_principal(request: Request) -> Principal:
    """The verified caller; every non-public route depends on this."""
    return principal_of(request)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
