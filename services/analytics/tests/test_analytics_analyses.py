"""Analyses end to end through the API, on the trial in the live upstream services: a job (202,
status URL, progress) whose report has everything, labelled with its snapshot and plan; CONSORT
counts that add up and say what was built; inputs that are missing (a service's process stopped,
or one not deployed) and models that do not converge reported as such, never as numbers; a job
left running by a dead worker taken over and finished exactly once, from its snapshot."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from analytics_driver import Api
from sqlmodel import col, select

from analytics.analyses import service as analyses_service
from analytics.models import Analysis, AnalysisPlan, AuditEvent, PlanStatus, Snapshot
from analytics.report.service import PICTURE_CSP
from analytics.snapshots.sources import RESPONSE_RATE_FIELDS
from rlc_shared.audit import utcnow
from rlc_shared.db import Transactions, transaction
from rlc_testkit.recruitment import assert_problem
from rlc_testkit.trial import pupil_rows, to_csv, unreachable_url

NO_NUMBERS = ("result", "headline")


def _csv(resp: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(resp.text)))


def _get(api: Api, path: str, role: str = "auditor", **params: Any) -> Any:
    return api.client.get(path, params=params, headers=api.headers(role))


def _rates(live, round_: str) -> list[dict[str, Any]]:
    """The surveys service's own response rates by arm, as the evaluator reads them."""
    with live.client("surveys") as sv:
        resp = sv.get(
            f"/rounds/{round_}/response-rates",
            params={"by": "arm"},
            headers=live.headers("evaluator", sub="evaluator-eve"),
        )
    assert resp.status_code == 200, resp.text
    return [{k: r[k] for k in RESPONSE_RATE_FIELDS if k in r} for r in resp.json()["data"]]


