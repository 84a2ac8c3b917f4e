"""The unmatched queue and its resolution: audited, re-linking every response with the same
school email, now and in later exports; the URN checked with the recruitment service."""

from __future__ import annotations

from typing import Any

from surveys.models import AuditEvent, SurveyResponse

UNKNOWN = "office@st-unknown.sch.uk"


def rates(sv: Any, by: str = "school") -> dict[Any, dict[str, Any]]:
    resp = sv.client.get("/rounds/pre/response-rates", params={"by": by}, headers=sv.evaluator())
    assert resp.status_code == 200, resp.text
    key = {"school": "urn", "la": "la_code", "arm": "arm"}[by]
    return {row[key]: row for row in resp.json()["data"]}


def scales(sv: Any) -> dict[str, dict[str, Any]]:
    resp = sv.client.get("/rounds/pre/scales", headers=sv.evaluator())
    assert resp.status_code == 200, resp.text
    return {row["scale"]: row for row in resp.json()["data"]}


def test_resolving_links_every_response_with_that_email_and_is_audited(sv: Any) -> None:
    sv.put_round()
    brookside = sv.world["brookside"]
    first = sv.ingest(
        sv.fx.csv_export(sv.rows([UNKNOWN] * 3 + [brookside.email] * 2, seed=1), qualtrics=False)
    )
    second = sv.ingest(sv.fx.csv_export(sv.rows([UNKNOWN] * 2, seed=2), qualtrics=False))
    assert (first["unmatched"], second["unmatched"]) == (3, 2)
    items = sv.unmatched()
    assert len(items) == 5 and {i["export_id"] for i in items} == {first["id"], second["id"]}
    before_rates, before_scales = rates(sv)[brookside.urn], scales(sv)

    resp = sv.client.post(
        f"/unmatched/{items[0]['id']}/resolve",
        json={"urn": brookside.urn, "reason": "the school's old office address (phoned)"},
        headers=sv.evaluator(),
    )
    assert resp.status_code == 200, resp.text
    resolved = resp.json()
    assert resolved["status"] == "resolved" and resolved["resolved_urn"] == brookside.urn
    assert resolved["resolved_by"] == "evaluator-eve"
    assert resolved["responses_linked"] == 5
    assert sorted(resolved["also_resolved"]) == sorted(i["id"] for i in items[1:])
    assert sv.unmatched() == []
    assert len(sv.unmatched(status="resolved")) == 5

    # Re-linked: counted in the school's responses and in the scales.
    after = rates(sv)[brookside.urn]
    assert after["responses"] == before_rates["responses"] + 5
    assert scales(sv)["knowledge"]["n"] == before_scales["knowledge"]["n"] + 5
    assert sv.count(SurveyResponse, SurveyResponse.link_kind == "manual") == 5
    # The exports' counts follow.
    assert sv.export(first["id"])["links"]["manual"] == 3
    assert sv.export(first["id"])["unmatched"] == 0
    assert sv.export(second["id"])["linked"] == 2
    # Audited with who, why, old and new.
    events = sv.client.get(
        "/audit-events", params={"action": "unmatched.resolved"}, headers=sv.tm()
    ).json()["data"]
    assert len(events) == 1
    event = events[0]
    assert event["actor"] == "evaluator-eve" and event["reason"].startswith("the school's old")
    assert event["old"] == {"status": "open", "resolved_urn": None}
    assert event["new"]["resolved_urn"] == brookside.urn and event["new"]["responses_linked"] == 5
    assert "@" not in str(event)

    # A later export with the same address is linked the same way, without the queue.
    third = sv.ingest(sv.fx.csv_export(sv.rows([UNKNOWN] * 4, seed=3), qualtrics=False))
    assert third["links"]["manual"] == 4 and third["unmatched"] == 0
    assert sv.unmatched() == []


def test_a_decision_can_be_corrected_with_a_new_reason(sv: Any) -> None:
    sv.put_round()
    sv.ingest(sv.fx.csv_export(sv.rows([UNKNOWN] * 2, seed=4), qualtrics=False))
    item = sv.unmatched()[0]
    for school in ("brookside", "valley"):
        resp = sv.client.post(
            f"/unmatched/{item['id']}/resolve",
            json={"urn": sv.world[school].urn, "reason": f"it is {school}"},
            headers=sv.evaluator(),
        )
        assert resp.status_code == 200, resp.text
    valley = sv.world["valley"]
    assert sv.count(SurveyResponse, SurveyResponse.urn == valley.urn) == 2
    assert sv.count(SurveyResponse, SurveyResponse.la_code == valley.la_code) == 2
    assert sv.count(AuditEvent, AuditEvent.action == "manual_link.set") == 2


def test_a_response_without_any_email_is_resolved_alone(sv: Any) -> None:
    sv.put_round()
    export = sv.ingest(sv.fx.csv_export(sv.rows(["", ""], seed=5), qualtrics=False))
    items = sv.unmatched()
    assert {i["reason"] for i in items} == {"no-email"} and len(items) == 2
    resp = sv.client.post(
        f"/unmatched/{items[0]['id']}/resolve",
        json={"urn": sv.world["ridge"].urn, "reason": "the school told us"},
        headers=sv.evaluator(),
    )
    assert resp.status_code == 200 and resp.json()["responses_linked"] == 1
    assert resp.json()["also_resolved"] == []
    assert [i["id"] for i in sv.unmatched()] == [items[1]["id"]]
    # Parsed again (a re-score), the decision still holds for that response.
    assert (
        sv.client.post(
            "/rounds/pre/rescore", json={"reason": "check"}, headers=sv.evaluator()
        ).status_code
        == 200
    )
    again = sv.wait(export["id"])
    assert again["links"]["manual"] == 1 and again["unmatched"] == 1


def test_the_urn_must_be_a_trial_school(sv: Any) -> None:
    sv.put_round()
    sv.ingest(sv.fx.csv_export(sv.rows([UNKNOWN], seed=6), qualtrics=False))
    item = sv.unmatched()[0]
    for urn, says in (
        (sv.world["outsider"].urn, "is not in the trial"),
        (999_998, "has no school with URN 999998"),
    ):
        resp = sv.client.post(
            f"/unmatched/{item['id']}/resolve",
            json={"urn": urn, "reason": "guess"},
            headers=sv.evaluator(),
        )
        assert resp.status_code == 422 and says in resp.json()["detail"], resp.text
    resp = sv.client.post(
        "/unmatched/99999/resolve", json={"urn": 710001, "reason": "x"}, headers=sv.evaluator()
    )
    assert resp.status_code == 404
    assert resp.json()["type"].endswith("/unmatched-response-not-found")
    assert sv.unmatched()[0]["status"] == "open"


def test_resolving_while_recruitment_is_down_is_a_503_and_changes_nothing(sv: Any, app_for) -> None:
    sv.put_round()
    sv.ingest(sv.fx.csv_export(sv.rows([UNKNOWN], seed=7), qualtrics=False))
    item = sv.unmatched()[0]
    down = app_for(recruitment_url="http://127.0.0.1:9", worker_enabled=False)
    resp = down.post(
        f"/unmatched/{item['id']}/resolve",
        json={"urn": sv.world["brookside"].urn, "reason": "x"},
        headers=sv.evaluator(),
    )
    assert resp.status_code == 503, resp.text
    assert "recruitment service" in resp.json()["detail"]
    assert sv.unmatched()[0]["status"] == "open"
