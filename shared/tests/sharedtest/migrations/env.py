import importlib.util
from pathlib import Path

from rlc_shared.migrations import run_env

# Loaded by path: the test app is not an installed package.
_spec = importlib.util.spec_from_file_location(
    "sharedtest_models", Path(__file__).resolve().parents[1] / "models.py"
)
assert _spec is not None and _spec.loader is not None
_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_models)

run_env(
    _models.ServiceModel.metadata,
    env_var="SHAREDTEST_DATABASE_URL",
    default_url=lambda: "sqlite:///var/sharedtest.db",
)
