"""The trial lifecycle: every transition, allowed and refused, and the randomisation contract."""

from __future__ import annotations

from typing import Any

import pytest

from rlc_testkit.recruitment import LA, Api, assert_problem

URN = 100001
STATUSES = [None, "nominated", "eligible", "ineligible", "consented", "randomised", "withdrawn"]
ACTIONS = ["nominated", "eligible", "ineligible", "consented", "randomised", "withdrawn"]

#: Written out here, independently of the service's table, as the issue states the rules.
ALLOWED: dict[str | None, set[str]] = {
    None: {"nominated"},
    "nominated": {"eligible", "ineligible", "withdrawn"},
    "eligible": {"eligible", "ineligible", "consented", "withdrawn"},  # re-assessment allowed
    "ineligible": {"eligible", "ineligible", "withdrawn"},
    "consented": {"randomised", "withdrawn"},
    "randomised": {"withdrawn"},
    "withdrawn": set(),
}


def act(api: Api, action: str, urn: int = URN) -> Any:
    path = f"/schools/{urn}"
    if action == "nominated":
        return api.client.post(f"{path}/nomination", headers=api.tm())
    if action in ("eligible", "ineligible"):
        counts = {"year56_social_worker_pupils": 2 if action == "eligible" else 0}
        return api.client.post(f"{path}/eligibility", headers=api.tm(), json=counts)
    if action == "consented":
        return api.consent(urn, headers=api.tm())
    if action == "randomised":
        return api.randomised(urn, run_id="run-other", arm="control")
    return api.client.post(
        f"{path}/withdrawal", headers=api.tm(), json={"reason": "Head teacher left"}
    )


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", STATUSES, ids=lambda s: s or "not_nominated")
def test_transition(api: Api, status: str | None, action: str) -> None:
    api.school_at(status, URN)
    events_before = len(api.history(URN))
    resp = act(api, action)
    if action in ALLOWED[status]:
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == action
        assert api.get_school(URN)["status"] == action
        assert len(api.history(URN)) == events_before + 1
        return
    if status == "randomised" and action == "randomised":
        # Another run for an already randomised school: the contract's own 409.
        assert_problem(resp, 409, "already randomised by run run-1")
    else:
        problem = assert_problem(resp, 409, f"cannot become '{action}'")
        assert problem["current_status"] == (status or "not_nominated")
        assert problem["requested_status"] == action
        assert set(problem["allowed"]) == ALLOWED[status]
    assert api.get_school(URN)["status"] == status
    assert len(api.history(URN)) == events_before


class TestEligibility:
    def test_decision_and_reasons_are_recorded(self, api: Api) -> None:
        api.school_at("nominated", URN)
        body = {"year56_social_worker_pupils": 4, "year56_looked_after_pupils": 2}
        school = api.ok(api.client.post(f"/schools/{URN}/eligibility", headers=api.vs(), json=body))
        assert school["status"] == "eligible"
        assert school["eligible"] is True
        assert school["looked_after_flag"] is True
        assert (school["year56_social_worker_pupils"], school["year56_looked_after_pupils"]) == (
            4,
            2,
        )
        assert any(
            "4 Year 5/6 pupils with a social worker" in r for r in school["eligibility_reasons"]
        )
        [event] = [e for e in api.history(URN) if e["action"] == "school.eligibility_assessed"]
        assert event["actor"] == f"vs-{LA}"
        assert event["old"]["status"] == "nominated"
        assert event["new"]["status"] == "eligible"

    def test_secondary_school_is_ineligible_with_reason(self, api: Api) -> None:
        api.school_at("nominated", URN, phase="Secondary", low="11", high="16")
        body = {"year56_social_worker_pupils": 4}
        school = api.ok(api.client.post(f"/schools/{URN}/eligibility", headers=api.vs(), json=body))
        assert school["status"] == "ineligible"
        assert any("'Secondary', is not in scope" in r for r in school["eligibility_reasons"])

    def test_closed_school_is_ineligible_with_reason(self, api: Api) -> None:
        api.school_at("nominated", URN, gias_status="Closed", close_date="31-08-2020")
        body = {"year56_social_worker_pupils": 4}
        school = api.ok(api.client.post(f"/schools/{URN}/eligibility", headers=api.vs(), json=body))
        assert school["status"] == "ineligible"
        assert any("not open" in r for r in school["eligibility_reasons"])

    def test_reassessment_after_corrected_counts(self, api: Api) -> None:
        api.school_at("ineligible", URN)
        body = {"year56_social_worker_pupils": 1, "year56_looked_after_pupils": 0}
        school = api.ok(api.client.post(f"/schools/{URN}/eligibility", headers=api.vs(), json=body))
        assert (school["status"], school["eligible"], school["looked_after_flag"]) == (
            "eligible",
            True,
            False,
        )

    def test_negative_counts_are_refused(self, api: Api) -> None:
        api.school_at("nominated", URN)
        body = {"year56_social_worker_pupils": -1}
        resp = api.client.post(f"/schools/{URN}/eligibility", headers=api.vs(), json=body)
        assert_problem(resp, 422, "year56_social_worker_pupils")

    def test_unknown_fields_are_refused(self, api: Api) -> None:
        api.school_at("nominated", URN)
        body = {"year56_social_worker_pupils": 1, "status": "randomised"}
        resp = api.client.post(f"/schools/{URN}/eligibility", headers=api.vs(), json=body)
        assert_problem(resp, 422, "status")


