from rlc_shared.migrations import run_env
from workshops.config import Settings
from workshops.models import ServiceModel

run_env(
    ServiceModel.metadata,
    env_var="WORKSHOPS_DATABASE_URL",
    default_url=lambda: Settings().database_url,
)
