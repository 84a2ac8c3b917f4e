"""Fixtures for the workshops service's tests: its real migrated database, an app, a client, and
the recruitment and randomisation services it asks, as real processes with a small trial built
through their APIs (``world``, once per test session; see ``world.py``).

The pure tests (parsers, rules) use none of these, so they start nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rlc_testkit import Keys, wipe
from workshops.config import Settings
from workshops.deps import today
from workshops.main import create_app
from workshops.models import ServiceModel

HERE = Path(__file__).resolve().parent


def load_helper(name: str) -> ModuleType:
    """A helper module of this folder, by path (tests cannot import each other by name)."""
    spec = importlib.util.spec_from_file_location(f"workshops_tests_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


world_module = load_helper("world")
helpers = load_helper("helpers")


@pytest.fixture(scope="session")
def upstream(
    database_factory: Any, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    live = world_module.Upstream(
        keys=keys,
        tmp=tmp_path_factory.mktemp("workshops-upstream"),
        database_factory=database_factory,
        label="ws",
    )
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="session")
def world(upstream: Any, keys: Keys) -> Any:
    return world_module.build_world(upstream, keys)


@pytest.fixture(scope="session")
def settings(
    migrated_database, keys: Keys, tmp_path_factory: pytest.TempPathFactory, upstream: Any
) -> Settings:
    return Settings(
        database_url=migrated_database("workshops"),
        jwks_file=str(keys.jwks_file),
        storage_dir=str(tmp_path_factory.mktemp("storage-workshops")),
        recruitment_url=upstream.recruitment_url,
        randomisation_url=upstream.randomisation_url,
        service_token=keys.token("service", sub="service:workshops", ttl_seconds=6 * 3600),
        # Every test sees the randomisation service's answer of the moment.
        allocation_cache_seconds=0,
        outbound_retries=0,
        outbound_timeout_seconds=10,
    )


@pytest.fixture
def client(settings: Settings, world: Any) -> Iterator[TestClient]:
    """A client on a fresh app (the trial built upstream); every table is emptied after."""
    app = create_app(settings)
    app.dependency_overrides[today] = lambda: helpers.TODAY
    with TestClient(app) as test_client:
        yield test_client
        wipe(app.state.engine, ServiceModel.metadata)


@pytest.fixture
def api(client: TestClient, keys: Keys, world: Any) -> Any:
    return helpers.Api(client, keys, world)
