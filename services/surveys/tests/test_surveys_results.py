"""Results: scale scores and Cronbach's alpha against an independent computation, response
rates per school, LA and arm (arms from the live randomisation service, scoped per caller),
non-responding schools, the pseudonymised CSV, and 503s when a service cannot answer."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from surveys.models import SurveyResponse

SCALES = {
    "knowledge": ([f"K{i}" for i in range(1, 6)], []),
    "attitudes": ([f"A{i}" for i in range(1, 6)], ["A2", "A4"]),
    "use": ([f"U{i}" for i in range(1, 5)], []),
}


def expected_summary(rows: list[dict[str, Any]], scale: str) -> dict[str, Any]:
    """The textbook computation, written out with pandas: scale score = mean of the answered
    (reverse-coded) items when at least ceil(0.8 k) are answered; alpha = k/(k-1) (1 - sum of
    item variances / variance of the total) on complete cases."""
    items, reverse = SCALES[scale]
    frame = pd.DataFrame([{i: r[i] for i in items} for r in rows], dtype=float)
    for item in reverse:
        frame[item] = 6 - frame[item]
    k = len(items)
    needed = math.ceil(0.8 * k)
    scores = frame.mean(axis=1, skipna=True)[frame.notna().sum(axis=1) >= needed]
    complete = frame.dropna()
    alpha = k / (k - 1) * (1 - complete.var(ddof=1).sum() / complete.sum(axis=1).var(ddof=1))
    return {
        "n": len(scores),
        "mean": scores.mean(),
        "sd": scores.std(ddof=1),
        "alpha": alpha,
        "scores": scores,
    }


def test_scale_scores_and_alpha_match_an_independent_computation(sv: Any) -> None:
    sv.put_round()
    w = sv.world
    schools = [w["hillside"].email, w["brookside"].email, w["valley"].email]
    rows = sv.fx.responses(240, seed=11, missing=0.06)
    for i, row in enumerate(rows):
        row["RecipientEmail"] = schools[i % 3]
    unlinked = sv.rows(["nobody@unknown-school.sch.uk"] * 20, seed=12)
    export = sv.ingest(sv.fx.csv_export(rows + unlinked))
    assert export["linked"] == 240 and export["unmatched"] == 20
    got = {
        r["scale"]: r
        for r in sv.client.get("/rounds/pre/scales", headers=sv.evaluator()).json()["data"]
    }
    assert list(got) == ["knowledge", "attitudes", "use"]
    with sv.client.app.state.engine.connect() as conn:
        stored = pd.DataFrame(
            conn.execute(
                select(
                    SurveyResponse.response_id,
                    SurveyResponse.knowledge,
                    SurveyResponse.attitudes,
                    SurveyResponse.use,
                ).where(SurveyResponse.urn.is_not(None))  # type: ignore[union-attr]
            ).all()
        ).set_index("response_id")
    ids = [r["ResponseId"] for r in rows]
    for scale in SCALES:
        want = expected_summary(rows, scale)
        row = got[scale]
        assert row["n"] == want["n"]
        assert row["mean"] == pytest.approx(want["mean"], rel=1e-9)
        assert row["sd"] == pytest.approx(want["sd"], rel=1e-9)
        assert row["alpha"] == pytest.approx(want["alpha"], rel=1e-9)
        assert 0.5 < row["alpha"] < 1  # the fixture's items share a tendency
        # Each response's score, too (NaN where too few items were answered).
        scores = want["scores"].reindex(range(len(rows)))
        for position, rid in enumerate(ids):
            value = stored.loc[rid, scale]
            expected = scores.iloc[position]
            if np.isnan(expected):
                assert value is None or np.isnan(value), rid
            else:
                assert value == pytest.approx(expected), rid


def responding_world(sv: Any) -> None:
    w = sv.world
    sent = (
        [w["hillside"].email] * 3
        + [w["brookside"].email] * 2
        + ["someone@valleyprimary.co.uk"]
        + [w["late"].email] * 2  # in the trial, not randomised: not in any rate
        + [w["outsider"].email]  # not in the trial
        + ["nobody@unknown-school.sch.uk"]
    )
    sv.put_round()
    export = sv.ingest(sv.fx.csv_export(sv.rows(sent, seed=30), qualtrics=False))
    assert export["linked"] == 9 and export["unmatched"] == 1


def rates(client: Any, headers: dict[str, str], **params: Any) -> Any:
    return client.get("/rounds/pre/response-rates", params=params, headers=headers)


def test_response_rates_per_school_la_and_arm(sv: Any) -> None:
    responding_world(sv)
    w = sv.world
    counts = {w["hillside"].urn: 3, w["brookside"].urn: 2, w["valley"].urn: 1}
    by_school = rates(sv.client, sv.evaluator(), by="school").json()
    assert by_school["by"] == "school"
    assert [r["urn"] for r in by_school["data"]] == sorted(s.urn for s in w.randomised())
    for row in by_school["data"]:
        n = counts.get(row["urn"], 0)
        school = next(s for s in w.randomised() if s.urn == row["urn"])
        assert row == {
            "urn": school.urn,
            "la_code": school.la_code,
            "arm": school.arm,
            "schools": 1,
            "responding_schools": int(n > 0),
            "responses": n,
            "rate": float(n > 0),
        }
    by_la = rates(sv.client, sv.evaluator(), by="la").json()["data"]
    assert by_la == [
        {"la_code": "202", "schools": 5, "responding_schools": 2, "responses": 5, "rate": 0.4},
        {"la_code": "370", "schools": 3, "responding_schools": 1, "responses": 1, "rate": 1 / 3},
    ]
    by_arm = {r["arm"]: r for r in rates(sv.client, sv.tm(), by="arm").json()["data"]}
    for arm in ("intervention", "control"):
        members = [s for s in w.randomised() if s.arm == arm]
        assert by_arm[arm]["schools"] == len(members)
        assert by_arm[arm]["responses"] == sum(counts.get(s.urn, 0) for s in members)
        assert by_arm[arm]["responding_schools"] == sum(s.urn in counts for s in members)
        assert by_arm[arm]["rate"] == pytest.approx(
            by_arm[arm]["responding_schools"] / len(members)
        )
        assert set(by_arm[arm]) == {"arm", "schools", "responding_schools", "responses", "rate"}


def test_a_virtual_school_sees_its_la_and_a_school_its_own_count(sv: Any) -> None:
    responding_world(sv)
    w = sv.world
    vs = sv.as_("virtual_school", la_code="202", sub="vs-202")
    rows = rates(sv.client, vs, by="school").json()["data"]
    assert {r["urn"] for r in rows} == {s.urn for s in w.randomised() if s.la_code == "202"}
    assert [r["la_code"] for r in rates(sv.client, vs, by="la").json()["data"]] == ["202"]
    assert sum(r["schools"] for r in rates(sv.client, vs, by="arm").json()["data"]) == 5
    # Another LA's figures are answered exactly as an LA not in the trial.
    other, absent = (
        rates(sv.client, vs, by="la", la_code="370"),
        rates(sv.client, vs, by="la", la_code="999"),
    )
    assert other.status_code == absent.status_code == 404
    assert other.json()["type"].endswith("/local-authority-not-in-trial")
    assert other.json()["detail"].replace("370", "X") == absent.json()["detail"].replace("999", "X")
    hillside = w["hillside"]
    school = sv.as_("school", urn=hillside.urn, sub=f"school-{hillside.urn}")
    own = rates(sv.client, school, by="school").json()["data"]
    assert [(r["urn"], r["responses"]) for r in own] == [(hillside.urn, 3)]
    assert rates(sv.client, school, by="school", urn=hillside.urn).status_code == 200
    assert rates(sv.client, school, by="school", urn=w["valley"].urn).status_code == 404
    # One role covers what the other does not: a Virtual School of 370 that is also a school.
    both = sv.as_(["virtual_school", "school"], la_code="370", urn=hillside.urn, sub="both")
    urns = {r["urn"] for r in rates(sv.client, both, by="school").json()["data"]}
    assert urns == {s.urn for s in w.randomised() if s.la_code == "370"} | {hillside.urn}


def test_non_responding_schools_for_reminders(sv: Any) -> None:
    responding_world(sv)
    w = sv.world
    resp = sv.client.get("/rounds/pre/non-responding-schools", headers=sv.evaluator())
    assert resp.status_code == 200, resp.text
    silent = ["federation_a", "federation_b", "council", "gmail", "ridge"]
    assert resp.json()["data"] == [
        {"urn": w[n].urn, "la_code": w[n].la_code, "arm": w[n].arm, "name": f"School {w[n].urn}"}
        for n in sorted(silent, key=lambda n: w[n].urn)
    ]
    vs = sv.as_("virtual_school", la_code="370", sub="vs-370")
    listed = sv.client.get("/rounds/pre/non-responding-schools", headers=vs).json()
    assert [s["urn"] for s in listed["data"]] == [w["gmail"].urn, w["ridge"].urn]
    assert listed["count"] == 2


def test_the_download_is_linked_scored_and_pseudonymised(sv: Any) -> None:
    responding_world(sv)
    sv.ingest(
        sv.fx.csv_export(
            sv.rows([sv.world["ridge"].email], seed=31, Role='=HYPERLINK("http://x")'),
            qualtrics=False,
        )
    )
    resp = sv.client.get("/rounds/pre/responses.csv", headers=sv.as_("auditor"))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == 10  # linked only
    assert list(rows[0])[:11] == [
        "teacher_key",
        "round",
        "urn",
        "la_code",
        "link_kind",
        "role",
        "knowledge",
        "attitudes",
        "use",
        "codebook_version",
        "export_id",
    ]
    assert "K1" in rows[0] and "A5" in rows[0]
    assert "@" not in resp.text and "R_30_" not in resp.text
    assert all(len(r["teacher_key"]) == 64 for r in rows)
    assert any(r["role"] == '\'=HYPERLINK("http://x")' for r in rows)  # never a formula


def test_when_a_service_cannot_answer_the_answer_is_a_503(sv: Any, app_for) -> None:
    responding_world(sv)
    dead = "http://127.0.0.1:9"
    no_rand = app_for(randomisation_url=dead, worker_enabled=False)
    resp = rates(no_rand, sv.evaluator(), by="arm")
    assert resp.status_code == 503, resp.text
    assert "randomisation service" in resp.json()["detail"]
    assert no_rand.get("/rounds/pre/non-responding-schools", headers=sv.tm()).status_code == 503
    assert rates(no_rand, sv.evaluator(), by="arm").status_code == 503
    no_rec = app_for(recruitment_url=dead, worker_enabled=False)
    resp = no_rec.get("/rounds/pre/non-responding-schools", headers=sv.tm())
    assert resp.status_code == 503 and "recruitment service" in resp.json()["detail"]
    # An unknown round is still a 404 first.
    assert no_rand.get("/rounds/post/response-rates", headers=sv.tm()).status_code == 404