def test_the_report_has_everything_labelled(api, trial, live) -> None:
    plan = api.frozen_plan()
    rows = pupil_rows(trial, per_school=12, effect=3.0)
    imported = api.ok(api.import_outcomes(to_csv(rows)), 201)
    assert imported["problems"] == [] and imported["usable_rows"] == len(rows)
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
    first = trial.staff[trial.urns()[0]][0]
    for personal in ("Sam Head", "office@", first.name, first.email, rows[0]["pupil_id"]):
        assert personal not in text, f"{personal!r} in the snapshot"
    assert rows[0]["pupil_id"] not in json.dumps(report)
    # The snapshot's inputs are the trial as the services gave it.
    assert len(doc["inputs"]["allocations"]["data"]) == len(trial.arms)
    assert doc["inputs"]["schools"]["count"] == len(trial.in_trial)
    assert sorted(doc["inputs"]["staff"]["data"]) == sorted(str(u) for u in trial.urns())

    # CONSORT: every assessed school in exactly one terminal box, and the counts add up.
    consort = report["consort"]
    assert consort["assessed"]["urns"] == trial.in_trial
    assert (
        consort["assessed"]["count"]
        == consort["excluded"]["count"] + consort["randomised"]["count"]
    )
    excluded = consort["excluded"]
    assert excluded["ineligible"]["urns"] == [trial.ineligible]
    assert excluded["did_not_consent"]["urns"] == [trial.not_consented]
    assert excluded["withdrew"]["urns"] == [trial.withdrew]
    assert excluded["awaiting"]["urns"] == [trial.awaiting]
    terminal = [
        excluded[k]["urns"] for k in ("ineligible", "did_not_consent", "withdrew", "awaiting")
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
    assert sum(a["allocated"]["count"] for a in consort["arms"].values()) == len(trial.arms)
    for name, arm in consort["arms"].items():
        assert arm["allocated"]["urns"] == trial.urns(name)
        schools = trial.analysable(name)
        assert arm["analysed"]["urns"] == schools
        assert arm["pupils"]["with_outcomes"] == 12 * len(schools)
        assert arm["teachers"]["consented"] == trial.consented(trial.urns(name))
        assert arm["teachers"]["responded_pre"] == len(trial.respondents("pre", trial.urns(name)))
        assert arm["teachers"]["responded_post"] == len(trial.respondents("post", trial.urns(name)))
    intervention = consort["arms"]["intervention"]
    assert intervention["lost_to_follow_up"]["urns"] == [trial.withdrawn]
    assert intervention["excluded_from_analysis"]["urns"] == [trial.in_error]
    assert intervention["excluded_from_analysis"]["reasons"] == [
        {"reason": "allocation in error", "count": 1}
    ]
    received = intervention["received"]
    assert received["received"]["urns"] == sorted(trial.compliers)
    assert received["not_received"]["urns"] == sorted(set(trial.enrolled) - trial.compliers)
    # Never enrolled (the one in error and the withdrawn one could not be): no dosage, not known.
    assert received["unknown"]["urns"] == sorted(
        [trial.in_error, trial.withdrawn, *trial.unenrolled]
    )
    assert set(consort["icc"]) == {"ks2_reading", "ks2_maths"}
    assert consort["warnings"] == [] and report["warnings"] == []

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
    assert reading["schools_per_arm"] == {
        "intervention": len(trial.analysable("intervention")),
        "control": len(trial.analysable("control")),
    }
    assert [e["status"] for e in report["teacher_impact"]] == ["estimated"] * 3
    assert report["teacher_impact"][0]["result"]["ci_method"] == "cluster-robust t (CR1)"
    assert [e["status"] for e in report["cace"]] == ["estimated"] * 2
    assert report["cace"][0]["rule_version"] == trial.rule_version
    assert report["cace"][0]["intervention_schools_without_compliance"] == trial.unenrolled

    # Balance, costs, response and dosage.
    keys = {row["key"] for row in report["balance"]["rows"]}
    assert {"pupils", "percentage_fsm", "la:202", "la:370", "pre_knowledge"} <= keys
    costs = report["costs"]
    # 12,000 once + 3 years x 6 h x 35.50 = 12,639 over three years, shared by the intervention
    # schools whose allocation stands (the one in error is not costed).
    costed = len([u for u in trial.urns("intervention") if u != trial.in_error])
    per_school = (Decimal("12639.00") / 3 / costed).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert costs["total_over_years"] == "12639.00" and costs["per_school"] == str(per_school)
    assert report["dosage"]["by_arm"]["intervention"]["schools"] == len(trial.enrolled)
    for round_ in ("pre", "post"):
        rates = report["response_rates"][round_]["by_arm"]
        assert rates == _rates(live, round_)
        by_arm = {r["arm"]: r for r in rates}
        for name in ("intervention", "control"):
            answered = [
                r for r in trial.responses if r.round == round_ and trial.arm(r.urn) == name
            ]
            assert by_arm[name]["schools"] == len(trial.urns(name))
            assert by_arm[name]["responses"] == len(answered)

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
        # Shown inline (an <img>, a tab) but never as a document that runs or fetches anything,
        # and never sniffed as another type; the SVG needs nothing the policy forbids.
        for kind, resp in (("svg", svg), ("png", png)):
            assert resp.headers["x-content-type-options"] == "nosniff", (name, kind)
            assert resp.headers["content-security-policy"] == PICTURE_CSP, (name, kind)
            assert resp.headers["content-disposition"] == f'inline; filename="{name}.{kind}"'
        assert b"<script" not in svg.content and b"<foreignObject" not in svg.content, name
        references = re.findall(rb'(?:xlink:)?href="([^"]*)"', svg.content)
        assert all(ref.startswith(b"#") for ref in references), (name, references)
    assert set(report["pictures"]) == {"consort", "forest", "response_rates", "attendance"}
    # The unlabelled URLs serve the latest report.
    assert (
        _get(api, "/report/pictures/consort.svg").content
        == _get(api, report["pictures"]["consort"]["svg"]).content
    )


SURVEY_INPUTS = {
    f"{kind}_{r}" for kind in ("responses", "response_rates", "scales") for r in ("pre", "post")
}


@pytest.mark.parametrize("failure", ["down", "not deployed"])
def test_surveys_unavailable_teacher_results_are_missing_not_numbers(
    open_app, live, trial, failure
) -> None:
    """Its process stopped, or an address where no surveys service was ever deployed."""
    api = open_app(**({"surveys_url": unreachable_url()} if failure == "not deployed" else {}))
    api.frozen_plan()
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    with live.down("surveys") if failure == "down" else contextlib.nullcontext():
        job, report = api.analyse()
    missing = {m["input"]: m for m in report["missing_inputs"]}
    assert set(missing) == SURVEY_INPUTS
    assert job["summary"]["missing_inputs"] == sorted(missing)
    for entry in missing.values():
        assert "The surveys service could not be reached" in entry["reason"], entry
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


def test_workshops_not_deployed_cace_costs_and_dosage_are_missing(open_app, trial) -> None:
    # The plan is frozen while the workshops service answers (a freeze checks the rule there),
    # by an app whose worker does not run (the analysis must be this one's).
    open_app(analysis_worker_enabled=False).frozen_plan()
    api = open_app(workshops_url=unreachable_url())
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    _, report = api.analyse()
    missing = {m["input"]: m["reason"] for m in report["missing_inputs"]}
    assert set(missing) == {"dosage", "costs"}
    assert all("The workshops service could not be reached" in r for r in missing.values())
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


def test_randomisation_down_no_itt_and_consort_says_so(api, live, trial) -> None:
    api.frozen_plan()
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    with live.down("randomisation"):
        _, report = api.analyse()
    missing = {m["input"]: m["reason"] for m in report["missing_inputs"]}
    # The surveys service counts response rates against randomisation's allocations, so it
    # cannot give them either (it says so: a 503 naming randomisation).
    assert set(missing) == {"allocations", "response_rates_pre", "response_rates_post"}
    assert "The randomisation service could not be reached" in missing["allocations"]
    assert "randomisation" in missing["response_rates_pre"]
    for section in ("impact", "cace", "teacher_impact"):
        for entry in report[section]:
            assert entry["status"] == "missing_input", entry
            assert "allocations missing" in entry["message"]
            assert not set(NO_NUMBERS) & set(entry)
    assert "allocations" in report["consort"]["missing_inputs"]
    # CONSORT falls back on recruitment's record of who was randomised to which arm.
    assert report["consort"]["randomised"]["count"] == len(trial.arms)
    for name, arm in report["consort"]["arms"].items():
        assert arm["allocated"]["urns"] == trial.urns(name)
    assert report["balance"]["status"] == "missing_input"
    assert report["costs"]["status"] == "missing_input"


def test_recruitment_down_is_reported_and_the_rest_still_runs(api, live, trial) -> None:
    api.frozen_plan()
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    with live.down("recruitment"):
        _, report = api.analyse()
    missing = {m["input"]: m["reason"] for m in report["missing_inputs"]}
    assert set(missing) == {"schools", "staff"}
    assert "The recruitment service could not be reached" in missing["schools"]
    assert missing["staff"] == "not read: the schools themselves are missing"
    assert any("unknown to recruitment" in w for w in report["consort"]["warnings"])
    # Only the allocated schools are known: randomisation's allocations.
    assert report["consort"]["assessed"]["urns"] == trial.urns()
    assert {e["status"] for e in report["impact"]} == {"estimated"}
    assert report["balance"]["status"] == "missing_input"
    assert report["costs"]["status"] == "present" and report["costs"]["per_pupil"] is None


def test_a_model_that_does_not_converge_is_reported_as_such(api, trial) -> None:
    api.frozen_plan(subgroups=["all"])
    schools = trial.analysable("control")[:1] + trial.analysable("intervention")[:2]
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, urns=schools, per_school=5))), 201)
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


