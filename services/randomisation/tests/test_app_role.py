"""The PostgreSQL app role of infra/postgres/randomisation-app-role.sql: enough to run the
service, and unable to rewrite the log."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from randomisation.main import create_app
from rlc_shared.db import normalise_url

ROLE_SQL = Path(__file__).resolve().parents[3] / "infra" / "postgres" / "randomisation-app-role.sql"
pytestmark = pytest.mark.postgres_only


@pytest.fixture
def app_role_url(settings, engine):
    """A fresh role (a unique name, as roles are cluster-wide) granted by the script."""
    role = f"rlc_randomisation_app_{uuid.uuid4().hex[:8]}"
    admin_url = make_url(normalise_url(settings.database_url))
    admin = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    script = ROLE_SQL.read_text().replace("rlc_randomisation_app", role)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(script)
    try:
        yield admin_url.set(username=role, password=None).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def test_the_app_runs_as_the_app_role(
    settings, keys, app_role_url, make_run, freeze, schools, counts
):
    run = make_run()
    freeze(run["id"], schools({"E09000001": 3, "E09000002": 2}))
    app = create_app(settings.model_copy(update={"database_url": app_role_url}))
    with TestClient(app) as client:
        try:
            executed = client.post(
                f"/runs/{run['id']}/execute", headers=keys.headers("trial_manager")
            )
            assert executed.status_code == 200, executed.text
            urn = client.get("/allocations", headers=keys.headers("evaluator")).json()["data"][0]
            flagged = client.post(
                f"/allocations/{urn['urn']}/in-error",
                json={"reason": "wrong LA"},
                headers=keys.headers("trial_manager"),
            )
            assert flagged.status_code == 200, flagged.text
            assert client.get("/log/checkpoint", headers=keys.headers("auditor")).status_code == 200
            report = client.get("/log/verify", headers=keys.headers("auditor")).json()
            assert report["ok"], report
            assert client.get("/readyz").status_code == 200
        finally:
            app.state.engine.dispose()
    assert counts()[1] == 5


def test_the_app_role_cannot_update_delete_or_truncate_the_log(app_role_url, make_run):
    make_run()
    url = make_url(app_role_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM log_entry").fetchone() == (3,)
        for statement in (
            "UPDATE log_entry SET actor = 'someone else'",
            "DELETE FROM log_entry",
            "TRUNCATE log_entry",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM log_entry").fetchone() == (3,)
