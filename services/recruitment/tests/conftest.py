"""Fixtures for the recruitment service's tests: its real migrated database, an app, a client,
and ``api`` (see recruitment_testkit)."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from recruitment.config import Settings
from recruitment.deps import today
from recruitment.main import create_app
from recruitment.models import ServiceModel
from rlc_testkit import AllocationSigner, Keys, wipe
from rlc_testkit.recruitment import RECRUITMENT_DAY, Api


@pytest.fixture(scope="session")
def settings(
    migrated_database,
    keys: Keys,
    allocation_signer: AllocationSigner,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    return Settings(
        database_url=migrated_database("recruitment"),
        jwks_file=str(keys.jwks_file),
        randomisation_jwks_file=str(allocation_signer.jwks_file),
        storage_dir=str(tmp_path_factory.mktemp("storage-recruitment")),
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client on a fresh app, its clock set during recruitment; tables emptied after the test."""
    app = create_app(settings)
    app.dependency_overrides[today] = lambda: RECRUITMENT_DAY
    with TestClient(app) as test_client:
        yield test_client
        wipe(app.state.engine, ServiceModel.metadata)


@pytest.fixture
def api(client: TestClient, keys: Keys, allocation_signer: AllocationSigner) -> Api:
    return Api(client, keys, allocation_signer)
