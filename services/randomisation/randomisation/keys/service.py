"""Signing keys: every key that has signed is registered in the log (``key.registered`` or
``key.rotated``) and published in the JWKS, so old checkpoints stay verifiable after rotation."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from randomisation.auditing import audit
from randomisation.log import service as log_service
from randomisation.models import SigningKey
from randomisation.signing import Signer
from rlc_shared.db import transaction

log = logging.getLogger("randomisation.keys")
SYSTEM_ACTOR = "randomisation-service"


def register_key(session: Session, *, signer: Signer) -> bool:
    """Record the signing key (and log ``key.registered``/``key.rotated``) if it is new."""
    log_service.lock_log(session)
    if session.get(SigningKey, signer.kid) is not None:
        return False
    previous = session.exec(
        select(SigningKey).order_by(col(SigningKey.registered_at).desc()).limit(1)
    ).first()
    session.add(SigningKey(kid=signer.kid, public_jwk=signer.jwk))
    action = "key.rotated" if previous is not None else "key.registered"
    audit(
        session,
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
    keys = session.exec(select(SigningKey).order_by(col(SigningKey.registered_at))).all()
    return {"keys": [k.public_jwk for k in keys]}


class KeyRegistration:
    """Registers the key at start-up, once; if the database is not migrated yet, retries in the
    background until it is (readiness says so meanwhile, and nothing is signed)."""

    def __init__(self, engine: Engine, signer: Signer, *, retry_seconds: float = 2.0) -> None:
        self.engine = engine
        self.signer = signer
        self.retry_seconds = retry_seconds
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _try(self) -> bool:
        try:
            with transaction(self.engine) as session:
                register_key(session, signer=self.signer)
        except SQLAlchemyError:
            return False
        self.done.set()
        return True

    def start(self) -> None:
        if self._try():
            return
        log.warning("the signing key cannot be registered yet (database not migrated?); retrying")
        self._thread = threading.Thread(target=self._loop, name="key-registration", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.retry_seconds):
            if self._try():
                log.info("the signing key is registered")
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
