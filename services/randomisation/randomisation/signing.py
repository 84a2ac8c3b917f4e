"""The service's checkpoint-signing key: loaded from a PEM file, its public half in the JWKS."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from randomisation.config import Settings
from randomisation.models import AuditEvent, SigningKey
from rlc_shared import audit
from rlc_shared.auth import generate_private_key_pem, public_jwk, public_pem, sign_jws

log = logging.getLogger("randomisation.signing")
SYSTEM_ACTOR = "randomisation-service"


class Signer:
    def __init__(self, private_pem: bytes) -> None:
        self._pem = private_pem
        # The kid names the key by its public half, so a rotated key always gets a new kid.
        self.kid = "rand-" + hashlib.sha256(public_pem(private_pem)).hexdigest()[:16]
        self.jwk: dict[str, Any] = public_jwk(private_pem, self.kid)

    def sign(self, payload: dict[str, Any]) -> str:
        return sign_jws(payload, private_pem=self._pem, kid=self.kid)


def load_signer(settings: Settings) -> Signer:
    """The key from ``signing_key_file``; in development a missing file is created."""
    path = Path(settings.signing_key_file)
    if not path.is_file():
        if settings.is_production:
            raise RuntimeError(f"the checkpoint signing key {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = generate_private_key_pem()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        log.warning("created a development checkpoint signing key at %s", path)
    return Signer(path.read_bytes())


def register_key(session: Session, *, signer: Signer) -> bool:
    """Record the signing key (and log ``key.registered``/``key.rotated``) if it is new."""
    from randomisation.log import service as log_service

    log_service.lock_log(session)
    if session.get(SigningKey, signer.kid) is not None:
        return False
    previous = session.exec(
        select(SigningKey).order_by(SigningKey.registered_at.desc()).limit(1)  # type: ignore[attr-defined]
    ).first()
    session.add(SigningKey(kid=signer.kid, public_jwk=signer.jwk))
    action = "key.rotated" if previous is not None else "key.registered"
    audit.record(
        session,
        AuditEvent,
        actor=SYSTEM_ACTOR,
        action=action,
        entity_type="signing_key",
        entity_id=signer.kid,
        old={"kid": previous.kid} if previous is not None else None,
        new={"kid": signer.kid},
    )
    log_service.append(
        session,
        entry_type=action,
        actor=SYSTEM_ACTOR,
        payload={
            "kid": signer.kid,
            "jwk": signer.jwk,
            "previous_kid": previous.kid if previous is not None else None,
        },
    )
    return True


def jwks(session: Session) -> dict[str, Any]:
    keys = session.exec(select(SigningKey).order_by(SigningKey.registered_at)).all()  # type: ignore[arg-type]
    return {"keys": [k.public_jwk for k in keys]}
