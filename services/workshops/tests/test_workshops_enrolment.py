"""Cohorts, their sessions and the contamination guard, against the real randomisation and
recruitment services (live processes, see ``world.py``): only intervention schools of the cohort's
LA are enrolled; control, unallocated, in-error and withdrawn schools are refused with a 409 that
says why, and an unreachable randomisation service is a 503, never a guess."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from rlc_clients import RandomisationClient
from rlc_shared.http import TokenProvider
from rlc_testkit import free_port
from workshops.main import create_app
from workshops.programme_defaults import SESSION_KEYS, default_programme
from workshops.upstream import AllocationCache


def problem(resp: Any, status: int, *needles: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    for needle in needles:
        assert needle in body["detail"], body["detail"]
    return body


def test_a_cohort_gets_the_programmes_eight_sessions(api: Any) -> None:
    cohort = api.cohort("202", name="Camden 2021/22")
    assert cohort["sessions"] == 8 and cohort["schools"] == 0
    sessions = api.ok(api.client.get(f"/cohorts/{cohort['id']}/sessions", headers=api.delivery()))
    assert [s["key"] for s in sessions] == list(SESSION_KEYS)
    schedule = default_programme()
    for row, planned in zip(sessions, schedule.sessions, strict=True):
        assert row["kind"] == planned.kind and row["number"] == planned.number
        assert row["mode"] == planned.mode
        assert row["planned_on"] == planned.planned_date.isoformat()
        assert row["duration_minutes"] == planned.duration_minutes
    assert [s["number"] for s in sessions if s["kind"] == "workshop"] == [1, 2, 3, 4, 5, 6]
    assert sessions[0]["kind"] == "intro" and sessions[0]["mode"] == "face_to_face"
    assert sessions[0]["duration_minutes"] == 90 and sessions[1]["duration_minutes"] == 150
    # The LA's Virtual School Head is an attendee from the start.
    (head,) = api.attendees(cohort["id"])
    assert head["kind"] == "virtual_school_head" and head["role"] == "virtual_school_head"
    assert head["name"] == api.world.vsh["202"][0] and head["urn"] is None


def test_a_cohorts_own_dates_and_links(api: Any) -> None:
    cohort = api.cohort(
        "370",
        meeting_link="https://zoom.example/j/123",
        sessions=[{"key": "workshop_2", "planned_on": "2021-12-14"}],
    )
    sessions = api.sessions(cohort["id"])
    assert sessions["workshop_2"]["planned_on"] == "2021-12-14"
    assert sessions["workshop_1"]["meeting_link"] == "https://zoom.example/j/123"
    assert sessions["intro"]["meeting_link"] is None  # face to face
    again = api.client.post(
        "/cohorts", headers=api.delivery(), json={"name": cohort["name"], "la_code": "370"}
    )
    problem(again, 409, "already a cohort")


def test_an_unregistered_la_has_no_cohort(api: Any) -> None:
    resp = api.client.post("/cohorts", headers=api.delivery(), json={"name": "x", "la_code": "999"})
    problem(resp, 409, "999", "has not registered")


def test_moving_a_session_needs_a_reason_and_is_audited(api: Any) -> None:
    cohort = api.cohort("202")
    workshop = api.sessions(cohort["id"])["workshop_3"]
    path = f"/sessions/{workshop['id']}"
    problem(
        api.client.patch(path, headers=api.delivery(), json={"planned_on": "2022-01-12"}),
        422,
        "reason",
    )
    moved = api.client.patch(
        path,
        headers=api.delivery(),
        json={"planned_on": "2022-01-12", "reason": "the venue's broadband is down on the 10th"},
    )
    assert moved.status_code == 200 and moved.json()["planned_on"] == "2022-01-12"
    (event,) = api.audit(action="session.moved")
    assert event["entity_id"] == str(workshop["id"])
    assert event["old"] == {"planned_on": "2022-01-10"} and event["new"] == {
        "planned_on": "2022-01-12"
    }
    assert event["reason"] == "the venue's broadband is down on the 10th"
    assert event["actor"] == "delivery-dana"
    # A link change is audited too, without a reason being required.
    link = api.client.patch(
        path, headers=api.delivery(), json={"meeting_link": "https://teams.example/m/1"}
    )
    assert link.status_code == 200
    assert api.audit(action="session.updated")[-1]["new"] == {
        "meeting_link": "https://teams.example/m/1"
    }


def test_an_intervention_school_is_enrolled_with_its_staff(api: Any) -> None:
    world = api.world
    cohort = api.cohort("202")
    urn = world.intervention("202")[0]
    resp = api.enrol(cohort["id"], urn)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["urn"] == urn and body["arm"] == "intervention" and body["run_id"] == world.run_id
    assert body["attendees"] == len(world.staff[urn]) and body["pupils"] == world.pupils[urn]
    attendees = [a for a in api.attendees(cohort["id"]) if a["urn"] == urn]
    assert sorted((a["staff_id"], a["role"], a["name"]) for a in attendees) == sorted(
        (s.id, s.role, s.name) for s in world.staff[urn]
    )
    (event,) = api.audit(action="school.enrolled")
    assert event["new"]["arm"] == "intervention" and event["new"]["urn"] == urn
    listed = api.ok(api.client.get(f"/cohorts/{cohort['id']}/schools", headers=api.evaluator()))
    assert [s["urn"] for s in listed["data"]] == [urn]


@pytest.mark.parametrize(
    ("which", "reason", "needle"),
    [
        ("control", "control", "control arm"),
        ("unallocated", "unallocated", "has no live allocation"),
        ("in_error", "in_error", "marked as made in error"),
        ("withdrawn", "withdrawn", "has withdrawn"),
        ("other_la", "other_la", "is in local authority 370"),
    ],
)
def test_the_contamination_guard_refuses(api: Any, which: str, reason: str, needle: str) -> None:
    world = api.world
    urn = {
        "control": world.control("202")[0],
        "unallocated": world.unallocated,
        "in_error": world.in_error,
        "withdrawn": world.withdrawn,
        "other_la": world.intervention("370")[0],
    }[which]
    cohort = api.cohort("202")
    resp = api.enrol(cohort["id"], urn)
    body = problem(resp, 409, str(urn), needle)
    assert body["reason"] == reason and body["urn"] == urn
    assert body["type"].endswith("/enrolment-refused")
    listed = api.ok(api.client.get(f"/cohorts/{cohort['id']}/schools", headers=api.delivery()))
    assert listed["data"] == [] and api.audit(action="school.enrolled") == []
    assert all(a["kind"] == "virtual_school_head" for a in api.attendees(cohort["id"]))


def test_a_school_is_enrolled_once(api: Any) -> None:
    urn = api.world.intervention("202")[0]
    first, second = api.cohort("202", name="first"), api.cohort("202", name="second")
    assert api.enrol(first["id"], urn).status_code == 201
    body = problem(api.enrol(first["id"], urn), 409, "already enrolled in cohort")
    assert body["reason"] == "already_enrolled"
    problem(api.enrol(second["id"], urn), 409, f"cohort {first['id']}")


def test_randomisation_unreachable_is_a_503_and_nothing_is_enrolled(
    api: Any, settings: Any, world: Any
) -> None:
    cohort = api.cohort("202")
    down = settings.model_copy(update={"randomisation_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(down)) as other:
        resp = other.post(
            f"/cohorts/{cohort['id']}/schools",
            headers=api.delivery(),
            json={"urn": world.intervention("202")[0]},
        )
    body = problem(resp, 503, "randomisation service could not be asked", "nothing was changed")
    assert body["upstream"] == "randomisation"
    listed = api.ok(api.client.get(f"/cohorts/{cohort['id']}/schools", headers=api.delivery()))
    assert listed["data"] == []


def test_recruitment_unreachable_is_a_503(api: Any, settings: Any) -> None:
    down = settings.model_copy(update={"recruitment_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(down)) as other:
        resp = other.post("/cohorts", headers=api.delivery(), json={"name": "x", "la_code": "202"})
    problem(resp, 503, "recruitment service could not be asked")
    assert api.ok(api.client.get("/cohorts", headers=api.delivery()))["data"] == []


def test_the_allocation_cache_asks_again_after_its_ttl(
    settings: Any, keys: Any, world: Any
) -> None:
    class Counting(RandomisationClient):
        calls = 0

        def allocation(self, urn: int) -> Any:
            Counting.calls += 1
            return super().allocation(urn)

    now = [1000.0]
    client = Counting(
        settings.randomisation_url, tokens=TokenProvider(token=settings.service_token)
    )
    try:
        cache = AllocationCache(client, ttl=30, clock=lambda: now[0])
        urn = world.intervention("202")[0]
        first = cache.allocation(urn)
        assert first is not None and first["arm"] == "intervention"
        now[0] += 29.9
        assert cache.allocation(urn) == first and Counting.calls == 1
        assert cache.allocation(world.unallocated) is None and Counting.calls == 2
        now[0] += 0.2  # 30.1 s after the first answer
        assert cache.allocation(urn) == first and Counting.calls == 3
        uncached = AllocationCache(client, ttl=0, clock=lambda: now[0])
        uncached.allocation(urn)
        uncached.allocation(urn)
        assert Counting.calls == 5
    finally:
        client.close()


def test_refreshing_attendees_follows_recruitment(api: Any, upstream: Any, keys: Any) -> None:
    import httpx

    world = api.world
    cohort = api.cohort("370")
    urn = world.intervention("370")[0]
    assert api.enrol(cohort["id"], urn).status_code == 201
    with httpx.Client(base_url=upstream.recruitment_url) as rec:
        made = rec.post(
            f"/schools/{urn}/staff",
            headers=keys.headers("trial_manager"),
            json={"name": "Uma Newcomer", "role": "year6_teacher"},
        )
        assert made.status_code == 201, made.text
    refreshed = api.client.post(
        f"/cohorts/{cohort['id']}/attendees/refresh", headers=api.delivery()
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json() | {"updated": 0} == {
        "cohort_id": cohort["id"],
        "schools": 1,
        "added": 1,
        "updated": 0,
        "deactivated": 0,
    }
    roles = [a["role"] for a in api.attendees(cohort["id"]) if a["urn"] == urn]
    assert "year6_teacher" in roles
    again = api.ok(
        api.client.post(f"/cohorts/{cohort['id']}/attendees/refresh", headers=api.delivery())
    )
    assert again["added"] == 0 and again["deactivated"] == 0
