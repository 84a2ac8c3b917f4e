from randomisation.config import Settings
from randomisation.models import ServiceModel
from rlc_shared.migrations import run_env

run_env(
    ServiceModel.metadata,
    env_var="RANDOMISATION_DATABASE_URL",
    default_url=lambda: Settings().database_url,
)