class TestNomination:
    def test_needs_a_registered_local_authority(self, api: Api) -> None:
        api.school_at(None, URN, register=False)
        resp = api.client.post(f"/schools/{URN}/nomination", headers=api.tm())
        assert_problem(resp, 409, "has not registered")

    def test_virtual_school_nominates_only_its_own_las_schools(self, api: Api) -> None:
        api.school_at(None, URN, la_code="370")
        api.register_la(LA)
        resp = api.client.post(f"/schools/{URN}/nomination", headers=api.vs(LA))
        assert_problem(resp, 404, "no school with URN")  # not the caller's to know about
        assert api.get_school(URN)["status"] is None
        resp = api.client.post(f"/schools/{URN}/nomination", headers=api.vs("370"))
        assert api.ok(resp)["status"] == "nominated"

    def test_unknown_school_is_a_404_problem(self, api: Api) -> None:
        problem = assert_problem(
            api.client.post("/schools/999999/nomination", headers=api.tm()), 404, "999999"
        )
        assert problem["type"].endswith("school-not-found")
        assert_problem(api.client.get("/schools/999999", headers=api.tm()), 404, "999999")


class TestWithdrawal:
    def test_reason_date_and_previous_status(self, api: Api) -> None:
        api.school_at("consented", URN)
        body = {"reason": "Staff shortages", "withdrawn_on": "2021-05-30"}
        school = api.ok(api.client.post(f"/schools/{URN}/withdrawal", headers=api.vs(), json=body))
        assert school["status"] == "withdrawn"
        assert school["withdrawal_reason"] == "Staff shortages"
        assert school["withdrawn_on"] == "2021-05-30"
        assert school["withdrawn_from_status"] == "consented"
        [event] = [e for e in api.history(URN) if e["action"] == "school.withdrawn"]
        assert event["reason"] == "Staff shortages"

    def test_defaults_to_today_and_refuses_the_future(self, api: Api) -> None:
        api.school_at("nominated", URN)
        future = {"reason": "x", "withdrawn_on": "2021-06-02"}
        resp = api.client.post(f"/schools/{URN}/withdrawal", headers=api.tm(), json=future)
        assert_problem(resp, 422, "future")
        resp = api.client.post(
            f"/schools/{URN}/withdrawal", headers=api.school(URN), json={"reason": "x"}
        )
        assert api.ok(resp)["withdrawn_on"] == "2021-06-01"

    def test_needs_a_reason(self, api: Api) -> None:
        api.school_at("nominated", URN)
        resp = api.client.post(f"/schools/{URN}/withdrawal", headers=api.tm(), json={"reason": " "})
        assert_problem(resp, 422, "reason")


