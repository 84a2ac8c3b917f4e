"""Settings of the surveys service: every variable is read with the `SURVEYS_` prefix.

Two of them are secrets that production must set (the development defaults are refused there):
``SURVEYS_WEBHOOK_SECRETS``, a JSON list of the survey platform's ``whsec_...`` signing secrets
(several during a key rotation), and ``SURVEYS_PSEUDONYM_SECRET``, the key of the hashes that
stand for teachers and school emails. Changing the pseudonym secret breaks the link between a
teacher's pre and post answers (and between an unmatched email and its manual resolution), so it
is set once per trial.

A deployment mounts them as files instead (``SURVEYS_WEBHOOK_SECRETS_FILE``: one ``whsec_``
secret per line; ``SURVEYS_PSEUDONYM_SECRET_FILE``), so they never sit in the environment. The
webhook file is read on every delivery, so a rotated secret (a Kubernetes Secret volume updates
in place) takes effect without a restart; both are read and checked once at start-up, so a bad
file stops the service with a message naming it.
"""

from __future__ import annotations

import base64
from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from rlc_shared.config import ServiceSettings, settings_config
from surveys.signatures import InvalidWebhookSecret, parse_webhook_secret

#: The development webhook secret: ``rlc up`` runs with it, the demo signs with it, and
#: production refuses it.
DEV_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"rlc-dev-webhook-secret-do-not-use!").decode()
#: The development pseudonym key (refused in production).
DEV_PSEUDONYM_SECRET = "rlc-dev-pseudonym-secret-do-not-use-in-production"
MIN_PSEUDONYM_SECRET_CHARS = 32


