"""The implementation and process evaluation through the API: session observations against the
fidelity checklist, case-study schools of both arms (asked of the real randomisation service),
their interviews (45-60 minutes; a teacher withdrawn from interviews is not interviewed), the
incentive owed to control-group case-study schools and its payment; and costs with the schools'
pupils, as analytics reads them."""

from __future__ import annotations

import sys
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from workshops.deps import today
from workshops.main import create_app

h = sys.modules["workshops_tests_helpers"]


def test_observations_rate_the_fidelity_checklist(api: Any) -> None:
    cohort = api.cohort("202")
    session = api.sessions(cohort["id"])["workshop_2"]
    checklist = api.ok(api.client.get("/fidelity-checklist", headers=api.evaluator()))
    keys = [item["key"] for item in checklist["items"]]
    assert "fully" in checklist["ratings"] and len(keys) >= 5
    body = {
        "observer": "Ipsos observer 1",
        "ratings": {
            keys[0]: "fully",
            keys[1]: "partially",
            keys[2]: "not_delivered",
            keys[3]: "not_applicable",
        },
        "notes": "Group work ran long; the research summary was skipped for time.",
    }
    made = api.client.post(
        f"/sessions/{session['id']}/observations", headers=api.evaluator(), json=body
    )
    assert made.status_code == 201, made.text
    observation = made.json()
    assert observation["fidelity_score"] == 0.5  # (1 + 0.5 + 0) / 3, not applicable left out
    assert (
        observation["observed_on"] == session["planned_on"]
        and observation["recorded_by"] == "evaluator-eve"
    )
    listed = api.ok(
        api.client.get("/observations", headers=api.tm(), params={"session_id": session["id"]})
    )
    assert [o["id"] for o in listed["data"]] == [observation["id"]]
    assert (
        api.ok(api.client.get(f"/observations/{observation['id']}", headers=api.role("auditor")))[
            "notes"
        ]
        == body["notes"]
    )
    unknown = api.client.post(
        f"/sessions/{session['id']}/observations", headers=api.evaluator(),
        json={"observer": "x", "ratings": {"made_up_item": "fully"}},
    )  # fmt: skip
    assert unknown.status_code == 422 and "made_up_item" in unknown.json()["detail"]
    assert (
        api.client.post(
            f"/sessions/{session['id']}/observations", headers=api.delivery(), json=body
        ).status_code
        == 403
    )
    (event,) = api.audit(action="observation.recorded")
    assert event["new"]["fidelity_score"] == 0.5


