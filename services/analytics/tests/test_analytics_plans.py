"""The analysis plan: registered as a draft, frozen (timestamped, audited), never changed after;
a later plan is a new version and both stay visible; nothing is imported or run without one. A
plan is frozen only once the compliance rule it names is frozen in the live workshops service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from analytics_driver import PLAN

from rlc_cli import services
from rlc_shared.migrations import upgrade
from rlc_testkit import Keys, LiveService, start_service
from rlc_testkit.recruitment import assert_problem
from rlc_testkit.trial import LiveTrial, ok, pupil_rows, to_csv, unreachable_url


def _audit(api, action: str) -> list[dict]:
    tm = api.headers("trial_manager")
    resp = api.client.get("/audit-events", params={"action": action, "limit": 100}, headers=tm)
    return api.ok(resp)["data"]


def _freeze(api, version: int) -> Any:
    return api.client.post(f"/plans/{version}/freeze", headers=api.evaluator())


def _status(api, version: int) -> str:
    return api.ok(api.client.get(f"/plans/{version}", headers=api.evaluator()))["status"]


def test_register_change_freeze_and_audit(api, live) -> None:
    plan = api.register_plan()
    v = plan["version"]
    assert plan["status"] == "draft" and plan["frozen_at"] is None
    assert plan["content"]["outcomes"] == ["ks2_reading", "ks2_maths"]
    assert len(plan["fingerprint"]) == 64

    changed = api.ok(
        api.client.put(f"/plans/{v}", json=api.plan(subgroups=["all"]), headers=api.evaluator())
    )
    assert changed["content"]["subgroups"] == ["all"]
    assert changed["fingerprint"] != plan["fingerprint"]
    again = api.ok(
        api.client.put(f"/plans/{v}", json=api.plan(subgroups=["all"]), headers=api.evaluator())
    )
    assert again["fingerprint"] == changed["fingerprint"]
    assert len(_audit(api, "plan.updated")) == 1, "the same content again changes nothing"

    frozen = api.ok(
        api.client.post(
            f"/plans/{v}/freeze", json={"reason": "SAP signed off"}, headers=api.evaluator()
        )
    )
    assert frozen["status"] == "frozen" and frozen["frozen_by"] == "evaluator-eve"
    assert frozen["frozen_at"] is not None
    (event,) = _audit(api, "plan.frozen")
    assert event["entity_id"] == str(v) and event["reason"] == "SAP signed off"
    assert event["new"]["status"] == "frozen" and event["new"]["frozen_at"]
    assert event["actor"] == "evaluator-eve" and event["actor_roles"] == "evaluator"
    # The rule it names, as the workshops service has it frozen, is recorded with the freeze.
    with live.client("workshops") as ws:
        rule_version = plan["content"]["compliance_rule_version"]
        rule = ok(ws.get(f"/compliance-rules/{rule_version}", headers=live.headers("evaluator")))
    assert rule["status"] == "frozen"
    assert event["new"]["compliance_rule"] == {
        k: rule[k] for k in ("version", "fingerprint", "frozen_at")
    }
    assert _audit(api, "plan.registered")[0]["new"]["content"]["title"] == PLAN["title"]

    refused = api.client.put(f"/plans/{v}", json=api.plan(), headers=api.evaluator())
    assert_problem(refused, 409, "frozen", "POST /plans")
    assert_problem(api.client.post(f"/plans/{v}/freeze", headers=api.evaluator()), 409, "frozen")
    assert api.ok(api.client.get(f"/plans/{v}", headers=api.evaluator())) == frozen


def test_a_later_plan_is_a_new_version_and_both_stay_visible(api, trial) -> None:
    v1 = api.frozen_plan()["version"]
    imported = api.ok(api.import_outcomes(to_csv(pupil_rows(trial))), 201)
    first, first_report = api.analyse()
    v2 = api.frozen_plan(outcomes=["ks2_reading"], subgroups=["all"], title="SAP v2")["version"]
    assert v2 > v1
    plans = api.ok(api.client.get("/plans", headers=api.headers("auditor")))
    assert [(p["version"], p["status"]) for p in plans["data"]] == [(v1, "frozen"), (v2, "frozen")]

    # Outcomes imported under v1 are not analysed under v2 without saying so.
    resp = api.client.post(
        "/analyses",
        json={"plan_version": v2, "outcome_import_id": imported["id"]},
        headers=api.evaluator(),
    )
    assert_problem(resp, 409, f"plan version {v1}", f"not {v2}")
    # Without outcomes under v2, its analysis says the pupil outcomes are missing.
    second, second_report = api.analyse()
    assert second["plan_version"] == v2 and second["outcome_import_id"] is None
    assert second_report["plan"]["version"] == v2
    assert {e["status"] for e in second_report["impact"]} == {"missing_input"}
    assert "pupil_outcomes" in {m["input"] for m in second_report["missing_inputs"]}
    # v1's report is still there, labelled v1, and its analysis can be run again.
    kept = api.ok(
        api.client.get(
            "/report", params={"analysis": first["id"]}, headers=api.headers("trial_manager")
        )
    )
    assert kept == first_report and kept["plan"]["version"] == v1
    third, third_report = api.analyse(plan_version=v1)
    assert third_report["plan"]["fingerprint"] == first_report["plan"]["fingerprint"]
    assert third_report["outcome_import"]["id"] == imported["id"]
    # The latest report is the one that finished last.
    latest = api.ok(api.client.get("/report", headers=api.evaluator()))
    assert latest["analysis_id"] == third["id"]


def test_nothing_is_imported_or_analysed_without_a_frozen_plan(api, trial) -> None:
    body = to_csv(pupil_rows(trial))
    assert_problem(api.import_outcomes(body), 409, "No analysis plan is frozen", "POST /plans")
    assert_problem(
        api.client.post("/analyses", headers=api.evaluator()), 409, "No analysis plan is frozen"
    )
    v = api.register_plan()["version"]
    assert_problem(api.import_outcomes(body), 409, "No analysis plan is frozen")
    resp = api.client.post("/analyses", json={"plan_version": v}, headers=api.evaluator())
    assert_problem(resp, 409, f"Plan version {v} is a draft", f"/plans/{v}/freeze")
    resp = api.client.post("/analyses", json={"plan_version": v + 1}, headers=api.evaluator())
    assert_problem(resp, 404, f"no analysis plan version {v + 1}")
    imports = api.ok(api.client.get("/outcomes/imports", headers=api.evaluator()))
    assert imports["count"] == 0
    assert api.ok(api.client.get("/analyses", headers=api.evaluator()))["count"] == 0


def test_plans_are_validated(api) -> None:
    for change, field in (
        ({"outcomes": []}, "outcomes"),
        ({"outcomes": ["ks2_reading", "ks2_reading"]}, "(body)"),
        ({"outcomes": ["ks2_writing"]}, "outcomes.0"),
        ({"covariates": ["postcode"]}, "covariates.0"),
        ({"effect_size_convention": "cohens_d"}, "effect_size_convention"),
        ({"title": ""}, "title"),
        ({"arm": "intervention"}, "arm"),
    ):
        resp = api.client.post("/plans", json=api.plan(**change), headers=api.evaluator())
        body = assert_problem(resp, 422)
        assert field in {e["field"] for e in body["errors"]}, (change, body)
    defaults = api.register_plan(
        **{"covariates": ["la", "ks1_prior"], "compliance_rule_version": None}
    )
    assert defaults["content"]["compliance_rule_version"] is None
    assert api.ok(api.client.get("/plans", headers=api.evaluator()))["count"] == 1


# --- the compliance rule the plan names, checked in the workshops service ----------------------


def test_a_plan_naming_a_rule_workshops_does_not_have_is_not_frozen(api, trial) -> None:
    absent = trial.rule_version + 90
    v = api.register_plan(compliance_rule_version=absent)["version"]
    body = assert_problem(
        _freeze(api, v), 409, f"compliance rule version {absent}", "does not have"
    )
    assert body["type"].endswith("/compliance-rule-not-frozen")
    assert body["compliance_rule_version"] == absent
    assert _status(api, v) == "draft" and _audit(api, "plan.frozen") == []
    # Nothing can be imported under it either.
    assert_problem(api.import_outcomes(to_csv(pupil_rows(trial))), 409, "No analysis plan is")

    # Named the trial's frozen rule, the same draft freezes.
    body = api.plan(compliance_rule_version=trial.rule_version)
    api.ok(api.client.put(f"/plans/{v}", json=body, headers=api.evaluator()))
    assert api.ok(_freeze(api, v))["status"] == "frozen"


def test_workshops_unreachable_the_freeze_is_refused_and_nothing_changes(open_app) -> None:
    api = open_app(workshops_url=unreachable_url())
    v = api.register_plan()["version"]
    body = assert_problem(_freeze(api, v), 503, "was not frozen", "could not be reached")
    assert f"compliance rule version {api.rule_version}" in body["detail"]
    assert _status(api, v) == "draft" and _audit(api, "plan.frozen") == []
    # A plan naming no rule has nothing to check: it freezes without the workshops service.
    none = api.register_plan(compliance_rule_version=None)["version"]
    assert api.ok(_freeze(api, none))["status"] == "frozen"
    (event,) = _audit(api, "plan.frozen")
    assert "compliance_rule" not in event["new"]


@pytest.fixture(scope="module")
def own_workshops(
    live: LiveTrial,
    keys: Keys,
    database_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveService]:
    """A workshops process of this module's own, on a database of its own: the test makes rules
    in it (the trial's workshops service is only ever read)."""
    database = database_factory.create("plans_workshops")
    upgrade(services.get("workshops").directory, database)
    process = start_service(
        "workshops",
        database_url=database,
        keys=keys,
        tmp=tmp_path_factory.mktemp("plans-workshops"),
        extra_env={
            "WORKSHOPS_RECRUITMENT_URL": live.url("recruitment"),
            "WORKSHOPS_RANDOMISATION_URL": live.url("randomisation"),
        },
    )
    try:
        yield process
    finally:
        process.stop()


def test_a_plan_naming_a_draft_rule_is_frozen_only_once_the_rule_is(
    open_app, own_workshops, keys
) -> None:
    api = open_app(workshops_url=own_workshops.url)
    ev = keys.headers("evaluator", sub="evaluator-eve")
    with httpx.Client(base_url=own_workshops.url, timeout=30) as ws:
        rule = ok(ws.post("/compliance-rules", headers=ev, json={"note": "a draft"}), 201)
        assert rule["status"] == "draft"
        v = api.register_plan(compliance_rule_version=rule["version"])["version"]
        body = assert_problem(
            _freeze(api, v), 409, "still a draft", f"/compliance-rules/{rule['version']}/freeze"
        )
        assert body["type"].endswith("/compliance-rule-not-frozen")
        assert _status(api, v) == "draft"

        frozen = ok(ws.post(f"/compliance-rules/{rule['version']}/freeze", headers=ev))
    plan = api.ok(_freeze(api, v))
    assert plan["status"] == "frozen"
    (event,) = _audit(api, "plan.frozen")
    assert event["new"]["compliance_rule"]["fingerprint"] == frozen["fingerprint"]
