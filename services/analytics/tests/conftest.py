"""Fixtures for the analytics service's tests: its real migrated database, an app whose clients
reach the other services' contracts on a loopback server (`upstreams.FakeServices`), and ``api``,
a driver that does what the evaluator does through the API."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from analytics.config import Settings
from analytics.main import create_app
from analytics.models import ServiceModel
from rlc_testkit import Keys, wipe

# The tests import their fakes and data builders by name (pytest runs with --import-mode=importlib,
# which puts no test folder on the path).
sys.path.insert(0, str(Path(__file__).parent))
from analytics_fakes import FakeServices, FakeTrial, build_trial  # noqa: E402

PLAN = {
    "title": "RLC 2021/22 statistical analysis plan",
    "outcomes": ["ks2_reading", "ks2_maths"],
    "covariates": ["la", "ks1_prior"],
    "subgroups": ["all", "cin", "lac"],
    "teacher_outcomes": ["knowledge", "attitudes", "use"],
    "compliance_rule_version": 1,
    "effect_size_convention": "total_unconditional",
}


@pytest.fixture(scope="session")
def fake_services() -> Iterator[FakeServices]:
    services = FakeServices()
    services.start()
    yield services
    services.stop()


@pytest.fixture(scope="session")
def settings(
    migrated_database,
    keys: Keys,
    tmp_path_factory: pytest.TempPathFactory,
    fake_services: FakeServices,
) -> Settings:
    return Settings(
        database_url=migrated_database("analytics"),
        jwks_file=str(keys.jwks_file),
        storage_dir=str(tmp_path_factory.mktemp("storage-analytics")),
        service_token=keys.token("service", sub="service:analytics", ttl_seconds=3600),
        recruitment_url=fake_services.url,
        randomisation_url=fake_services.url,
        surveys_url=fake_services.url,
        workshops_url=fake_services.url,
        outbound_retries=0,
        analysis_interval_seconds=0.05,
        upstream_page_size=7,  # small pages, so every list is read over several
    )


@pytest.fixture
def trial(fake_services: FakeServices) -> FakeTrial:
    """The other services' data for this test (replace attributes to change what they say)."""
    fake_services.trial = build_trial()
    return fake_services.trial


@pytest.fixture
def client(settings: Settings, trial: FakeTrial) -> Iterator[TestClient]:
    """A client on a fresh app (its worker running); every table is emptied after the test."""
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client
        wipe(app.state.engine, ServiceModel.metadata)


class Api:
    """The evaluator's (and others') requests, with the checks every test needs."""

    def __init__(self, client: TestClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._headers: dict[tuple[Any, ...], dict[str, str]] = {}

    def headers(self, role: str | list[str] = "evaluator", **kw: Any) -> dict[str, str]:
        key = (tuple(role) if isinstance(role, list) else role, *sorted(kw.items()))
        if key not in self._headers:
            self._headers[key] = self.keys.headers(role, **kw)
        return self._headers[key]

    def evaluator(self) -> dict[str, str]:
        return self.headers("evaluator", sub="evaluator-eve")

    @staticmethod
    def ok(resp: Any, status: int | None = None) -> Any:
        assert resp.status_code < 300 if status is None else resp.status_code == status, resp.text
        return resp.json()

    def register_plan(self, **changes: Any) -> dict[str, Any]:
        return self.ok(
            self.client.post("/plans", json=PLAN | changes, headers=self.evaluator()), 201
        )

    def frozen_plan(self, **changes: Any) -> dict[str, Any]:
        plan = self.register_plan(**changes)
        return self.ok(
            self.client.post(f"/plans/{plan['version']}/freeze", headers=self.evaluator())
        )

    def import_outcomes(self, body: bytes, name: str = "outcomes.csv") -> Any:
        return self.client.post(
            "/outcomes/imports",
            headers=self.evaluator(),
            files={"file": (name, body, "text/csv")},
        )

    def request_analysis(self, **body: Any) -> dict[str, Any]:
        resp = self.client.post("/analyses", json=body, headers=self.evaluator())
        accepted = self.ok(resp, 202)
        assert resp.headers["location"] == accepted["status_url"]
        return accepted

    def wait(self, status_url: str, *, timeout: float = 90.0) -> dict[str, Any]:
        """Poll the status URL until the job is done or failed (fail the test after timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.ok(self.client.get(status_url, headers=self.evaluator()))
            if job["status"] in ("done", "failed"):
                return job
            if time.monotonic() > deadline:
                pytest.fail(f"the analysis is still {job['status']} ({job['stage']})")
            time.sleep(0.05)

    def analyse(self, **body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Run an analysis to the end; (its final status, its report)."""
        job = self.wait(self.request_analysis(**body)["status_url"])
        assert job["status"] == "done", job
        report = self.ok(
            self.client.get("/report", params={"analysis": job["id"]}, headers=self.evaluator())
        )
        return job, report


@pytest.fixture
def api(client: TestClient, keys: Keys) -> Api:
    return Api(client, keys)
