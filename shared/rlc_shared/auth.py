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

from rlc_shared.errors import Forbidden, Unauthorized

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


# --- FastAPI dependencies ---------------------------------------------------------------------


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def get_principal(request: Request) -> Principal:
    """The verified caller; every non-health route depends on this."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    settings = request.app.state.settings
    principal = verify_token(
        _bearer(request),
        keys=request.app.state.keyset,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
    )
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: Role | str) -> Any:
    """A dependency that lets through callers holding any of ``roles``."""
    allowed = frozenset(str(r) for r in roles)

    def _check(principal: CurrentPrincipal) -> Principal:
        if not principal.roles & allowed:
            raise Forbidden(
                "Your token does not carry a role allowed here; allowed: "
                + ", ".join(sorted(allowed))
                + "."
            )
        return principal

    return Depends(_check)


def ensure_la_scope(principal: Principal, la_code: str | None) -> None:
    """A Virtual School acts only for its own local authority."""
    if principal.has(Role.virtual_school) and not principal.has(
        Role.trial_manager, Role.evaluator, Role.delivery, Role.auditor, Role.service
    ):
        if not principal.la_code or principal.la_code != la_code:
            raise Forbidden("This belongs to another local authority than your token's.")


def ensure_school_scope(principal: Principal, urn: int | None, la_code: str | None) -> None:
    """A school sees only itself; a Virtual School only its LA's schools."""
    wide = (Role.trial_manager, Role.evaluator, Role.delivery, Role.auditor, Role.service)
    if principal.has(*wide):
        return
    if principal.has(Role.virtual_school) and principal.la_code and principal.la_code == la_code:
        return
    if principal.has(Role.school) and principal.urn is not None and principal.urn == urn:
        return
    raise Forbidden("Your token's scope does not cover this school.")
