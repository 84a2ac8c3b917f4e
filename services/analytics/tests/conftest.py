"""Fixtures for the analytics service's tests.

The analytics app runs in-process (``TestClient``) on its real migrated database. The four
services it reads run as real processes on databases of their own, started once per test session
and seeded through their public APIs with a small trial (`rlc_testkit.trial.build_trial`: GIAS,
LAs, schools walked to every status, staff and consent, a randomisation run, an allocation in
error and a school withdrawn, both questionnaire rounds pushed through the signed webhook, workshop
cohorts, Zoom attendance, a frozen compliance rule, costs). Nothing of theirs is stubbed: a
service "down" is its process stopped (`LiveTrial.down`), one "not deployed" a loopback address
where nothing listens (`unreachable_url`). The tests only read the upstream services, so the trial
is the same for every test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from analytics.config import Settings
from analytics.main import create_app
from analytics.models import ServiceModel
from rlc_shared.db import make_engine
from rlc_testkit import Keys, wipe
from rlc_testkit.trial import LiveTrial, TrialWorld, shared_trial

# The tests import their driver by name (pytest runs with --import-mode=importlib, which puts no
# test folder on the path).
sys.path.insert(0, str(Path(__file__).parent))
from analytics_driver import Api  # noqa: E402


@pytest.fixture(scope="session")
def live(
    request: pytest.FixtureRequest,
    keys: Keys,
    database_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> LiveTrial:
    """Recruitment, randomisation, surveys and workshops, live, with the trial built in them."""
    return shared_trial(
        request, keys=keys, databases=database_factory, tmp_path_factory=tmp_path_factory
    )


@pytest.fixture(scope="session")
def trial(live: LiveTrial) -> TrialWorld:
    """What the trial in the upstream services is (the tests' expectations come from it)."""
    return live.world


@pytest.fixture(scope="session")
def settings(
    migrated_database,
    keys: Keys,
    tmp_path_factory: pytest.TempPathFactory,
    live: LiveTrial,
) -> Settings:
    return Settings(
        database_url=migrated_database("analytics"),
        jwks_file=str(keys.jwks_file),
        storage_dir=str(tmp_path_factory.mktemp("storage-analytics")),
        service_token=keys.token("service", sub="service:analytics", ttl_seconds=6 * 3600),
        recruitment_url=live.url("recruitment"),
        randomisation_url=live.url("randomisation"),
        surveys_url=live.url("surveys"),
        workshops_url=live.url("workshops"),
        outbound_retries=0,
        analysis_interval_seconds=0.05,
        upstream_page_size=7,  # small pages, so every list is read over several
    )


@pytest.fixture
def open_app(settings: Settings, keys: Keys, trial: TrialWorld) -> Iterator[Callable[..., Api]]:
    """Open an app (started, its worker running unless told otherwise) with settings changed
    from the session's; every table is emptied once the test's apps are closed."""
    opened: list[TestClient] = []

    def open_(**changes: Any) -> Api:
        client = TestClient(create_app(settings.model_copy(update=changes)))
        client.__enter__()
        opened.append(client)
        return Api(client, keys, rule_version=trial.rule_version)

    try:
        yield open_
    finally:
        for client in reversed(opened):
            client.__exit__(None, None, None)
        engine = make_engine(settings.database_url)
        try:
            wipe(engine, ServiceModel.metadata)
        finally:
            engine.dispose()


@pytest.fixture
def api(open_app: Callable[..., Api]) -> Api:
    """The evaluator's driver on an app with the session's settings."""
    return open_app()


@pytest.fixture
def client(api: Api) -> TestClient:
    return api.client
