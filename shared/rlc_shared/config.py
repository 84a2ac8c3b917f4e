"""Settings shared by every service; each service subclasses with its own env prefix.

``RECRUITMENT_DATABASE_URL``, ``RANDOMISATION_PORT``... Every default is the embedded
development setup (SQLite and local files under ``var/``, the dev token issuer's JWKS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")
DEV_JWKS_FILE = VAR_DIR / "keys" / "jwks.json"
DEV_ISSUER = "rlc-dev-issuer"
AUDIENCE = "rlc-platform"


def settings_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", env_file=None)


class ServiceSettings(BaseSettings):
    """What every service can be configured with (read with the service's own prefix)."""

    model_config = settings_config("RLC_")

    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = ""

    # Auth: tokens are RS256, verified against a JWKS given as a file or a URL.
    jwks_file: str | None = str(DEV_JWKS_FILE)
    jwks_url: str | None = None
    jwt_issuer: str = DEV_ISSUER
    jwt_audience: str = AUDIENCE
    jwt_leeway_seconds: int = 30

    # Service-to-service calls: a static token (dev) or client credentials (production).
    service_token: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    outbound_timeout_seconds: float = 10.0
    outbound_retries: int = 2

    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: str = ""
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "eu-west-2"
    s3_prefix: str = ""

    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = 10 * 1024 * 1024
    max_upload_bytes: int = 200 * 1024 * 1024
    max_page_size: int = 500
    default_page_size: int = 50
    log_level: str = "INFO"

    #: Overridden by each service: its name, used for default paths.
    service_name: str = "service"

    @model_validator(mode="after")
    def _defaults_and_production_rules(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = f"sqlite:///{VAR_DIR / (self.service_name + '.db')}"
        if not self.storage_dir:
            self.storage_dir = str(VAR_DIR / "storage" / self.service_name)
        if self.environment == "production":
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs a PostgreSQL DATABASE_URL, not SQLite")
            if "*" in self.cors_origins:
                raise ValueError("production CORS_ORIGINS must list origins, not '*'")
            if self.jwt_issuer == DEV_ISSUER:
                raise ValueError("production must not trust the dev token issuer")
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"
