from rlc_shared.migrations import run_env
from surveys.config import Settings
from surveys.models import ServiceModel

run_env(
    ServiceModel.metadata,
    env_var="SURVEYS_DATABASE_URL",
    default_url=lambda: Settings().database_url,
)