def _frozen_unchecked(api: Api, **changes: Any) -> None:
    """A plan frozen as one was before a freeze checked its rule in the workshops service (or
    whose rule that service has since lost): written straight to the database."""
    version = api.register_plan(**changes)["version"]
    with transaction(api.client.app.state.engine) as session:
        plan = session.get(AnalysisPlan, version)
        assert plan is not None
        plan.status, plan.frozen_at, plan.frozen_by = PlanStatus.frozen, utcnow(), "before"
        session.add(plan)


def test_the_compliance_rule_must_be_the_plans(api, trial) -> None:
    absent = trial.rule_version + 90
    # Such a plan is no longer frozen (test_analytics_plans); one frozen before that still
    # gets a report that says the dosage is missing, never numbers.
    _frozen_unchecked(api, compliance_rule_version=absent)
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=6))), 201)
    _, report = api.analyse()
    (missing,) = report["missing_inputs"]
    assert missing["input"] == "dosage" and missing["source"].endswith(f"?rule_version={absent}")
    assert f"no compliance rule version {absent}" in missing["reason"]
    for entry in report["cace"]:
        assert entry["status"] == "missing_input" and "dosage missing" in entry["message"]
    assert "dosage missing" in report["consort"]["reasons_not_known"]["compliance"]

    # The rule exists, but no intervention school with outcomes has a verdict under it: only
    # the schools never enrolled (and the control schools) are in the file.
    api.frozen_plan()
    schools = trial.unenrolled + trial.analysable("control")
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, urns=schools, per_school=6))), 201)
    _, report = api.analyse()
    assert report["missing_inputs"] == []
    assert {e["status"] for e in report["impact"]} == {"estimated"}
    for entry in report["cace"]:
        assert entry["status"] == "missing_input"
        assert (
            "no intervention school analysed has a compliance verdict under rule "
            f"{trial.rule_version}" in entry["message"]
        )
    received = report["consort"]["arms"]["intervention"]["received"]
    assert received["received"]["urns"] == sorted(trial.compliers)

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
    for name, arm in report["consort"]["arms"].items():
        # The withdrawn school is lost and the one in error excluded; the rest wait for outcomes.
        assert arm["analysis_pending"]["urns"] == trial.analysable(name)
    assert report["outcome_data"]["status"] == "missing_input"
    assert {e["status"] for e in report["teacher_impact"]} == {"estimated"}


