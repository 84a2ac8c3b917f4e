"""The recruitment migrations: one head, upgrade and downgrade cleanly, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from recruitment.models import ServiceModel
from rlc_cli import services
from rlc_shared.db import make_engine
from rlc_shared.migrations import downgrade, head_revisions, upgrade

SPEC = services.get("recruitment")


def test_single_head() -> None:
    assert head_revisions(SPEC.directory) == {"0004"}


def test_upgrade_downgrade_and_models_match(database_factory) -> None:
    url = database_factory.create("recruitment_migrations")
    upgrade(SPEC.directory, url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, ServiceModel.metadata) == []
        assert {"school", "local_authority", "gias_import", "staff_member"} <= set(
            inspect(engine).get_table_names()
        )
        downgrade(SPEC.directory, url, "0001")
        assert "school" not in inspect(engine).get_table_names()
        assert "audit_event" in inspect(engine).get_table_names()
        downgrade(SPEC.directory, url, "base")
        upgrade(SPEC.directory, url)
        assert "school" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
