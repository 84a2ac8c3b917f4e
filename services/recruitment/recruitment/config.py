"""Settings of the recruitment service: every variable is read with the `RECRUITMENT_` prefix."""

from rlc_shared.config import ServiceSettings, settings_config


class Settings(ServiceSettings):
    model_config = settings_config("RECRUITMENT_")

    service_name: str = "recruitment"
    port: int = 8001
