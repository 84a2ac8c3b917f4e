"""The analytics service with the four others, all five as real processes over real HTTP.

The trial is `rlc_testkit.trial.build_trial`'s, built through the services' own APIs (and shared
with the analytics service's own tests when both run in one session): a GIAS extract, two LAs,
schools at every status, staff with data-collection consent and the GIAS email register in
recruitment; one live run executed by randomisation, an allocation then marked in error and an
intervention school withdrawn; both questionnaire rounds pushed through the surveys service's
signed webhook, linked by GIAS email and scored; cohorts, enrolment, Zoom attendance reports, a
frozen compliance rule and costs in the workshops service. The evaluator then freezes a plan,
imports pupil outcomes and runs the analysis on the analytics process; the report is checked
against what was built. Finally the surveys and workshops processes are stopped: the next analysis
says their inputs are missing, and still gives the ITT.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rlc_cli import services
from rlc_shared.migrations import upgrade
from rlc_testkit import Keys, LiveService, start_service
from rlc_testkit.trial import LiveTrial, TrialWorld, ok, pupil_rows, shared_trial, to_csv

PUPILS_PER_SCHOOL = 10


@pytest.fixture(scope="session")
def live(
    request: pytest.FixtureRequest,
    keys: Keys,
    database_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> LiveTrial:
    return shared_trial(
        request, keys=keys, databases=database_factory, tmp_path_factory=tmp_path_factory
    )


@pytest.fixture(scope="module")
def analytics(
    live: LiveTrial, keys: Keys, database_factory: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    database = database_factory.create("anx_analytics")
    upgrade(services.get("analytics").directory, database)
    process = start_service(
        "analytics",
        database_url=database,
        keys=keys,
        tmp=tmp_path_factory.mktemp("analytics-x"),
        extra_env={
            "ANALYTICS_RECRUITMENT_URL": live.url("recruitment"),
            "ANALYTICS_RANDOMISATION_URL": live.url("randomisation"),
            "ANALYTICS_SURVEYS_URL": live.url("surveys"),
            "ANALYTICS_WORKSHOPS_URL": live.url("workshops"),
            "ANALYTICS_ANALYSIS_INTERVAL_SECONDS": "0.2",
            "ANALYTICS_OUTBOUND_RETRIES": "1",
            "ANALYTICS_UPSTREAM_PAGE_SIZE": "5",
        },
    )
    try:
        yield process
    finally:
        process.stop()


def _analyse(an: httpx.Client, ev: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    accepted = ok(an.post("/analyses", headers=ev, json={}), 202)
    deadline = time.monotonic() + 300
    while True:
        job = ok(an.get(accepted["status_url"], headers=ev))
        if job["status"] in ("done", "failed"):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"the analysis is still {job['status']} ({job['stage']})")
        time.sleep(0.1)
    assert job["status"] == "done", job
    return job, ok(an.get("/report", headers=ev, params={"analysis": job["id"]}))


def _teachers(world: TrialWorld, urns: list[int]) -> dict[str, int]:
    pre, post = world.respondents("pre", urns), world.respondents("post", urns)
    return {
        "consented": world.consented(urns),
        "responded_pre": len(pre),
        "responded_post": len(post),
        "responded_both": len(pre & post),
    }


def test_a_report_from_the_other_services_data(
    live: LiveTrial, analytics: LiveService, keys: Keys
) -> None:
    world = live.world
    ev = keys.headers("evaluator", sub="anx-evaluator")
    # Pupils at every allocated school, and at the eligible school that never consented.
    pupils = pupil_rows(
        world, urns=[*world.urns(), world.not_consented], per_school=PUPILS_PER_SCHOOL, seed=11
    )
    with httpx.Client(base_url=analytics.url, timeout=60) as an:
        plan = ok(
            an.post(
                "/plans",
                headers=ev,
                json={
                    "title": "RLC SAP (cross-service)",
                    "outcomes": ["ks2_reading", "ks2_maths"],
                    "subgroups": ["all"],
                    "compliance_rule_version": world.rule_version,
                },
            ),
            201,
        )
        ok(an.post(f"/plans/{plan['version']}/freeze", headers=ev))
        imported = ok(
            an.post(
                "/outcomes/imports",
                headers=ev,
                files={"file": ("ks2.csv", to_csv(pupils), "text/csv")},
            ),
            201,
        )
        problems = {p["kind"]: p["count"] for p in imported["problems"]}
        # Checked against recruitment at import: the withdrawn and never-randomised schools.
        assert problems == {
            "withdrawn_school": PUPILS_PER_SCHOOL,
            "school_not_randomised": PUPILS_PER_SCHOOL,
        }
        job, report = _analyse(an, ev)

        assert job["summary"]["missing_inputs"] == []
        snapshot = ok(an.get(f"/snapshots/{job['snapshot_id']}", headers=ev))
        assert {e["status"] for e in snapshot["inputs"].values()} == {"present"}
        assert report["snapshot"]["sha256"] == snapshot["sha256"]
        assert report["plan"]["version"] == plan["version"]

        consort = report["consort"]
        for name in ("intervention", "control"):
            assert consort["arms"][name]["allocated"]["urns"] == world.urns(name)
            assert consort["arms"][name]["teachers"] == _teachers(world, world.urns(name))
        intervention = consort["arms"]["intervention"]
        assert intervention["lost_to_follow_up"]["urns"] == [world.withdrawn]
        assert intervention["excluded_from_analysis"]["urns"] == [world.in_error]
        assert intervention["excluded_from_analysis"]["reasons"] == [
            {"reason": "allocation in error", "count": 1}
        ]
        analysed = world.analysable("intervention")
        assert intervention["analysed"]["urns"] == analysed
        assert intervention["pupils"]["with_outcomes"] == PUPILS_PER_SCHOOL * len(analysed)
        assert consort["excluded"]["did_not_consent"]["urns"] == [world.not_consented]
        assert consort["excluded"]["withdrew"]["urns"] == [world.withdrew]
        assert consort["assessed"]["count"] == len(world.in_trial)
        received = intervention["received"]
        assert received["received"]["urns"] == sorted(world.compliers)
        # The school in error and the withdrawn one could not be enrolled, two were not: no dosage.
        assert received["unknown"]["urns"] == sorted(
            [world.in_error, world.withdrawn, *world.unenrolled]
        )
        assert any("not randomised" in w for w in consort["warnings"])

        itt = {e["outcome"]: e for e in report["impact"]}
        assert itt["ks2_reading"]["status"] == "estimated", itt["ks2_reading"]
        assert itt["ks2_reading"]["schools_per_arm"] == {
            "intervention": len(analysed),
            "control": len(world.analysable("control")),
        }
        assert [e["status"] for e in report["teacher_impact"]] == ["estimated"] * 3
        # Two-stage least squares has no optimiser to fail: with compliers in the intervention
        # arm, every CACE is an estimate, under the plan's frozen rule.
        assert [e["status"] for e in report["cace"]] == ["estimated"] * len(report["cace"]) != []
        assert {e["rule_version"] for e in report["cace"]} == {world.rule_version}
        assert report["costs"]["status"] == "present"
        # 12,000 once + 3 years x 6 h x 35.50 = 12,639 over three years.
        assert report["costs"]["total_over_years"] == "12639.00"
        rates = {r["arm"]: r for r in report["response_rates"]["pre"]["by_arm"]}
        for name in ("intervention", "control"):
            assert rates[name]["responses"] == len(
                [r for r in world.responses if r.round == "pre" and world.arm(r.urn) == name]
            )
        svg = an.get(report["pictures"]["consort"]["svg"], headers=keys.headers("auditor"))
        assert svg.status_code == 200 and b"<svg" in svg.content

        # Surveys and workshops stop: their inputs are missing, and the ITT still stands.
        with live.down("surveys", "workshops"):
            job, report = _analyse(an, ev)
        missing = {m["input"]: m["reason"] for m in report["missing_inputs"]}
        assert set(missing) == {
            "responses_pre",
            "responses_post",
            "response_rates_pre",
            "response_rates_post",
            "scales_pre",
            "scales_post",
            "dosage",
            "costs",
        }
        assert all("could not be reached" in reason for reason in missing.values()), missing
        assert {e["status"] for e in report["teacher_impact"] + report["cace"]} == {"missing_input"}
        assert report["costs"]["status"] == "missing_input"
        assert report["impact"][0]["status"] == "estimated"
        assert report["consort"]["arms"]["intervention"]["received"]["unknown"]["count"] == len(
            world.urns("intervention")
        )
