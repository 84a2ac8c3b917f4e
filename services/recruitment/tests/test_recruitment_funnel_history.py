"""The recruitment funnel, and a school's complete history."""

from __future__ import annotations

import datetime as dt

from rlc_testkit.recruitment import LA, OTHER_LA, Api, assert_problem


def _funnel(api: Api, headers: dict[str, str] | None = None, query: str = "") -> dict:
    return api.ok(api.client.get(f"/funnel{query}", headers=headers or api.tm()))


class TestFunnel:
    def test_counts_per_la_and_overall(self, api: Api) -> None:
        api.register_la(LA, target_schools=10)
        api.register_la(OTHER_LA, target_schools=4)
        for urn, status in [
            (100001, "nominated"),
            (100002, "eligible"),
            (100003, "ineligible"),
            (100004, "consented"),
            (100005, "randomised"),
            (100006, "withdrawn"),
            (100007, "consented"),
            (100008, None),  # in GIAS, never nominated: not in the funnel
        ]:
            api.school_at(status, urn)
        api.school_at("nominated", 200001, la_code=OTHER_LA)
        funnel = _funnel(api)
        assert funnel["today"] == "2021-06-01"
        assert funnel["consent_deadline"] == "2021-09-24"
        assert funnel["days_to_consent_deadline"] == 115
        rows = {r["la_code"]: r for r in funnel["local_authorities"]}
        assert rows[LA]["target_schools"] == 10
        assert rows[LA]["counts"] == {
            "nominated": 1,
            "eligible": 1,
            "ineligible": 1,
            "consented": 2,
            "randomised": 1,
            "withdrawn": 1,
        }
        assert rows[LA]["in_trial"] == 7
        assert rows[OTHER_LA]["counts"]["nominated"] == 1
        overall = funnel["overall"]
        assert overall["target_schools"] == 14
        assert overall["in_trial"] == 8
        assert overall["counts"]["nominated"] == 2
        assert overall["stuck"] == {"nominated": 0, "eligible": 0}

    def test_stuck_schools_and_the_deadline_from_today(self, api: Api) -> None:
        api.register_la(LA)
        api.school_at("nominated", 100001)
        api.school_at("eligible", 100002)
        api.school_at("consented", 100003)
        # The stages were reached "now" (the real clock); look at the funnel from 20 days later.
        later = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=20)
        api.set_today(later)
        funnel = _funnel(api)
        assert funnel["overall"]["stuck"] == {"nominated": 1, "eligible": 1}
        assert funnel["days_to_consent_deadline"] == (dt.date(2021, 9, 24) - later).days
        assert _funnel(api, query="?stuck_after_days=30")["overall"]["stuck"] == {
            "nominated": 0,
            "eligible": 0,
        }

    def test_virtual_school_sees_its_own_la(self, api: Api) -> None:
        api.register_la(LA)
        api.register_la(OTHER_LA)
        api.school_at("nominated", 100001)
        funnel = _funnel(api, api.vs(LA))
        assert [r["la_code"] for r in funnel["local_authorities"]] == [LA]
        # Another LA is answered as an unregistered one (finding 5: nothing to tell apart).
        assert_problem(
            api.client.get(f"/funnel?la_code={OTHER_LA}", headers=api.vs(LA)), 404, OTHER_LA
        )
        assert_problem(api.client.get("/funnel", headers=api.school(100001)), 403)
        assert_problem(api.client.get("/funnel", headers=api.service()), 403)


class TestHistory:
    def test_every_change_is_in_the_school_history(self, api: Api) -> None:
        api.school_at("randomised", 100001)
        member = api.add_staff(100001)
        api.ok(
            api.client.post(
                "/schools/100001/staff/" + str(member["id"]) + "/withdrawal",
                headers=api.tm(),
                json={"covers": "all"},
            )
        )
        api.ok(
            api.client.put(
                "/schools/100001/email", headers=api.tm(), json={"email": "office@x.sch.uk"}
            )
        )
        api.ok(
            api.client.post(
                "/schools/100001/withdrawal", headers=api.tm(), json={"reason": "Closing"}
            )
        )
        events = api.history(100001)
        assert [e["action"] for e in events] == [
            "school.gias_created",
            "school.nominated",
            "school.eligibility_assessed",
            "school.consented",
            "school.randomised",
            "staff_member.added",
            "staff_member.withdrawn",
            "school.gias_email_set",
            "school.withdrawn",
        ]
        assert [e["id"] for e in events] == sorted(e["id"] for e in events)
        randomised = events[4]
        assert randomised["actor"] == "service:randomisation"
        assert randomised["actor_roles"] == "service"
        assert randomised["old"]["status"] == "consented"
        assert randomised["new"] == {
            "status": "randomised",
            "randomisation_run_id": "run-1",
            "arm": "intervention",
            "randomisation_log_index": 0,
            "randomisation_entry_hash": "0" * 64,
        }
        assert all(e["at"] for e in events)

    def test_history_is_paginated(self, api: Api) -> None:
        api.school_at("consented", 100001)
        first = api.ok(api.client.get("/schools/100001/history?limit=2", headers=api.tm()))
        assert first["count"] == 4 and len(first["data"]) == 2
        rest = api.ok(
            api.client.get(
                f"/schools/100001/history?limit=2&cursor={first['next_cursor']}",
                headers=api.tm(),
            )
        )
        assert [e["action"] for e in rest["data"]] == [
            "school.eligibility_assessed",
            "school.consented",
        ]

    def test_unknown_school_history_is_a_404(self, api: Api) -> None:
        assert_problem(api.client.get("/schools/424242/history", headers=api.tm()), 404, "424242")
        assert_problem(api.client.get("/schools/4242/history", headers=api.tm()), 422, "urn")


class TestSearch:
    def test_filters(self, api: Api) -> None:
        api.school_at("eligible", 100001, name="Oakfield Primary")
        api.school_at("ineligible", 100002, name="Ashgrove Junior")
        api.school_at(None, 100003, name="Oak Tree Infants")
        api.school_at("nominated", 200001, la_code=OTHER_LA, name="Oakwood Primary")

        def urns(query: str) -> list[int]:
            body = api.ok(api.client.get(f"/schools?{query}", headers=api.role("evaluator")))
            return [s["urn"] for s in body["data"]]

        assert urns(f"la_code={LA}") == [100001, 100002, 100003]
        assert urns("status=eligible") == [100001]
        assert urns("eligible=false") == [100002]
        assert urns("name=oak") == [100001, 100003, 200001]
        assert urns("name=oak&la_code=" + OTHER_LA) == [200001]
        assert urns("urn=100002") == [100002]
        assert urns("in_trial=false") == [100003]
        assert urns("name=100%25") == []
        assert_problem(api.client.get("/schools?status=bogus", headers=api.tm()), 422, "status")
