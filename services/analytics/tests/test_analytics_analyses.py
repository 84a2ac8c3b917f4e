"""Analyses end to end through the API: a job (202, status URL, progress) whose report has
everything, labelled with its snapshot and plan; CONSORT counts that add up; inputs that are
missing and models that do not converge reported as such, never as numbers; a job left running
by a dead worker taken over and finished exactly once."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
from collections import Counter
from typing import Any

import pytest
from analytics_fakes import pupil_rows, to_csv
from fastapi.testclient import TestClient
from sqlmodel import select

from analytics.analyses import service as analyses_service
from analytics.main import create_app
from analytics.models import Analysis, AuditEvent, ServiceModel, Snapshot
from conftest import Api
from rlc_shared.db import Transactions, transaction
from rlc_testkit import wipe
from rlc_testkit.recruitment import assert_problem

NO_NUMBERS = ("result", "headline")


def _csv(resp: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(resp.text)))


def _get(api: Api, path: str, role: str = "auditor", **params: Any) -> Any:
    return api.client.get(path, params=params, headers=api.headers(role))


def test_the_report_has_everything_labelled(api, trial) -> None:
    plan = api.frozen_plan()
    rows = pupil_rows(trial, per_school=12, effect=3.0)
    imported = api.ok(api.import_outcomes(to_csv(rows)), 201)
    job, report = api.analyse(reason="main analysis")
    assert job["progress"] == 100 and job["stage"] == "done" and job["attempts"] == 1
    assert job["summary"] == {
        "missing_inputs": [],
        "warnings": 0,
        "not_estimated": 0,
        "estimated": 11,
    }

    # Labelled: the plan and the snapshot, which anyone with analysis.read can check.
    assert report["plan"]["version"] == plan["version"]
    assert report["plan"]["fingerprint"] == plan["fingerprint"]
    assert report["outcome_import"]["id"] == imported["id"]
    assert report["outcome_import"]["sha256"] == imported["sha256"]
    snapshot = api.ok(_get(api, report["snapshot"]["url"]))
    assert snapshot["sha256"] == report["snapshot"]["sha256"] == job["snapshot_sha256"]
    assert {e["status"] for e in snapshot["inputs"].values()} == {"present"}
    content = api.client.get(snapshot["content_url"], headers=api.evaluator())
    assert hashlib.sha256(content.content).hexdigest() == snapshot["sha256"]
    assert content.headers["x-rlc-snapshot-sha256"] == snapshot["sha256"]
    doc = json.loads(gzip.decompress(content.content))
    assert doc["plan"]["version"] == plan["version"]
    assert doc["outcome_import"]["sha256"] == imported["sha256"]
    text = gzip.decompress(content.content).decode()
    for personal in ("Sam Head", "office@", "Teacher 0", rows[0]["pupil_id"]):
        assert personal not in text, f"{personal!r} in the snapshot"
    assert rows[0]["pupil_id"] not in json.dumps(report)
    # The snapshot's inputs are the trial as the services gave it.
    assert len(doc["inputs"]["allocations"]["data"]) == len(trial.allocations)
    assert doc["inputs"]["schools"]["count"] == len([s for s in trial.schools if s["status"]])

    # CONSORT: every assessed school in exactly one terminal box, and the counts add up.
    consort = report["consort"]
    assert (
        consort["assessed"]["count"]
        == consort["excluded"]["count"] + consort["randomised"]["count"]
    )
    terminal = [
        consort["excluded"][k]["urns"]
        for k in ("ineligible", "did_not_consent", "withdrew", "awaiting")
    ]
    for arm in consort["arms"].values():
        boxes = [
            arm[k]["urns"]
            for k in ("lost_to_follow_up", "excluded_from_analysis", "analysed", "analysis_pending")
        ]
        assert sum(map(len, boxes)) == arm["allocated"]["count"]
        assert (
            sum(b["count"] for b in arm["received"].values()) == arm["allocated"]["count"]
            if (arm["received"] != "not applicable")
            else True
        )
        terminal += boxes
    seen = Counter(urn for box in terminal for urn in box)
    assert set(seen) == set(consort["assessed"]["urns"]) and set(seen.values()) == {1}
    assert sum(a["allocated"]["count"] for a in consort["arms"].values()) == len(trial.allocations)
    for name, arm in consort["arms"].items():
        schools = trial.urns(name)
        assert arm["analysed"]["urns"] == sorted(schools)
        assert arm["pupils"]["with_outcomes"] == 12 * len(schools)
        assert arm["teachers"]["consented"] == 3 * len(schools)
        answered = {
            r["teacher"] for r in trial.rounds["pre"]["responses"] if trial.arm(r["urn"]) == name
        }
        assert arm["teachers"]["responded_pre"] == len(answered)
    compliers = {d["urn"] for d in trial.dosage if d["complier"]}
    assert consort["arms"]["intervention"]["received"]["received"]["urns"] == sorted(compliers)
    assert set(consort["icc"]) == {"ks2_reading", "ks2_maths"}

    # ITT for every planned outcome and subgroup; the headline is the plan's convention.
    assert [(e["outcome"], e["subgroup"]) for e in report["impact"]] == [
        (o, g) for o in ("ks2_reading", "ks2_maths") for g in ("all", "cin", "lac")
    ]
    for entry in report["impact"]:
        assert entry["status"] == "estimated", entry
        effect = entry["result"]["effect_sizes"]["total_unconditional"]
        assert entry["headline"] == {
            "convention": "total_unconditional",
            **{k: effect[k] for k in ("g", "ci")},
        }
        assert entry["result"]["ci_method"] == "profile likelihood"
        assert entry["result"]["covariates"] == ["la", "ks1_prior"]
    reading = report["impact"][0]["result"]
    assert reading["ci"][0] < 3.0 < reading["ci"][1], "the planted effect is within the CI"
    assert reading["schools_per_arm"] == {"intervention": 10, "control": 10}
    assert [e["status"] for e in report["teacher_impact"]] == ["estimated"] * 3
    assert report["teacher_impact"][0]["result"]["ci_method"] == "cluster-robust t (CR1)"
    assert [e["status"] for e in report["cace"]] == ["estimated"] * 2
    assert report["cace"][0]["rule_version"] == 1

    # Balance, costs, response and dosage.
    keys = {row["key"] for row in report["balance"]["rows"]}
    assert {"pupils", "percentage_fsm", "la:202", "la:370", "pre_knowledge"} <= keys
    costs = report["costs"]
    # 12,000 once + 3 years x 6 h x 35.50 = 12,639 over three years: 4,213 a year, 10 schools.
    assert costs["total_over_years"] == "12639.00" and costs["per_school"] == "421.30"
    assert report["dosage"]["by_arm"]["intervention"]["schools"] == len(trial.dosage)
    assert report["response_rates"]["pre"]["by_arm"] == trial.rounds["pre"]["rates"]

    # Tables and pictures, each labelled.
    for name, url in report["tables"].items():
        resp = _get(api, url, role="trial_manager")
        assert resp.status_code == 200, (name, resp.text)
        assert resp.headers["content-type"].startswith("text/csv")
        assert resp.headers["x-rlc-plan-version"] == str(plan["version"])
        assert resp.headers["x-rlc-snapshot-sha256"] == snapshot["sha256"]
        header = resp.text.splitlines()[0].split(",")
        assert header[:2] == ["plan_version", "snapshot_id"], name
    impact = _csv(_get(api, report["tables"]["impact"]))
    assert len(impact) == 6 and {r["snapshot_id"] for r in impact} == {snapshot["id"]}
    assert float(impact[0]["g"]) == pytest.approx(report["impact"][0]["headline"]["g"])
    for name, kinds in report["pictures"].items():
        svg = _get(api, kinds["svg"])
        png = _get(api, kinds["png"])
        assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content, name
        assert (
            png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        )
    assert set(report["pictures"]) == {"consort", "forest", "response_rates", "attendance"}
    # The unlabelled URLs serve the latest report.
    assert (
        _get(api, "/report/pictures/consort.svg").content
        == _get(api, report["pictures"]["consort"]["svg"]).content
    )


@pytest.mark.parametrize("failure", ["down", "absent"])
def test_surveys_unavailable_teacher_results_are_missing_not_numbers(api, trial, failure) -> None:
    api.frozen_plan()
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    getattr(trial, failure).add("surveys")
    job, report = api.analyse()
    missing = {m["input"]: m for m in report["missing_inputs"]}
    assert set(missing) == {
        f"{kind}_{r}" for kind in ("responses", "response_rates", "scales") for r in ("pre", "post")
    }
    assert job["summary"]["missing_inputs"] == sorted(missing)
    reason = missing["responses_pre"]["reason"]
    assert "surveys service answered" in reason
    assert missing["responses_pre"]["source"] == "surveys GET /rounds/pre/responses.csv"
    for entry in report["teacher_impact"]:
        assert entry["status"] == "missing_input" and "responses_pre missing" in entry["message"]
        assert not set(NO_NUMBERS) & set(entry)
    assert {e["status"] for e in report["impact"]} == {"estimated"}
    for arm in report["consort"]["arms"].values():
        assert arm["teachers"] is None
    assert "responses_pre missing" in report["consort"]["reasons_not_known"]["teachers"]
    assert "pre_scores" in report["balance"]["missing_inputs"]
    resp = _get(api, "/report/pictures/response_rates.svg")
    assert_problem(resp, 404, "was not drawn", "responses_pre missing")
    rows = _csv(_get(api, "/report/tables/teacher_impact.csv"))
    assert [r["status"] for r in rows] == ["missing_input"] * 3 and rows[0]["g"] == ""


def test_workshops_not_deployed_cace_costs_and_dosage_are_missing(api, trial) -> None:
    api.frozen_plan()
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    trial.absent.add("workshops")
    _, report = api.analyse()
    assert {m["input"] for m in report["missing_inputs"]} == {"dosage", "costs"}
    for entry in report["cace"]:
        assert entry["status"] == "missing_input" and "dosage missing" in entry["message"]
        assert not set(NO_NUMBERS) & set(entry)
    assert report["costs"]["status"] == "missing_input" and "per_school" not in report["costs"]
    assert report["dosage"]["status"] == "missing_input"
    received = report["consort"]["arms"]["intervention"]["received"]
    assert received["unknown"]["count"] == len(trial.urns("intervention"))
    assert received["received"]["count"] == 0
    assert "compliance" in report["consort"]["missing_inputs"]
    assert_problem(_get(api, "/report/pictures/attendance.png"), 404, "dosage missing")
    assert _csv(_get(api, "/report/tables/costs.csv")) == []


def test_randomisation_down_no_itt_and_consort_says_so(api, trial) -> None:
    api.frozen_plan()
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    trial.down.add("randomisation")
    _, report = api.analyse()
    assert {m["input"] for m in report["missing_inputs"]} == {"allocations"}
    for section in ("impact", "cace", "teacher_impact"):
        for entry in report[section]:
            assert entry["status"] == "missing_input", entry
            assert "allocations missing" in entry["message"]
            assert not set(NO_NUMBERS) & set(entry)
    assert "allocations" in report["consort"]["missing_inputs"]
    # CONSORT falls back on recruitment's record of who was randomised to which arm.
    assert report["consort"]["randomised"]["count"] == len(trial.allocations)
    assert report["balance"]["status"] == "missing_input"
    assert report["costs"]["status"] == "missing_input"


def test_recruitment_down_is_reported_and_the_rest_still_runs(api, trial) -> None:
    api.frozen_plan()
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    trial.down.add("recruitment")
    _, report = api.analyse()
    missing = {m["input"]: m["reason"] for m in report["missing_inputs"]}
    assert set(missing) == {"schools", "staff"}
    assert missing["staff"] == "not read: the schools themselves are missing"
    assert any("unknown to recruitment" in w for w in report["consort"]["warnings"])
    assert report["consort"]["assessed"]["count"] == len(trial.allocations)
    assert {e["status"] for e in report["impact"]} == {"estimated"}
    assert report["balance"]["status"] == "missing_input"
    assert report["costs"]["status"] == "present" and report["costs"]["per_pupil"] is None


def test_a_model_that_does_not_converge_is_reported_as_such(api, trial) -> None:
    api.frozen_plan(subgroups=["all"])
    control = trial.urns("control")[:1]
    rows = [
        r
        for r in pupil_rows(trial, per_school=5)
        if r["urn"] in control + trial.urns("intervention")[:2]
    ]
    api.ok(api.import_outcomes(to_csv(rows)), 201)
    job, report = api.analyse()
    for entry in report["impact"]:
        assert entry["status"] == "not_converged"
        assert "need at least two schools in each arm" in entry["message"]
        assert not set(NO_NUMBERS) & set(entry)
        assert entry["schools_per_arm"] == {"intervention": 2, "control": 1}
    assert job["summary"]["not_estimated"] >= 2
    assert report["consort"]["icc"] is None
    assert "no ITT model" in report["consort"]["reasons_not_known"]["icc"]
    rows_csv = _csv(_get(api, "/report/tables/impact.csv"))
    assert {r["status"] for r in rows_csv} == {"not_converged"}
    assert {r["g"] for r in rows_csv} == {""} and {r["beta"] for r in rows_csv} == {""}
    forest = _get(api, "/report/pictures/forest.svg").text
    assert "not estimable" in forest


def test_the_compliance_rule_must_be_the_plans(api, trial) -> None:
    api.frozen_plan(compliance_rule_version=2)
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    _, report = api.analyse()
    (missing,) = report["missing_inputs"]
    assert missing["input"] == "dosage" and missing["source"].endswith("?rule_version=2")
    assert "no compliance rule version 2" in missing["reason"]
    for entry in report["cace"]:
        assert entry["status"] == "missing_input" and "dosage missing" in entry["message"]
    assert "dosage missing" in report["consort"]["reasons_not_known"]["compliance"]

    # A rule that exists, under which no school has a verdict yet (nobody enrolled).
    trial.rules.add(3)
    api.frozen_plan(compliance_rule_version=3)
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    _, report = api.analyse()
    assert report["missing_inputs"] == []
    for entry in report["cace"]:
        assert entry["status"] == "missing_input"
        assert "no intervention school analysed has a compliance verdict" in entry["message"]
    received = report["consort"]["arms"]["intervention"]["received"]
    assert received["unknown"]["count"] == len(trial.urns("intervention"))

    api.frozen_plan(compliance_rule_version=None)
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    _, report = api.analyse()
    assert {e["status"] for e in report["cace"]} == {"not_planned"}
    assert report["consort"]["reasons_not_known"]["compliance"] == (
        "the plan names no compliance rule"
    )


def test_without_outcomes_pupil_results_are_missing(api, trial) -> None:
    api.frozen_plan()
    _, report = api.analyse()
    assert "pupil_outcomes" in {m["input"] for m in report["missing_inputs"]}
    assert {e["status"] for e in report["impact"] + report["cace"]} == {"missing_input"}
    assert report["impact"][0]["message"] == "no pupil outcomes were imported under this plan"
    for arm in report["consort"]["arms"].values():
        assert arm["analysis_pending"]["count"] == arm["allocated"]["count"]
    assert report["outcome_data"]["status"] == "missing_input"
    assert {e["status"] for e in report["teacher_impact"]} == {"estimated"}


def test_reports_before_any_analysis_finished(api, trial) -> None:
    assert_problem(_get(api, "/report"), 404, "No analysis has finished yet", "POST /analyses")
    assert_problem(_get(api, "/report/tables/impact.csv"), 404, "No analysis has finished")
    unknown = "0" * 32
    assert_problem(_get(api, "/report", analysis=unknown), 404, f"no analysis {unknown}")
    assert_problem(_get(api, f"/analyses/{unknown}"), 404, "no analysis")
    assert_problem(_get(api, f"/snapshots/{unknown}"), 404, "no snapshot")


# --- jobs that a dead worker left behind ------------------------------------------------------


@pytest.fixture
def paused(settings, trial, keys):
    """An app whose worker does not run: jobs wait, as if every worker had died."""
    app = create_app(settings.model_copy(update={"analysis_worker_enabled": False}))
    with TestClient(app) as test_client:
        yield Api(test_client, keys)
        wipe(app.state.engine, ServiceModel.metadata)


def _stall(engine, analysis_id: str, *, attempts: int | None = None) -> None:
    """Leave the job as a worker that died mid-way does: running, its heartbeat long stopped."""
    with transaction(engine) as session:
        job = session.get(Analysis, analysis_id)
        assert job is not None
        job.heartbeat_at = job.heartbeat_at - dt.timedelta(hours=1)
        if attempts is not None:
            job.attempts = attempts
        session.add(job)


def _claim(engine) -> analyses_service.Claim:
    with transaction(engine) as session:
        claim = analyses_service.claim_next(
            session,
            now=analyses_service.utcnow(),
            stale_after=dt.timedelta(minutes=5),
            max_attempts=3,
        )
    assert claim is not None
    return claim


def _finish_with_a_worker(settings, keys, analysis_id: str) -> tuple[dict, list[AuditEvent]]:
    app = create_app(settings)
    with TestClient(app) as test_client:
        api = Api(test_client, keys)
        job = api.wait(f"/analyses/{analysis_id}")
        with transaction(app.state.engine) as session:
            events = list(
                session.exec(select(AuditEvent).where(AuditEvent.entity_id == analysis_id)).all()
            )
    return job, events


def test_a_job_left_running_by_a_dead_worker_is_finished_once(paused, settings, keys, trial):
    paused.frozen_plan()
    paused.ok(paused.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    accepted = paused.request_analysis()
    engine = paused.client.app.state.engine
    claim = _claim(engine)
    transactions = Transactions(engine)
    # The first worker took the snapshot and recorded it, then died.
    doc, snapshot = analyses_service.snapshot_for(
        transactions,
        claim=claim,
        upstreams=paused.client.app.state.upstreams,
        storage=paused.client.app.state.storage,
        progress=lambda stage, percent: None,
    )
    _stall(engine, accepted["id"])
    assert (
        paused.ok(paused.client.get(accepted["status_url"], headers=paused.evaluator()))["status"]
        == "running"
    )
    # Meanwhile the services' data changed: the restarted job must analyse its snapshot.
    trial.down.add("surveys")
    requests_before = len(trial.seen)

    job, events = _finish_with_a_worker(settings, keys, accepted["id"])
    assert job["status"] == "done" and job["attempts"] == 2
    assert job["snapshot_id"] == snapshot.id
    assert len(trial.seen) == requests_before, "no input was pulled again"
    actions = [e.action for e in events]
    assert actions == ["analysis.requested", "analysis.taken_over", "analysis.completed"]
    with transaction(engine) as session:
        assert len(session.exec(select(Snapshot)).all()) == 1
    report = paused.ok(paused.client.get("/report", headers=paused.evaluator()))
    assert report["snapshot"]["id"] == snapshot.id and report["missing_inputs"] == []
    assert doc["id"] == snapshot.id


def test_a_job_that_keeps_dying_is_failed_with_a_reason(paused, settings, keys, trial) -> None:
    paused.frozen_plan()
    accepted = paused.request_analysis()
    engine = paused.client.app.state.engine
    _claim(engine)
    _stall(engine, accepted["id"], attempts=3)
    job, events = _finish_with_a_worker(settings, keys, accepted["id"])
    assert job["status"] == "failed" and "Stopped after 3 attempt(s)" in job["error"]
    assert events[-1].action == "analysis.failed"
    assert_problem(
        paused.client.get(
            "/report", params={"analysis": accepted["id"]}, headers=paused.evaluator()
        ),
        404,
        "is failed",
    )


def test_a_queued_job_has_no_report_yet(paused, trial) -> None:
    paused.frozen_plan()
    accepted = paused.request_analysis()
    job = paused.ok(paused.client.get(accepted["status_url"], headers=paused.evaluator()))
    assert job["status"] == "queued" and job["progress"] == 0 and job["report_url"] is None
    resp = paused.client.get(
        "/report", params={"analysis": accepted["id"]}, headers=paused.evaluator()
    )
    assert_problem(resp, 404, "is queued", accepted["status_url"])
    listed = paused.ok(paused.client.get("/analyses", headers=paused.headers("auditor")))
    assert [a["id"] for a in listed["data"]] == [accepted["id"]]


def test_on_s3_storage(settings, trial, keys, s3_server) -> None:
    """The same run with the outcomes, snapshot and outputs in an S3 bucket (moto over HTTP)."""
    s3 = settings.model_copy(
        update={
            "storage_backend": "s3",
            "s3_bucket": s3_server.bucket,
            "s3_endpoint_url": s3_server.endpoint_url,
            "s3_prefix": "analytics-test",
        }
    )
    app = create_app(s3)
    with TestClient(app) as test_client:
        try:
            api = Api(test_client, keys)
            api.frozen_plan()
            body = to_csv(pupil_rows(trial, per_school=6))
            api.ok(api.import_outcomes(body), 201)
            job, report = api.analyse()
            content = api.client.get(
                f"/snapshots/{job['snapshot_id']}/content", headers=api.evaluator()
            )
            assert hashlib.sha256(content.content).hexdigest() == job["snapshot_sha256"]
            png = _get(api, report["pictures"]["consort"]["png"])
            assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
            keys_in_bucket = {
                o["Key"]
                for o in s3_server.client().list_objects_v2(
                    Bucket=s3_server.bucket, Prefix="analytics-test/"
                )["Contents"]
            }
            assert f"analytics-test/analyses/{job['id']}/report.json" in keys_in_bucket
            assert any(k.endswith("/raw.csv") for k in keys_in_bucket)
        finally:
            wipe(app.state.engine, ServiceModel.metadata)
