"""Settings of the analytics service: every variable is read with the `ANALYTICS_` prefix."""

from rlc_shared.config import ServiceSettings, settings_config


class Settings(ServiceSettings):
    model_config = settings_config("ANALYTICS_")

    service_name: str = "analytics"
    port: int = 8005
