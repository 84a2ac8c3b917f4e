"""Fixtures for the workshops service's tests: its real migrated database, an app, a client."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from rlc_testkit import Keys, wipe
from workshops.config import Settings
from workshops.main import create_app
from workshops.models import ServiceModel


@pytest.fixture(scope="session")
def settings(migrated_database, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=migrated_database("workshops"),
        jwks_file=str(keys.jwks_file),
        storage_dir=str(tmp_path_factory.mktemp("storage-workshops")),
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client on a fresh app; every table is emptied after the test."""
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client
        wipe(app.state.engine, ServiceModel.metadata)
