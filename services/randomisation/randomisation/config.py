"""Settings of the randomisation service: every variable is read with the `RANDOMISATION_` prefix."""

from pathlib import Path

from pydantic import model_validator

from rlc_shared.config import VAR_DIR, ServiceSettings, settings_config


class Settings(ServiceSettings):
    model_config = settings_config("RANDOMISATION_")

    service_name: str = "randomisation"
    port: int = 8002

    #: Where the recruitment service answers (schools to freeze, "randomised" notifications).
    recruitment_url: str = "http://127.0.0.1:8001"
    #: The PEM private key that signs log checkpoints; created in development if missing.
    signing_key_file: str = str(VAR_DIR / "keys" / "randomisation-signing.pem")
    #: The outbox worker: how often it drains, whether it runs at all, and its back-off cap.
    outbox_worker_enabled: bool = True
    outbox_interval_seconds: float = 5.0
    outbox_max_backoff_seconds: float = 300.0
    outbox_batch_size: int = 200
    #: Page size used when reading the randomisable schools from recruitment.
    recruitment_page_size: int = 500

    @model_validator(mode="after")
    def _signing_key_in_production(self) -> "Settings":
        if self.is_production and not Path(self.signing_key_file).is_file():
            raise ValueError(
                "production needs RANDOMISATION_SIGNING_KEY_FILE pointing at an existing PEM key"
            )
        return self
