"""Settings and the signing key."""

from __future__ import annotations

import stat

import pytest
from pydantic import ValidationError

from randomisation.config import Settings
from randomisation.signing import load_signer

PRODUCTION = {
    "environment": "production",
    "database_url": "postgresql://app@db/randomisation",
    "jwt_issuer": "https://login.example",
}


def test_production_requires_an_existing_signing_key(tmp_path):
    with pytest.raises(ValidationError, match="SIGNING_KEY_FILE"):
        Settings(**PRODUCTION, signing_key_file=str(tmp_path / "missing.pem"))


def test_development_creates_a_private_key_readable_only_by_its_owner(tmp_path):
    path = tmp_path / "keys" / "signing.pem"
    signer = load_signer(Settings(signing_key_file=str(path)))
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_signer(Settings(signing_key_file=str(path)))
    assert again.kid == signer.kid  # the same key, not a new one per start


def test_recruitment_url_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("RANDOMISATION_RECRUITMENT_URL", "http://recruitment:8001")
    assert Settings().recruitment_url == "http://recruitment:8001"
