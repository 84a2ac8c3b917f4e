"""Every service's migrations: single head, upgrade to head and down to base, and the models
match the migrations (no autogenerate diff) — on the backend of this test pass."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from rlc_cli import services
from rlc_shared.db import make_engine
from rlc_shared.migrations import current_revisions, downgrade, head_revisions, upgrade

NAMES = [s.name for s in services.SERVICES]


def metadata_of(name: str):
    import importlib

    return importlib.import_module(f"{name}.models").ServiceModel.metadata


@pytest.mark.parametrize("name", NAMES)
def test_single_head(name: str) -> None:
    script = ScriptDirectory(str(services.get(name).directory / "migrations"))
    assert len(script.get_heads()) == 1, f"{name} has several migration heads: {script.get_heads()}"


@pytest.mark.parametrize("name", NAMES)
def test_upgrade_downgrade_and_models_match(name: str, database_factory) -> None:
    spec = services.get(name)
    url = database_factory.create(f"{name}_migrations")
    upgrade(spec.directory, url)
    engine = make_engine(url)
    try:
        assert current_revisions(engine) == head_revisions(spec.directory)
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), metadata_of(name)
            )
        assert diff == [], f"{name}: models and migrations differ: {diff}"
        downgrade(spec.directory, url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(spec.directory, url)
        assert current_revisions(engine) == head_revisions(spec.directory)
    finally:
        engine.dispose()