def test_reports_before_any_analysis_finished(api) -> None:
    assert_problem(_get(api, "/report"), 404, "No analysis has finished yet", "POST /analyses")
    assert_problem(_get(api, "/report/tables/impact.csv"), 404, "No analysis has finished")
    unknown = "0" * 32
    assert_problem(_get(api, "/report", analysis=unknown), 404, f"no analysis {unknown}")
    assert_problem(_get(api, f"/analyses/{unknown}"), 404, "no analysis")
    assert_problem(_get(api, f"/snapshots/{unknown}"), 404, "no snapshot")


# --- jobs that a dead worker left behind ------------------------------------------------------


@pytest.fixture
def paused(open_app) -> Api:
    """An app whose worker does not run: jobs wait, as if every worker had died."""
    return open_app(analysis_worker_enabled=False)


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


def _finish_with_a_worker(
    open_app, analysis_id: str, **changes: Any
) -> tuple[dict, list[AuditEvent]]:
    api = open_app(**changes)
    job = api.wait(f"/analyses/{analysis_id}")
    with transaction(api.client.app.state.engine) as session:
        events = list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.entity_id == analysis_id)
                .order_by(col(AuditEvent.id))  # without it, PostgreSQL's order is the heap's
            ).all()
        )
    return job, events


#: A worker that could pull no input at all: every upstream service at an address where
#: nothing listens.
NOWHERE = ("recruitment_url", "randomisation_url", "surveys_url", "workshops_url")


def test_a_job_left_running_by_a_dead_worker_is_finished_once(paused, open_app, trial):
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
    # The worker that takes over can reach no other service: the job must analyse its stored
    # snapshot (had it pulled again, every input would be missing from the report).
    nowhere = {name: unreachable_url() for name in NOWHERE}
    job, events = _finish_with_a_worker(open_app, accepted["id"], **nowhere)
    assert job["status"] == "done" and job["attempts"] == 2
    assert job["snapshot_id"] == snapshot.id
    actions = [e.action for e in events]
    assert actions == ["analysis.requested", "analysis.taken_over", "analysis.completed"]
    with transaction(engine) as session:
        assert len(session.exec(select(Snapshot)).all()) == 1
    report = paused.ok(paused.client.get("/report", headers=paused.evaluator()))
    assert report["snapshot"]["id"] == snapshot.id and report["missing_inputs"] == []
    assert doc["id"] == snapshot.id


def test_a_job_that_keeps_dying_is_failed_with_a_reason(paused, open_app) -> None:
    paused.frozen_plan()
    accepted = paused.request_analysis()
    engine = paused.client.app.state.engine
    _claim(engine)
    _stall(engine, accepted["id"], attempts=3)
    job, events = _finish_with_a_worker(open_app, accepted["id"])
    assert job["status"] == "failed" and "Stopped after 3 attempt(s)" in job["error"]
    assert events[-1].action == "analysis.failed"
    assert_problem(
        paused.client.get(
            "/report", params={"analysis": accepted["id"]}, headers=paused.evaluator()
        ),
        404,
        "is failed",
    )


def test_a_queued_job_has_no_report_yet(paused) -> None:
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


def test_on_s3_storage(open_app, trial, s3_server) -> None:
    """The same run with the outcomes, snapshot and outputs in an S3 bucket (moto over HTTP)."""
    api = open_app(
        storage_backend="s3",
        s3_bucket=s3_server.bucket,
        s3_endpoint_url=s3_server.endpoint_url,
        s3_prefix="analytics-test",
    )
    api.frozen_plan()
    body = to_csv(pupil_rows(trial, per_school=6))
    api.ok(api.import_outcomes(body), 201)
    job, report = api.analyse()
    content = api.client.get(f"/snapshots/{job['snapshot_id']}/content", headers=api.evaluator())
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