class Settings(ServiceSettings):
    model_config = settings_config("SURVEYS_")

    service_name: str = "surveys"
    port: int = 8003

    #: Where the other services answer: recruitment links responses to schools and says which
    #: teachers withdrew; randomisation gives the arms and the denominator of response rates.
    recruitment_url: str = "http://127.0.0.1:8001"
    randomisation_url: str = "http://127.0.0.1:8002"
    #: How long the list of randomised schools (response rates' denominator) is reused: it
    #: changes only when a run is executed; 0 asks randomisation on every request.
    allocations_cache_seconds: float = Field(default=10.0, ge=0, le=300)

    #: The survey platform's Standard Webhooks secrets (JSON list of ``whsec_<base64>``); a
    #: delivery signed with any one of them verifies.
    webhook_secrets: list[SecretStr] = Field(
        default_factory=lambda: [SecretStr(DEV_WEBHOOK_SECRET)]
    )
    #: A file holding the webhook secrets, one per line (blank lines and ``#`` comments
    #: ignored); when set it replaces ``SURVEYS_WEBHOOK_SECRETS``.
    webhook_secrets_file: str | None = None
    #: Deliveries whose webhook-timestamp is further than this from now are refused.
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    #: The largest webhook body read (an inline export is base64 in it: about 3/4 of this).
    webhook_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)

    #: The evaluator's bucket, the ONE place ``data.file.object.key`` exports are fetched from
    #: (credentials from the usual AWS_* variables). Unset: only inline exports are accepted.
    evaluator_bucket: str | None = None
    evaluator_s3_endpoint_url: str | None = None
    evaluator_s3_region: str = "eu-west-2"
    #: Only keys under this prefix may be fetched (empty: the whole bucket).
    evaluator_s3_prefix: str = ""
    #: The largest export accepted from the bucket.
    max_export_bytes: int = Field(default=500 * 1024 * 1024, ge=1024)

    #: The key of the pseudonyms (HMAC-SHA256) of teachers and school emails.
    pseudonym_secret: SecretStr = SecretStr(DEV_PSEUDONYM_SECRET)
    #: A file holding the pseudonym key; when set it replaces ``SURVEYS_PSEUDONYM_SECRET``.
    pseudonym_secret_file: str | None = None

    #: The parsing worker: whether it runs in this process, how often it looks for work, how
    #: long a claimed export may go without a heartbeat before another worker takes it over,
    #: and how many rows it reads, links and writes at a time.
    worker_enabled: bool = True
    worker_interval_seconds: float = Field(default=2.0, gt=0)
    worker_stale_after_seconds: float = Field(default=120.0, gt=0)
    worker_max_attempts: int = Field(default=10, ge=1)
    worker_max_backoff_seconds: float = Field(default=300.0, gt=0)
    chunk_rows: int = Field(default=5000, ge=1, le=100_000)
    #: Row-level problems kept per export (all are counted).
    errors_kept: int = Field(default=200, ge=1, le=10_000)
    #: How often the withdrawal check (run with the worker) asks recruitment again about the
    #: staff records of teachers whose answers are held, so that a teacher who withdraws
    #: there later is left out (``surveys.teachers.check``): one request per school.
    withdrawal_check_interval_seconds: float = Field(default=900.0, gt=0)

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        for variable, path in (
            ("SURVEYS_WEBHOOK_SECRETS_FILE", self.webhook_secrets_file),
            ("SURVEYS_PSEUDONYM_SECRET_FILE", self.pseudonym_secret_file),
        ):
            if path is not None and self.is_production and not Path(path).is_file():
                raise ValueError(f"{variable} names {path}, which is not a file")
        # A file's content is checked when it is read (start-up and each delivery), because
        # the file may only appear when the secret is mounted.
        if self.webhook_secrets_file is None:
            self._check_webhook_secrets(
                [s.get_secret_value() for s in self.webhook_secrets], "SURVEYS_WEBHOOK_SECRETS"
            )
        if self.pseudonym_secret_file is None:
            self._check_pseudonym_secret(
                self.pseudonym_secret.get_secret_value(), "SURVEYS_PSEUDONYM_SECRET"
            )
        return self

    def _check_webhook_secrets(self, secrets: list[str], source: str) -> None:
        if not secrets:
            raise ValueError(f"{source} must list at least one whsec_ secret")
        for position, secret in enumerate(secrets, start=1):
            try:
                parse_webhook_secret(secret, position=position)
            except InvalidWebhookSecret as exc:
                raise ValueError(f"{source}: {exc}") from None
        if self.is_production and DEV_WEBHOOK_SECRET in secrets:
            raise ValueError(f"{source}: production must not accept the development webhook secret")

    def _check_pseudonym_secret(self, secret: str, source: str) -> None:
        if len(secret) < MIN_PSEUDONYM_SECRET_CHARS:
            raise ValueError(f"{source} must have at least {MIN_PSEUDONYM_SECRET_CHARS} characters")
        if self.is_production and secret == DEV_PSEUDONYM_SECRET:
            raise ValueError(f"{source}: production needs its own pseudonym secret")

    def webhook_secret_values(self) -> list[str]:
        """The secrets a delivery may be signed with (the file's, read now, when one is set)."""
        if self.webhook_secrets_file is None:
            return [s.get_secret_value() for s in self.webhook_secrets]
        lines = _read_secret_file(self.webhook_secrets_file, "SURVEYS_WEBHOOK_SECRETS_FILE")
        secrets = [
            line.strip()
            for line in lines.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        self._check_webhook_secrets(secrets, "SURVEYS_WEBHOOK_SECRETS_FILE")
        return secrets

    def pseudonym_secret_value(self) -> str:
        if self.pseudonym_secret_file is None:
            return self.pseudonym_secret.get_secret_value()
        secret = _read_secret_file(
            self.pseudonym_secret_file, "SURVEYS_PSEUDONYM_SECRET_FILE"
        ).strip()
        self._check_pseudonym_secret(secret, "SURVEYS_PSEUDONYM_SECRET_FILE")
        return secret


def _read_secret_file(path: str, variable: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{variable}: cannot read {path} ({type(exc).__name__})") from None
