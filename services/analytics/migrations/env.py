from analytics.config import Settings
from analytics.models import ServiceModel
from rlc_shared.migrations import run_env

run_env(
    ServiceModel.metadata,
    env_var="ANALYTICS_DATABASE_URL",
    default_url=lambda: Settings().database_url,
)
