"""The migrations: one head, upgrade/downgrade both ways, and no drift from the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, pool

from randomisation.main import SERVICE_DIR
from randomisation.models import ServiceModel
from rlc_shared.db import make_engine
from rlc_shared.migrations import downgrade, head_revisions, upgrade


def test_single_head():
    assert head_revisions(SERVICE_DIR) == {"0003"}


def test_upgrade_downgrade_upgrade_and_no_drift(database_factory):
    url = database_factory.create("randomisation_triggers_cycle")
    upgrade(SERVICE_DIR, url)
    engine = make_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}),
                ServiceModel.metadata,
            )
        assert diff == []
        tables = set(inspect(engine).get_table_names())
        assert {"log_entry", "allocation", "run", "scheme", "notification"} <= tables
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                triggers = {
                    row[0]
                    for row in conn.exec_driver_sql(
                        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'log_entry'::regclass "
                        "AND NOT tgisinternal"
                    )
                }
            assert triggers == {
                "log_entry_no_update_delete",
                "log_entry_no_truncate",
                "rlc_dv_log_log_entry",  # the log's data version (rlc_shared.versions)
            }

        downgrade(SERVICE_DIR, url, "0001")
        assert "log_entry" not in set(inspect(engine).get_table_names())
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                left = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_proc WHERE proname = 'log_entry_append_only'"
                ).scalar()
            assert left == 0
        downgrade(SERVICE_DIR, url, "base")
        upgrade(SERVICE_DIR, url)
        assert "log_entry" in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
