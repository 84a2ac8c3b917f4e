"""Two requests at the same moment (PostgreSQL, where they really run side by side): another
transaction holds a conflicting change open, the request is seen waiting on it, the change is
committed, and the request's answer must take it into account: a compliance rule draft gets the
next free version, a cohort name taken meanwhile is a 409 that says so, and a case study selected
meanwhile counts towards the target. On SQLite writers are serialised (``BEGIN IMMEDIATE``)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from rlc_shared.db import make_engine
from workshops.config import Settings
from workshops.deps import today
from workshops.main import create_app
from workshops.models import CaseStudy, Cohort, ComplianceRuleVersion

h = sys.modules["workshops_tests_helpers"]
wait_until = sys.modules["workshops_tests_world"].wait_until

pytestmark = pytest.mark.postgres_only


def meanwhile(settings: Settings, row: Any, request: Callable[[], Any]) -> Any:
    """``request``'s answer when it ran while another transaction had inserted ``row`` and not
    yet committed: that transaction commits once the request is seen waiting on it."""
    engine = make_engine(settings.database_url)
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.setdefault("resp", request()))
    blocked = text(
        "SELECT count(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"
    )
    try:
        with Session(engine) as other:
            other.add(row)
            other.flush()
            worker.start()
            wait_until(
                lambda: other.execute(blocked).scalar() or not worker.is_alive(),
                what="the request to wait on the open transaction",
            )
            assert worker.is_alive(), f"the request did not wait: {result['resp'].text}"
            other.commit()
        worker.join(timeout=30)
        assert not worker.is_alive()
    finally:
        engine.dispose()
    return result["resp"]


def test_a_draft_made_meanwhile_takes_its_version_and_the_request_the_next(
    api: Any, settings: Settings
) -> None:
    first = api.ok(api.client.post("/compliance-rules", headers=api.evaluator()))
    assert first["version"] == 1
    row = ComplianceRuleVersion(
        version=2,
        rule=first["rule"],
        fingerprint=first["fingerprint"],
        status="draft",
        created_by="evaluator-elsewhere",
    )
    post = lambda: api.client.post(  # noqa: E731
        "/compliance-rules", headers=api.evaluator(), json={"note": "third"}
    )
    made = meanwhile(settings, row, post)
    assert made.status_code == 201, made.text
    assert made.json()["version"] == 3 and made.json()["note"] == "third"
    listed = api.ok(api.client.get("/compliance-rules", headers=api.evaluator()))["data"]
    assert [(r["version"], r["created_by"]) for r in listed] == [
        (1, "evaluator-eve"),
        (2, "evaluator-elsewhere"),
        (3, "evaluator-eve"),
    ]
    assert sorted(e["entity_id"] for e in api.audit(action="compliance_rule.drafted")) == ["1", "3"]


def test_a_cohort_name_taken_meanwhile_is_a_409_saying_so(api: Any, settings: Settings) -> None:
    first = api.cohort("202", name="Camden A")
    row = Cohort(
        programme_id=first["programme_id"], name="Camden B", la_code="202", created_by="other"
    )
    post = lambda: api.client.post(  # noqa: E731
        "/cohorts", headers=api.delivery(), json={"name": "Camden B", "la_code": "202"}
    )
    refused = meanwhile(settings, row, post)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/cohort-name-taken")
    assert "There is already a cohort called 'Camden B'" in problem["detail"]
    cohorts = api.ok(api.client.get("/cohorts", headers=api.delivery()))["data"]
    assert [(c["name"], c["sessions"]) for c in cohorts] == [("Camden A", 8), ("Camden B", 0)]
    assert len(api.audit(action="cohort.created")) == 1  # the refused request wrote nothing


def test_a_case_study_selected_meanwhile_counts_towards_the_target(
    api: Any, settings: Settings
) -> None:
    world = api.world
    app = create_app(settings.model_copy(update={"case_study_target": 2}))
    app.dependency_overrides[today] = lambda: h.TODAY
    first, second, third = world.control("202")[:3]
    with TestClient(app) as client:
        two = h.Api(client, api.keys, world)
        assert two.ok(client.post("/case-studies", headers=two.evaluator(), json={"urn": first}))
        row = CaseStudy(
            urn=second, la_code="202", arm="control", run_id=world.run_id,
            status="selected", selected_by="evaluator-elsewhere",
        )  # fmt: skip
        post = lambda: client.post(  # noqa: E731
            "/case-studies", headers=two.evaluator(), json={"urn": third}
        )
        refused = meanwhile(settings, row, post)
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith("/case-study-target-reached")
        assert (refused.json()["target"], refused.json()["selected"]) == (2, 2)
        summary = two.ok(client.get("/case-studies/summary", headers=two.evaluator()))
        assert (summary["selected"], summary["by_arm"]["control"]) == (2, 2)
        listed = two.ok(client.get("/case-studies", headers=two.evaluator()))["data"]
        assert sorted(c["urn"] for c in listed) == sorted([first, second])
