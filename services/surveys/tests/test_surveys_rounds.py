"""Rounds and codebooks: idempotent PUT, a frozen codebook's change is a new version, and
re-scoring is an explicit, audited request that re-reads the raw exports."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import select

from surveys.models import AuditEvent, SurveyResponse


def audit_count(sv: Any) -> int:
    return sv.count(AuditEvent)


def test_put_then_get_a_round(sv: Any) -> None:
    put = sv.put_round()
    assert put["changed"] is True and put["codebook_version"] == 1
    assert put["codebook"]["scales"]["attitudes"]["reverse"] == ["A2", "A4"]
    got = sv.client.get("/rounds/pre", headers=sv.tm()).json()
    assert got["survey_id"] == "SV_pre" and got["opens_on"] == "2021-10-01"
    assert got["codebook_fingerprint"] == put["codebook_fingerprint"]
    assert got["codebook_frozen"] is False
    listed = sv.client.get("/rounds", headers=sv.as_("auditor")).json()
    assert [r["round"] for r in listed["data"]] == ["pre"]


def test_the_same_round_and_codebook_again_change_nothing(sv: Any) -> None:
    sv.put_round()
    events = audit_count(sv)
    same = copy.deepcopy(sv.fx.CODEBOOK)
    same["scales"]["attitudes"]["reverse"] = ["A4", "A2"]  # the same meaning, another order
    same["scales"] = dict(reversed(list(same["scales"].items())))
    again = sv.put_round(codebook=same)
    assert again["changed"] is False and again["codebook_version"] == 1
    assert audit_count(sv) == events


def test_a_change_before_any_export_corrects_the_codebook_in_place(sv: Any) -> None:
    first = sv.put_round()
    changed = sv.put_round(codebook=sv.fx.CODEBOOK | {"min_answered": 0.6})
    assert changed["changed"] is True and changed["codebook_version"] == 1
    assert changed["codebook_fingerprint"] != first["codebook_fingerprint"]
    assert sv.count(AuditEvent, AuditEvent.action == "codebook.changed") == 1


def attitudes(sv: Any) -> dict[str, float]:
    with sv.client.app.state.engine.connect() as conn:
        return {
            r.response_id: r.attitudes
            for r in conn.execute(select(SurveyResponse.response_id, SurveyResponse.attitudes))
        }


def test_a_frozen_codebooks_change_is_a_new_version_and_rescoring_is_explicit(sv: Any) -> None:
    sv.put_round()
    rows = sv.rows([sv.world["brookside"].email] * 10, seed=8)
    export = sv.ingest(sv.fx.csv_export(rows, qualtrics=False))
    assert sv.client.get("/rounds/pre", headers=sv.tm()).json()["codebook_frozen"] is True
    before = attitudes(sv)

    # The evaluator finds A4 is not reverse-worded after all.
    fixed = copy.deepcopy(sv.fx.CODEBOOK)
    fixed["scales"]["attitudes"]["reverse"] = ["A2"]
    put = sv.put_round(codebook=fixed)
    assert put["changed"] is True and put["codebook_version"] == 2
    assert [v["version"] for v in put["codebook_versions"]] == [1, 2]
    assert put["codebook_versions"][0]["frozen_at"] is not None
    assert attitudes(sv) == before  # nothing is re-scored behind anyone's back
    scales = sv.client.get("/rounds/pre/scales", headers=sv.tm()).json()
    assert scales["codebook_version"] == 2 and scales["responses_on_other_codebooks"] == 10
    assert all(row["n"] == 0 for row in scales["data"])

    resp = sv.client.post(
        "/rounds/pre/rescore", json={"reason": "A4 is not reverse-worded"}, headers=sv.evaluator()
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"round": "pre", "codebook_version": 2, "exports": [export["id"]]}
    again = sv.wait(export["id"])
    assert again["codebook_version"] == 2 and again["rows"] == 10
    after = attitudes(sv)
    for row in rows:
        answers = [row[f"A{i}"] for i in range(1, 6)]
        answers[1] = 6 - answers[1]  # only A2 reversed now
        assert after[row["ResponseId"]] == pytest.approx(sum(answers) / 5)
    assert after != before
    scales = sv.client.get("/rounds/pre/scales", headers=sv.tm()).json()
    assert scales["responses_on_other_codebooks"] == 0 and scales["data"][0]["n"] == 10
    events = sv.client.get(
        "/audit-events", params={"action": "round.rescore_requested"}, headers=sv.tm()
    ).json()["data"]
    assert events[0]["reason"] == "A4 is not reverse-worded"
    assert events[0]["new"] == {"codebook_version": 2, "exports": [export["id"]]}
    assert sv.count(SurveyResponse) == 10  # upserted, not added again


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.update(closes_on="2021-09-01"), "closes_on"),
        (lambda b: b.update(opens_on="yesterday"), "opens_on"),
        (lambda b: b.update(arm="intervention"), "arm"),
        (lambda b: b["codebook"]["scales"]["use"].update(reverse=["K1"]), "codebook.scales.use"),
        (
            lambda b: b["codebook"]["scales"].update(
                wellbeing={"items": ["W1"], "min": 1, "max": 5}
            ),
            "codebook.scales",
        ),
        (lambda b: b["codebook"].update(min_answered=0), "codebook.min_answered"),
        (lambda b: b.update(survey_id=""), "survey_id"),
    ],
)
def test_an_invalid_round_is_a_422_naming_the_field(sv: Any, change, field: str) -> None:
    body = {
        "survey_id": "SV_pre",
        "opens_on": "2021-10-01",
        "closes_on": "2021-10-31",
        "codebook": copy.deepcopy(sv.fx.CODEBOOK),
    }
    change(body)
    resp = sv.client.put("/rounds/pre", json=body, headers=sv.evaluator())
    assert resp.status_code == 422, resp.text
    assert any(e["field"].startswith(field) for e in resp.json()["errors"]), resp.json()
    assert sv.client.get("/rounds/pre", headers=sv.tm()).status_code == 404


def test_rounds_are_pre_and_post_only(sv: Any) -> None:
    resp = sv.client.get("/rounds/mid", headers=sv.tm())
    assert resp.status_code == 422
    missing = sv.client.get("/rounds/post", headers=sv.tm())
    assert missing.status_code == 404 and "PUT /rounds/post" in missing.json()["detail"]
