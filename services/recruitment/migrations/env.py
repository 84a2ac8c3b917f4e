from recruitment.config import Settings
from recruitment.models import ServiceModel
from rlc_shared.migrations import run_env

run_env(ServiceModel.metadata, default_url=Settings().database_url)
