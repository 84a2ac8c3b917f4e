"""School consent (signed form in object storage), staff, teacher consent and withdrawal."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from rlc_testkit.recruitment import PDF, Api, assert_problem

URN = 100001
CUTOFF = dt.date(2022, 5, 31)


class TestSchoolConsent:
    def test_consent_is_recorded_and_the_form_stored(self, api: Api) -> None:
        api.school_at("eligible", URN)
        school = api.ok(api.consent(URN, headers=api.school(URN), head_teacher_name="Ann Head"))
        assert school["status"] == "consented"
        assert school["consent_head_teacher"] == "Ann Head"
        assert school["consent_on"] == "2021-06-01"
        assert school["consent_random_allocation"] and school["consent_evaluation"]
        assert school["consent_form_sha256"] == hashlib.sha256(PDF).hexdigest()
        form = api.client.get(f"/schools/{URN}/consent/form", headers=api.tm())
        assert form.status_code == 200
        assert form.content == PDF
        assert form.headers["content-type"] == "application/pdf"
        [event] = [e for e in api.history(URN) if e["action"] == "school.consented"]
        assert event["actor"] == f"school-{URN}"
        assert event["new"]["consent_head_teacher"] == "Ann Head"

    @pytest.mark.parametrize("missing", ["random_allocation", "evaluation"])
    def test_both_consents_are_needed(self, api: Api, missing: str) -> None:
        api.school_at("eligible", URN)
        resp = api.consent(URN, headers=api.tm(), **{missing: "false"})
        assert_problem(resp, 422, missing.replace("_", " "))
        assert api.get_school(URN)["status"] == "eligible"

    def test_form_must_be_a_document(self, api: Api) -> None:
        api.school_at("eligible", URN)
        resp = api.client.post(
            f"/schools/{URN}/consent",
            headers=api.tm(),
            data={
                "head_teacher_name": "A",
                "consent_date": "2021-06-01",
                "random_allocation": "true",
                "evaluation": "true",
            },
            files={"form": ("form.exe", b"MZ\x90\x00", "application/x-msdownload")},
        )
        assert_problem(resp, 415, "PDF, PNG or JPEG")
        assert_problem(api.consent(URN, headers=api.tm(), form=b""), 422, "empty")
        assert_problem(api.consent(URN, headers=api.tm(), consent_date="2021-07-01"), 422, "future")
        assert api.get_school(URN)["consent_form_sha256"] is None

    def test_no_form_on_file_is_a_404_problem(self, api: Api) -> None:
        api.school_at("eligible", URN)
        resp = api.client.get(f"/schools/{URN}/consent/form", headers=api.tm())
        assert_problem(resp, 404, "no signed consent form")


class TestStaff:
    def test_add_staff_with_every_role(self, api: Api) -> None:
        api.school_at("eligible", URN)
        roles = [
            "designated_teacher",
            "english_subject_lead",
            "maths_subject_lead",
            "year5_teacher",
            "year6_teacher",
            "head_teacher",
        ]
        for role in roles:
            api.add_staff(URN, role=role)
        staff = api.ok(api.client.get(f"/schools/{URN}/staff", headers=api.vs()))
        assert [m["role"] for m in staff] == roles
        resp = api.client.post(
            f"/schools/{URN}/staff", headers=api.tm(), json={"name": "X", "role": "caretaker"}
        )
        assert_problem(resp, 422, "role")

    def test_teacher_email_is_kept_but_never_shown_or_audited(self, api: Api) -> None:
        api.school_at("eligible", URN)
        member = api.add_staff(URN, email="Jo.Teacher@School.SCH.uk")
        assert member["has_email"] is True
        assert "email" not in member
        record = api.client.get(f"/schools/{URN}", headers=api.tm()).text
        history = api.client.get(f"/schools/{URN}/history", headers=api.tm()).text
        audit = api.client.get("/audit-events?limit=500", headers=api.tm()).text
        for text in (record, history, audit):
            assert "jo.teacher" not in text.lower()

    def test_invalid_teacher_email_is_refused_without_echo(self, api: Api) -> None:
        api.school_at("eligible", URN)
        resp = api.client.post(
            f"/schools/{URN}/staff",
            headers=api.tm(),
            json={"name": "Jo", "role": "year5_teacher", "email": "jo.secret@@example"},
        )
        assert_problem(resp, 422, "not a valid address")
        assert "jo.secret" not in resp.text

    def test_staff_only_for_schools_in_the_trial(self, api: Api) -> None:
        api.school_at(None, URN)
        resp = api.client.post(
            f"/schools/{URN}/staff", headers=api.tm(), json={"name": "Jo", "role": "year5_teacher"}
        )
        assert_problem(resp, 409, "not nominated")

    def test_unknown_staff_member_is_a_404_problem(self, api: Api) -> None:
        api.school_at("eligible", URN)
        api.school_at("eligible", 100002)
        other = api.add_staff(100002)
        resp = api.client.get(f"/schools/{URN}/staff/{other['id']}", headers=api.tm())
        assert_problem(resp, 404, f"no staff member {other['id']}")


class TestTeacherConsentAndWithdrawal:
    def _member(self, api: Api) -> dict:
        api.school_at("consented", URN)
        member = api.add_staff(URN)
        resp = api.client.post(
            f"/schools/{URN}/staff/{member['id']}/consent",
            headers=api.school(URN),
            json={"consented_on": "2021-06-01"},
        )
        consented = api.ok(resp)
        assert consented["data_collection_consent"] is True
        assert consented["consented_on"] == "2021-06-01"
        return consented

    def _withdraw(self, api: Api, member: dict, covers: object) -> object:
        return api.client.post(
            f"/schools/{URN}/staff/{member['id']}/withdrawal",
            headers=api.school(URN),
            json={"covers": covers, "reason": "Moving school"},
        )

    def test_withdrawal_before_the_cutoff_records_what_it_covers(self, api: Api) -> None:
        member = self._member(api)
        api.set_today(dt.date(2022, 3, 1))
        withdrawn = api.ok(self._withdraw(api, member, ["questionnaires", "data_processing"]))
        assert withdrawn["withdrawn_on"] == "2022-03-01"
        assert withdrawn["withdrawal_covers"] == ["data_processing", "questionnaires"]
        assert withdrawn["data_collection_consent"] is False
        events = [e for e in api.history(URN) if e["action"] == "staff_member.withdrawn"]
        assert events[0]["entity_id"] == f"{URN}/{member['id']}"
        assert events[0]["new"]["withdrawal_covers"] == ["data_processing", "questionnaires"]
        assert_problem(self._withdraw(api, member, "all"), 409, "already withdrew on 2022-03-01")

    def test_questionnaires_only_keeps_data_consent(self, api: Api) -> None:
        member = self._member(api)
        withdrawn = api.ok(self._withdraw(api, member, ["questionnaires"]))
        assert withdrawn["data_collection_consent"] is True

    def test_withdrawal_on_the_cutoff_day_is_allowed(self, api: Api) -> None:
        member = self._member(api)
        api.set_today(CUTOFF)
        withdrawn = api.ok(self._withdraw(api, member, "all"))
        assert withdrawn["withdrawal_covers"] == ["all"]
        assert withdrawn["data_collection_consent"] is False

    def test_withdrawal_after_the_cutoff_is_refused_with_the_date(self, api: Api) -> None:
        member = self._member(api)
        api.set_today(CUTOFF + dt.timedelta(days=1))
        problem = assert_problem(self._withdraw(api, member, "all"), 409, "until 2022-05-31")
        assert problem["cutoff"] == "2022-05-31"
        again = api.ok(api.client.get(f"/schools/{URN}/staff/{member['id']}", headers=api.tm()))
        assert again["withdrawn_on"] is None

    def test_consent_is_not_limited_by_the_cutoff(self, api: Api) -> None:
        # The cut-off limits withdrawal only; a late consent is still recorded as given.
        api.school_at("consented", URN)
        member = api.add_staff(URN)
        api.set_today(CUTOFF + dt.timedelta(days=10))
        resp = api.client.post(
            f"/schools/{URN}/staff/{member['id']}/consent",
            headers=api.tm(),
            json={"consented_on": "2022-06-05"},
        )
        assert api.ok(resp)["consented_on"] == "2022-06-05"

    def test_cutoff_is_a_setting(self, api: Api) -> None:
        member = self._member(api)
        api.client.app.state.settings = api.client.app.state.settings.model_copy(
            update={"teacher_withdrawal_cutoff": dt.date(2021, 5, 1)}
        )
        assert_problem(self._withdraw(api, member, "all"), 409, "until 2021-05-01")

    def test_covers_must_be_known_scopes_or_all(self, api: Api) -> None:
        member = self._member(api)
        assert_problem(self._withdraw(api, member, ["lunch"]), 422, "covers")
        assert_problem(self._withdraw(api, member, []), 422, "covers")

    def test_consent_after_withdrawal_is_refused(self, api: Api) -> None:
        member = self._member(api)
        api.ok(self._withdraw(api, member, "all"))
        resp = api.client.post(
            f"/schools/{URN}/staff/{member['id']}/consent",
            headers=api.tm(),
            json={"consented_on": "2021-06-01"},
        )
        assert_problem(resp, 409, "withdrew on 2021-06-01")
