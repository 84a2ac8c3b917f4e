"""Settings of the surveys service: every variable is read with the `SURVEYS_` prefix."""

from rlc_shared.config import ServiceSettings, settings_config


class Settings(ServiceSettings):
    model_config = settings_config("SURVEYS_")

    service_name: str = "surveys"
    port: int = 8003