def test_case_studies_of_both_arms_and_the_control_incentive(api: Any) -> None:
    world = api.world
    intervention, control = world.intervention("202")[0], world.control("370")[0]
    made = api.client.post(
        "/case-studies",
        headers=api.evaluator(),
        json={"urn": intervention, "reason": "high attender"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["arm"] == "intervention" and made.json()["incentive"] is None
    ctrl = api.client.post("/case-studies", headers=api.evaluator(), json={"urn": control})
    assert ctrl.status_code == 201, ctrl.text
    incentive = ctrl.json()["incentive"]
    assert ctrl.json()["arm"] == "control" and ctrl.json()["la_code"] == "370"
    assert (incentive["amount"], incentive["status"], incentive["paid_on"]) == (
        "1500.00",
        "owed",
        None,
    )
    again = api.client.post("/case-studies", headers=api.evaluator(), json={"urn": control})
    assert again.status_code == 409 and "already case study" in again.json()["detail"]
    for urn, needle in (
        (world.unallocated, "no live allocation"),
        (world.in_error, "made in error"),
        (world.withdrawn, "withdrawn"),
    ):
        refused = api.client.post("/case-studies", headers=api.evaluator(), json={"urn": urn})
        assert refused.status_code == 409 and needle in refused.json()["detail"], refused.text
    listed = api.ok(api.client.get("/case-studies", headers=api.tm(), params={"arm": "control"}))
    assert [c["urn"] for c in listed["data"]] == [control]

    # Paying the incentive; a paid incentive stays paid.
    path = f"/incentives/{incentive['id']}"
    paid = api.client.patch(
        path,
        headers=api.evaluator(),
        json={"status": "paid", "payment_reference": "BACS-0042", "reason": "interviews done"},
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid" and paid.json()["paid_on"] == "2022-06-15"
    cancel = api.client.patch(
        path, headers=api.evaluator(), json={"status": "cancelled", "reason": "x"}
    )
    assert cancel.status_code == 409 and "stays paid" not in cancel.json()["detail"]
    assert "paid incentive is not cancelled" in cancel.json()["detail"]
    owed = api.ok(api.client.get("/incentives", headers=api.evaluator(), params={"status": "paid"}))
    assert [i["urn"] for i in owed["data"]] == [control]
    (event,) = api.audit(action="incentive.updated")
    assert event["old"]["status"] == "owed" and event["new"]["status"] == "paid"
    assert event["reason"] == "interviews done"


def test_case_studies_stop_at_the_protocols_target_of_14(api: Any) -> None:
    world = api.world

    def summary() -> dict[str, Any]:
        return api.ok(api.client.get("/case-studies/summary", headers=api.tm()))

    assert summary() == {
        "target": 14,
        "target_source": "programme documents (programme_2021_22.json)",
        "selected": 0,
        "remaining": 14,
        "withdrawn": 0,
        "by_arm": {"intervention": 0, "control": 0},
        "control_with_incentive": 2,
    }
    eligible = [u for la in ("202", "370") for u in world.intervention(la) + world.control(la)]
    assert len(eligible) == 16
    chosen, spare = eligible[:14], eligible[14:]
    ids = {}
    for urn in chosen:
        made = api.client.post("/case-studies", headers=api.evaluator(), json={"urn": urn})
        assert made.status_code == 201, made.text
        ids[urn] = made.json()["id"]
    arms = Counter(world.arms[u] for u in chosen)
    assert arms["intervention"] and arms["control"]  # typically both arms
    got = summary()
    assert (got["selected"], got["remaining"], got["withdrawn"]) == (14, 0, 0)
    assert got["by_arm"] == {"intervention": arms["intervention"], "control": arms["control"]}

    def state() -> Any:
        return (
            api.ok(api.client.get("/case-studies", headers=api.tm(), params={"limit": 100})),
            api.ok(api.client.get("/incentives", headers=api.tm(), params={"limit": 100})),
            len(api.audit()),
        )

    before = state()
    for urn in spare:  # a control school (owed an incentive) and an intervention one alike
        refused = api.client.post("/case-studies", headers=api.evaluator(), json={"urn": urn})
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["type"].endswith("/case-study-target-reached")
        assert (problem["target"], problem["selected"]) == (14, 14)
        assert "The protocol selects 14 case-study schools and 14 are selected" in problem["detail"]
        assert f"{arms['control']} control" in problem["detail"]
    assert state() == before

    # A withdrawn case study no longer counts: another school may take its place.
    out = api.client.post(
        f"/case-studies/{ids[chosen[0]]}/withdrawal",
        headers=api.evaluator(),
        json={"reason": "the school stopped replying"},
    )
    assert out.status_code == 200, out.text
    got = summary()
    assert (got["selected"], got["remaining"], got["withdrawn"]) == (13, 1, 1)
    assert (
        api.client.post(
            "/case-studies", headers=api.evaluator(), json={"urn": spare[0]}
        ).status_code
        == 201
    )
    assert summary()["selected"] == 14 and summary()["remaining"] == 0
    assert api.client.get("/case-studies/summary", headers=api.school(chosen[0])).status_code == 403


def test_the_case_study_target_can_be_set(api: Any, settings: Any) -> None:
    """WORKSHOPS_CASE_STUDY_TARGET replaces the programme's number (the evaluator's plan)."""
    app = create_app(settings.model_copy(update={"case_study_target": 1}))
    app.dependency_overrides[today] = lambda: h.TODAY
    with TestClient(app) as client:
        other = h.Api(client, api.keys, api.world)
        first, second = api.world.control("370")[:2]
        summary = other.ok(client.get("/case-studies/summary", headers=other.evaluator()))
        assert (summary["target"], summary["target_source"]) == (
            1,
            "setting WORKSHOPS_CASE_STUDY_TARGET",
        )
        ok = client.post("/case-studies", headers=other.evaluator(), json={"urn": first})
        assert ok.status_code == 201, ok.text
        refused = client.post("/case-studies", headers=other.evaluator(), json={"urn": second})
        assert refused.status_code == 409
        assert (
            "The protocol selects 1 case-study school and 1 is selected" in refused.json()["detail"]
        )


def test_interviews_45_to_60_minutes_and_withdrawn_teachers(
    api: Any, upstream: Any, keys: Any
) -> None:
    world = api.world
    urn = world.control("202")[1]
    study = api.ok(api.client.post("/case-studies", headers=api.evaluator(), json={"urn": urn}))
    path = f"/case-studies/{study['id']}/interviews"
    dt_member = world.member(urn, "designated_teacher")
    made = api.client.post(
        path,
        headers=api.evaluator(),
        json={"staff_id": dt_member.id, "scheduled_at": "2022-03-15T10:00:00Z"},
    )
    assert made.status_code == 201, made.text
    assert (made.json()["role"], made.json()["duration_minutes"], made.json()["status"]) == (
        "designated_teacher",
        60,
        "scheduled",
    )
    teacher = api.client.post(
        path,
        headers=api.evaluator(),
        json={
            "role": "year6_teacher",
            "scheduled_at": "2022-03-15T11:00:00Z",
            "duration_minutes": 45,
        },
    )
    assert teacher.status_code == 201
    for minutes in (30, 61):
        short = api.client.post(
            path,
            headers=api.evaluator(),
            json={
                "role": "head_teacher",
                "scheduled_at": "2022-03-16T10:00:00Z",
                "duration_minutes": minutes,
            },
        )
        assert short.status_code == 422
    wrong_role = api.client.post(
        path,
        headers=api.evaluator(),
        json={
            "staff_id": dt_member.id,
            "role": "head_teacher",
            "scheduled_at": "2022-03-16T10:00:00Z",
        },
    )
    assert wrong_role.status_code == 422
    # A teacher who withdrew from case-study interviews (in recruitment) is not interviewed.
    esl = world.member(urn, "english_subject_lead")
    with httpx.Client(base_url=upstream.recruitment_url) as rec:
        out = rec.post(
            f"/schools/{urn}/staff/{esl.id}/withdrawal",
            headers=keys.headers("trial_manager"),
            json={"covers": ["case_study_interviews"], "reason": "asked not to be interviewed"},
        )
        assert out.status_code == 200, out.text
    refused = api.client.post(
        path,
        headers=api.evaluator(),
        json={"staff_id": esl.id, "scheduled_at": "2022-03-17T10:00:00Z"},
    )
    assert (
        refused.status_code == 409
        and "withdrawn from case-study interviews" in refused.json()["detail"]
    )
    done = api.client.patch(
        f"/interviews/{made.json()['id']}", headers=api.evaluator(), json={"status": "completed"}
    )
    assert done.status_code == 200 and done.json()["status"] == "completed"
    listed = api.ok(api.client.get(path, headers=api.tm()))
    assert [i["role"] for i in listed] == ["designated_teacher", "year6_teacher"]
    # Withdrawing the case study cancels what is still scheduled and the unpaid incentive.
    out = api.client.post(
        f"/case-studies/{study['id']}/withdrawal",
        headers=api.evaluator(),
        json={"reason": "school too busy"},
    )
    assert out.status_code == 200, out.text
    assert out.json()["status"] == "withdrawn" and out.json()["incentive"]["status"] == "cancelled"
    statuses = [i["status"] for i in api.ok(api.client.get(path, headers=api.tm()))]
    assert statuses == ["completed", "cancelled"]
    closed = api.client.post(
        path,
        headers=api.evaluator(),
        json={"role": "head_teacher", "scheduled_at": "2022-03-18T10:00:00Z"},
    )
    assert closed.status_code == 409


def test_costs_for_analytics(api: Any) -> None:
    world = api.world
    cohort, _, urns = api.enrolled("202", count=2)
    fees = api.client.post(
        "/costs", headers=api.evaluator(),
        json={"category": "programme_fees", "recurrence": "one_off", "amount": "12000.00", "description": "university delivery"},
    )  # fmt: skip
    assert fees.status_code == 201, fees.text
    assert (fees.json()["urn"], fees.json()["cost"], fees.json()["pupils"]) == (
        None,
        "12000.00",
        None,
    )
    cover = api.client.post(
        "/costs", headers=api.evaluator(),
        json={"category": "supply_cover", "recurrence": "recurring", "hours": "7.5", "rate": "33.33", "urn": urns[0]},
    )  # fmt: skip
    assert cover.status_code == 201, cover.text
    item = cover.json()
    # 7.5 h × £33.33 = £249.975, rounded half up to the penny.
    assert (item["hours"], item["rate"], item["amount"], item["cost"]) == (
        "7.50",
        "33.33",
        None,
        "249.98",
    )
    assert (item["urn"], item["pupils"], item["la_code"]) == (urns[0], world.pupils[urns[0]], "202")
    both = api.client.post(
        "/costs", headers=api.evaluator(),
        json={"category": "travel", "recurrence": "one_off", "amount": "10", "hours": "1", "rate": "2"},
    )  # fmt: skip
    assert both.status_code == 422
    outside = api.client.post(
        "/costs", headers=api.evaluator(),
        json={"category": "travel", "recurrence": "one_off", "amount": "10", "urn": world.control("202")[0]},
    )  # fmt: skip
    assert outside.status_code == 409 and "not enrolled" in outside.json()["detail"]
    assert (
        api.client.post(
            "/costs",
            headers=api.delivery(),
            json={"category": "venue", "recurrence": "one_off", "amount": "1"},
        ).status_code
        == 403
    )
    fixed = api.client.patch(
        f"/costs/{item['id']}",
        headers=api.evaluator(),
        json={"amount": "250", "reason": "invoice received"},
    )
    assert (
        fixed.status_code == 200
        and fixed.json()["cost"] == "250.00"
        and fixed.json()["hours"] is None
    )
    (event,) = api.audit(action="cost_item.updated")
    assert event["old"]["amount_pence"] is None and event["new"]["amount_pence"] == 25000

    # Analytics reads the costs with its service token, page by page.
    service = api.role("service", sub="service:analytics")
    page = api.ok(api.client.get("/costs", headers=service, params={"limit": 1}))
    assert page["count"] == 2 and len(page["data"]) == 1 and page["next_cursor"]
    rest = api.ok(
        api.client.get(
            "/costs", headers=service, params={"limit": 1, "cursor": page["next_cursor"]}
        )
    )
    items = page["data"] + rest["data"]
    assert [i["category"] for i in items] == ["programme_fees", "supply_cover"]
    assert all(
        set(i) >= {"category", "recurrence", "amount", "hours", "rate", "urn", "pupils"}
        for i in items
    )
    assert sum(Decimal(i["cost"]) for i in items) == Decimal("12250.00")
    wide = api.ok(api.client.get("/costs", headers=service, params={"programme_wide": True}))
    assert [i["category"] for i in wide["data"]] == ["programme_fees"]
    assert api.client.get("/costs", headers=api.school(urns[0])).status_code == 403


@pytest.mark.parametrize("amount", ["-1", "0.001", "1e99", "NaN"])
def test_money_is_checked(api: Any, amount: str) -> None:
    resp = api.client.post(
        "/costs",
        headers=api.evaluator(),
        json={"category": "venue", "recurrence": "one_off", "amount": amount},
    )
    assert resp.status_code == 422, resp.text
