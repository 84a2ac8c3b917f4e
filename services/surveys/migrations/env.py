from rlc_shared.migrations import run_env
from surveys.config import Settings
from surveys.models import ServiceModel

run_env(ServiceModel.metadata, default_url=Settings().database_url)
