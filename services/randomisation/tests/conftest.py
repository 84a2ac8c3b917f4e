"""Fixtures for the randomisation service's tests: its real migrated database, an app, a client,
and helpers that drive runs through the real service functions and API."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from randomisation.config import Settings
from randomisation.main import create_app
from randomisation.models import Allocation, LogEntry, ServiceModel
from randomisation.runs import service as runs_service
from rlc_shared.auth import Principal
from rlc_testkit import Keys, wipe

TM = Principal(sub="test-trial_manager", roles=frozenset({"trial_manager"}))


@pytest.fixture(scope="session")
def settings(migrated_database, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("storage-randomisation")
    return Settings(
        database_url=migrated_database("randomisation"),
        jwks_file=str(keys.jwks_file),
        storage_dir=str(folder),
        signing_key_file=str(folder / "signing.pem"),
        # Nothing answers at the recruitment URL here: drains are explicit in these tests.
        outbox_worker_enabled=False,
        recruitment_url="http://127.0.0.1:9",
        service_token=keys.token("service", sub="service:randomisation", ttl_seconds=3600),
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client on a fresh app; every table is emptied after the test."""
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client
        wipe(app.state.engine, ServiceModel.metadata)


@pytest.fixture
def engine(client: TestClient) -> Any:
    return client.app.state.engine  # type: ignore[attr-defined]


_urns = itertools.count(100_000)


def _schools(per_la: dict[str, int], **extra: Any) -> list[dict[str, Any]]:
    items = []
    for la_code, n in per_la.items():
        for _ in range(n):
            urn = next(_urns)
            items.append(
                {
                    "urn": urn,
                    "la_code": la_code,
                    "name": f"School {urn}",
                    "phase": "Primary",
                    "looked_after_flag": urn % 2 == 0,
                    **extra,
                }
            )
    return items


@pytest.fixture
def schools() -> Callable[..., list[dict[str, Any]]]:
    """Recruitment-shaped items: ``schools({"E09000001": 5})`` → five schools in that LA."""
    return _schools


@pytest.fixture
def make_run(client: TestClient, keys: Keys) -> Callable[..., dict[str, Any]]:
    """Create a scheme and a run through the API; returns the run (and its scheme id)."""

    def make(*, test: bool = False, strata: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": "RLC main randomisation", "test": test}
        if strata is not None:
            body["strata_attributes"] = strata
        scheme = client.post("/schemes", json=body, headers=keys.headers("trial_manager"))
        assert scheme.status_code == 201, scheme.text
        run = client.post(
            f"/schemes/{scheme.json()['id']}/runs",
            json={"label": "main"},
            headers=keys.headers("trial_manager"),
        )
        assert run.status_code == 201, run.text
        return run.json()

    return make


@pytest.fixture
def freeze(engine: Any) -> Callable[..., None]:
    """Freeze a run on an explicit school list through the real service function."""

    def do(run_id: str, items: list[dict[str, Any]]) -> None:
        with Session(engine) as session:
            runs_service.freeze_run(session, run_id=run_id, items=items, actor=TM)
            session.commit()

    return do


@pytest.fixture
def counts(engine: Any) -> Callable[[], tuple[int, int]]:
    """(log entries, allocations): to show that a refused step wrote nothing."""

    def count() -> tuple[int, int]:
        with Session(engine) as session:
            entries = session.exec(select(func.count()).select_from(LogEntry)).one()
            allocations = session.exec(select(func.count()).select_from(Allocation)).one()
            session.commit()
        return entries, allocations

    return count