class TestRandomisationContract:
    def _randomise(self, api: Api, urn: int = URN, **body: Any) -> Any:
        return api.randomised(urn, **({"run_id": "run-1", "arm": "intervention"} | body))

    def test_randomisable_lists_consented_schools_only(self, api: Api) -> None:
        for urn, status in [
            (100001, "consented"),
            (100002, "eligible"),
            (100003, "randomised"),
            (100004, "withdrawn"),
            (100005, "consented"),
            (100006, "consented"),
        ]:
            api.school_at(status, urn)
        first = api.ok(api.client.get("/schools/randomisable?limit=2", headers=api.service()))
        assert first["count"] == 3
        assert [s["urn"] for s in first["data"]] == [100001, 100005]
        item = first["data"][0]
        assert item["la_code"] == LA and item["name"] and item["phase"] == "Primary"
        assert item["looked_after_flag"] is True
        assert isinstance(item["urn"], int)
        cursor = first["next_cursor"]
        second = api.ok(
            api.client.get(f"/schools/randomisable?limit=2&cursor={cursor}", headers=api.service())
        )
        assert [s["urn"] for s in second["data"]] == [100006]
        assert second["next_cursor"] is None

    def test_randomisable_is_for_service_and_trial_manager(self, api: Api) -> None:
        for headers in (api.vs(), api.school(URN), api.role("evaluator"), api.role("auditor")):
            assert_problem(api.client.get("/schools/randomisable", headers=headers), 403)
        assert api.client.get("/schools/randomisable", headers=api.tm()).status_code == 200

    def test_records_the_arm_and_is_idempotent_per_run(self, api: Api) -> None:
        api.school_at("consented", URN)
        first = api.ok(self._randomise(api))
        assert first == {
            "urn": URN,
            "status": "randomised",
            "arm": "intervention",
            "run_id": "run-1",
            "test": False,
            "recorded": True,
        }
        events = len(api.history(URN))
        again = api.ok(self._randomise(api))
        assert again["recorded"] is False and again["status"] == "randomised"
        assert len(api.history(URN)) == events
        school = api.get_school(URN)
        assert (school["arm"], school["randomisation_run_id"]) == ("intervention", "run-1")

    def test_another_run_or_arm_is_a_conflict(self, api: Api) -> None:
        api.school_at("consented", URN)
        api.ok(self._randomise(api))
        assert_problem(self._randomise(api, run_id="run-2"), 409, "run-1")
        assert_problem(self._randomise(api, arm="control"), 409, "intervention")
        assert api.get_school(URN)["arm"] == "intervention"

    def test_a_repeat_after_withdrawal_is_still_a_repeat(self, api: Api) -> None:
        api.school_at("randomised", URN)  # by run-1, intervention
        api.ok(
            api.client.post(f"/schools/{URN}/withdrawal", headers=api.tm(), json={"reason": "x"})
        )
        again = api.ok(self._randomise(api))
        assert (again["recorded"], again["status"]) == (False, "withdrawn")
        assert_problem(self._randomise(api, run_id="run-2"), 409, "run-1")

    @pytest.mark.parametrize("status", ["withdrawn", "eligible", "nominated", "ineligible"])
    def test_withdrawn_or_not_consented_is_a_conflict(self, api: Api, status: str) -> None:
        api.school_at(status, URN)
        problem = assert_problem(self._randomise(api), 409, "cannot become 'randomised'")
        assert problem["current_status"] == status

    def test_test_mode_changes_nothing(self, api: Api) -> None:
        api.school_at("consented", URN)
        events = api.history(URN)
        result = api.ok(self._randomise(api, test=True, arm="control"))
        assert result["recorded"] is False and result["test"] is True
        assert result["status"] == "consented"
        school = api.get_school(URN)
        assert (school["status"], school["arm"], school["randomisation_run_id"]) == (
            "consented",
            None,
            None,
        )
        assert api.history(URN) == events
        # A real run afterwards still works.
        assert api.ok(self._randomise(api))["recorded"] is True

    def test_only_the_randomisation_service_may_record_an_arm(self, api: Api) -> None:
        """Finding 2: a trial manager's or another service's token cannot set an arm."""
        api.school_at("consented", URN)
        events = api.history(URN)
        for headers in (
            api.tm(),
            api.role("service", sub="service:surveys"),
            api.role(["trial_manager", "service"], sub="tm-alice"),
            api.vs(),
            api.school(URN),
            api.role("evaluator"),
            api.role("auditor"),
        ):
            resp = api.randomised(URN, run_id="run-1", arm="control", headers=headers)
            assert_problem(resp, 403)
        assert api.get_school(URN)["status"] == "consented"
        assert api.history(URN) == events

    @pytest.mark.parametrize(
        ("statement", "why"),
        [
            ("not-a-jws", "not a compact JWS"),
            ("e30.e30.e30", "RS256"),
        ],
    )
    def test_an_unsigned_statement_is_refused(self, api: Api, statement: str, why: str) -> None:
        api.school_at("consented", URN)
        resp = api.randomised(URN, run_id="run-1", arm="control", statement=statement)
        assert_problem(resp, 403, why)
        assert api.get_school(URN)["status"] == "consented"

    def test_a_statement_signed_by_another_key_is_refused(self, api: Api) -> None:
        from rlc_shared.auth import generate_private_key_pem, sign_jws

        api.school_at("consented", URN)
        forged = sign_jws(
            {"typ": "rlc.allocation", "urn": URN, "run_id": "run-1", "arm": "control"},
            private_pem=generate_private_key_pem(),
            kid=api.signer.kid,
        )
        resp = api.randomised(URN, run_id="run-1", arm="control", statement=forged)
        assert_problem(resp, 403, "signature does not verify")
        assert api.get_school(URN)["arm"] is None

    @pytest.mark.parametrize(
        "change",
        [{"arm": "intervention"}, {"urn": 100009}, {"run_id": "run-2"}, {"test": True}],
        ids=["arm", "urn", "run", "test"],
    )
    def test_a_statement_for_something_else_is_refused(self, api: Api, change: dict) -> None:
        api.school_at("consented", URN)
        statement = api.signer.statement(
            **({"urn": URN, "run_id": "run-1", "arm": "control"} | change)
        )
        resp = api.randomised(URN, run_id="run-1", arm="control", statement=statement)
        problem = assert_problem(resp, 403, "does not match")
        assert next(iter(change)) in problem["detail"]
        assert api.get_school(URN)["status"] == "consented"

    def test_the_log_entry_is_kept(self, api: Api) -> None:
        api.school_at("consented", URN)
        statement = api.signer.statement(
            urn=URN, run_id="run-1", arm="control", entry_index=7, entry_hash="ab" * 32
        )
        api.ok(api.randomised(URN, run_id="run-1", arm="control", statement=statement))
        school = api.get_school(URN)
        assert (school["randomisation_log_index"], school["randomisation_entry_hash"]) == (
            7,
            "ab" * 32,
        )

    def test_arm_must_be_intervention_or_control(self, api: Api) -> None:
        api.school_at("consented", URN)
        assert_problem(self._randomise(api, arm="placebo"), 422, "arm")
