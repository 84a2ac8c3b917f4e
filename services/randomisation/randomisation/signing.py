"""The service's signing key, pure cryptography: loaded from a PEM file, its public half a JWK.

It signs the log's checkpoints and the allocation statements sent to recruitment. Registering the
key in the log is the keys domain's business (``randomisation.keys.service``), not this module's.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from randomisation.config import Settings
from rlc_shared.auth import generate_private_key_pem, public_jwk, public_pem, sign_jws

log = logging.getLogger("randomisation.signing")


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
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process of this service created it first: use that one
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            log.warning("created a development checkpoint signing key at %s", path)
    return Signer(path.read_bytes())
