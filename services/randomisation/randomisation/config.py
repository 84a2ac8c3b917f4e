"""Settings of the randomisation service: every variable is read with the `RANDOMISATION_` prefix."""

from rlc_shared.config import ServiceSettings, settings_config


class Settings(ServiceSettings):
    model_config = settings_config("RANDOMISATION_")

    service_name: str = "randomisation"
    port: int = 8002
