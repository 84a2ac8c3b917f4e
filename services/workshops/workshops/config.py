"""Settings of the workshops service: every variable is read with the `WORKSHOPS_` prefix."""

from rlc_shared.config import ServiceSettings, settings_config


class Settings(ServiceSettings):
    model_config = settings_config("WORKSHOPS_")

    service_name: str = "workshops"
    port: int = 8004
