from rlc_shared.migrations import run_env
from workshops.config import Settings
from workshops.models import ServiceModel

run_env(ServiceModel.metadata, default_url=Settings().database_url)
