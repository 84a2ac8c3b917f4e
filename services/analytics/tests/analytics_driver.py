"""What the evaluator (and others) do through the analytics service's API, with the checks every
test needs: the plan they register, outcome imports, analyses run to the end.

Not a test module: the tests import it by name (``conftest.py`` puts this folder on the path;
the repository imports tests with ``--import-mode=importlib``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rlc_testkit import Keys

PLAN = {
    "title": "RLC 2021/22 statistical analysis plan",
    "outcomes": ["ks2_reading", "ks2_maths"],
    "covariates": ["la", "ks1_prior"],
    "subgroups": ["all", "cin", "lac"],
    "teacher_outcomes": ["knowledge", "attitudes", "use"],
    "compliance_rule_version": 1,
    "effect_size_convention": "total_unconditional",
}


class Api:
    """The evaluator's (and others') requests to one analytics app."""

    def __init__(self, client: TestClient, keys: Keys, *, rule_version: int = 1) -> None:
        self.client = client
        self.keys = keys
        #: The workshops service's frozen compliance rule, which the plan names by default.
        self.rule_version = rule_version
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

    def plan(self, **changes: Any) -> dict[str, Any]:
        return PLAN | {"compliance_rule_version": self.rule_version} | changes

    def register_plan(self, **changes: Any) -> dict[str, Any]:
        resp = self.client.post("/plans", json=self.plan(**changes), headers=self.evaluator())
        return self.ok(resp, 201)

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
