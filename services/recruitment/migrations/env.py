from recruitment.config import Settings
from recruitment.models import ServiceModel
from rlc_shared.migrations import run_env

run_env(
    ServiceModel.metadata,
    env_var="RECRUITMENT_DATABASE_URL",
    default_url=lambda: Settings().database_url,
)
