"""The development token issuer's key pair and JWKS, kept under ``var/keys/``.

Services trust it only because the embedded default points their JWKS_FILE at it; production
configures the real issuer's JWKS instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from rlc_shared.auth import generate_private_key_pem, mint_token, public_jwk
from rlc_shared.config import AUDIENCE, DEV_ISSUER, VAR_DIR


def keys_dir() -> Path:
    return Path(os.environ.get("RLC_KEYS_DIR", VAR_DIR / "keys"))


def ensure_dev_keys(directory: Path | None = None) -> tuple[bytes, str]:
    """Create the dev issuer's key pair and JWKS once; return (private PEM, kid)."""
    directory = directory or keys_dir()
    directory.mkdir(parents=True, exist_ok=True)
    private_path = directory / "issuer-private.pem"
    if not private_path.exists():
        pem = generate_private_key_pem()
        tmp = private_path.with_suffix(".tmp")
        tmp.write_bytes(pem)
        tmp.chmod(0o600)
        tmp.replace(private_path)
    pem = private_path.read_bytes()
    kid = "dev-" + hashlib.sha256(pem).hexdigest()[:16]
    jwks_path = directory / "jwks.json"
    jwks = {"keys": [public_jwk(pem, kid)]}
    if not jwks_path.exists() or json.loads(jwks_path.read_text()) != jwks:
        tmp = jwks_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(jwks, indent=2))
        tmp.replace(jwks_path)
    return pem, kid


def dev_token(
    *,
    role: str,
    sub: str | None = None,
    la_code: str | None = None,
    urn: int | None = None,
    ttl_seconds: int = 8 * 3600,
    issuer: str = DEV_ISSUER,
    audience: str = AUDIENCE,
) -> str:
    pem, kid = ensure_dev_keys()
    return mint_token(
        private_pem=pem,
        kid=kid,
        sub=sub or f"dev-{role}",
        roles=[role],
        la_code=la_code,
        urn=urn,
        issuer=issuer,
        audience=audience,
        ttl_seconds=ttl_seconds,
    )
