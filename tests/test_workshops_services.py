"""The workshops service with recruitment and randomisation, all three as real processes over
real HTTP: the contamination guard on every refused case (control, unallocated, allocation in
error, withdrawn, and the randomisation service stopped), then attendance uploaded from a Zoom and
a Teams file and the dosage read with a service token, as analytics reads it.

The trial is built through recruitment's and randomisation's own APIs (see
``services/workshops/tests/world.py``), on databases of this module's own.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from rlc_cli import services
from rlc_shared.migrations import upgrade
from rlc_testkit import Keys, LiveService, start_service

HELPERS = Path(__file__).resolve().parents[1] / "services" / "workshops" / "tests"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"workshops_tests_{name}", HELPERS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


world_module, h = _load("world"), _load("helpers")
ATTENDANCE_ROW = {"urn", "staff_id", "role", "minutes", "status"}
DOSAGE = {"urn", "workshops_attended", "sessions_attended", "minutes", "complier", "rule_version"}


class Stack:
    def __init__(self, *, keys: Keys, tmp: Path, database_factory: Any) -> None:
        self.upstream = world_module.Upstream(
            keys=keys, tmp=tmp, database_factory=database_factory, label="wsx"
        )
        self.world = world_module.build_world(self.upstream, keys)
        database = database_factory.create("wsx_workshops")
        upgrade(services.get("workshops").directory, database)
        self.workshops: LiveService = start_service(
            "workshops",
            database_url=database,
            keys=keys,
            tmp=tmp,
            extra_env={
                "WORKSHOPS_RECRUITMENT_URL": self.upstream.recruitment_url,
                "WORKSHOPS_RANDOMISATION_URL": self.upstream.randomisation_url,
                "WORKSHOPS_OUTBOUND_TIMEOUT_SECONDS": "3",
            },
        )

    def stop(self) -> None:
        self.workshops.stop()
        self.upstream.stop()


@pytest.fixture(scope="module")
def stack(
    database_factory: Any, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    live = Stack(
        keys=keys, tmp=tmp_path_factory.mktemp("workshops-x"), database_factory=database_factory
    )
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def ws(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.workshops.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def api(ws: httpx.Client, keys: Keys, stack: Stack) -> Any:
    return h.Api(ws, keys, stack.world)


@pytest.fixture(scope="module")
def camden(api: Any) -> dict[str, Any]:
    return api.cohort("202", name="Camden cross-service")


def refused(resp: httpx.Response, reason: str, *needles: str) -> None:
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["reason"] == reason, body
    for needle in needles:
        assert needle in body["detail"], body["detail"]


def test_the_guard_refuses_a_control_school(api: Any, camden: dict[str, Any]) -> None:
    urn = api.world.control("202")[0]
    refused(api.enrol(camden["id"], urn), "control", f"School {urn}", "control arm")


def test_the_guard_refuses_an_unallocated_school(api: Any, camden: dict[str, Any]) -> None:
    refused(api.enrol(camden["id"], api.world.unallocated), "unallocated", "no live allocation")


def test_the_guard_refuses_an_allocation_marked_in_error(api: Any, camden: dict[str, Any]) -> None:
    refused(
        api.enrol(camden["id"], api.world.in_error),
        "in_error",
        "marked as made in error",
        "allocated from a stale list",
    )


def test_the_guard_refuses_a_withdrawn_school(api: Any, camden: dict[str, Any]) -> None:
    refused(api.enrol(camden["id"], api.world.withdrawn), "withdrawn", "has withdrawn")


def test_randomisation_down_is_a_503_then_enrolment_works(
    api: Any, camden: dict[str, Any], stack: Stack
) -> None:
    urn = api.world.intervention("202")[1]  # never asked before: nothing cached for it
    with stack.upstream.randomisation_down():
        resp = api.enrol(camden["id"], urn)
        assert resp.status_code == 503, resp.text
        body = resp.json()
        assert body["upstream"] == "randomisation"
        assert "randomisation service could not be asked" in body["detail"]
        assert "nothing was changed" in body["detail"]
    listed = api.ok(api.client.get(f"/cohorts/{camden['id']}/schools", headers=api.delivery()))
    assert urn not in [s["urn"] for s in listed["data"]]
    resp = api.enrol(camden["id"], urn)
    assert resp.status_code == 201, resp.text
    assert resp.json()["arm"] == "intervention"


def test_attendance_from_zoom_and_teams_and_dosage_for_analytics(
    api: Any, camden: dict[str, Any]
) -> None:
    world = api.world
    enrolled = {
        s["urn"]
        for s in api.ok(api.client.get(f"/cohorts/{camden['id']}/schools", headers=api.delivery()))[
            "data"
        ]
    }
    for urn in world.intervention("202"):
        if urn not in enrolled:
            assert api.enrol(camden["id"], urn).status_code == 201
    sessions = api.sessions(camden["id"])
    a = world.intervention("202")[0]
    dt_a, esl_a = world.member(a, "designated_teacher"), world.member(a, "english_subject_lead")
    for n, maker in ((1, h.zoom_file), (2, h.teams_file), (3, h.zoom_file), (4, h.teams_file)):
        day = dt.date.fromisoformat(sessions[f"workshop_{n}"]["planned_on"])
        joins = [
            h.Joined(dt_a.name, dt_a.email, h.at(day, 16), 70),
            h.Joined(dt_a.name, dt_a.email, h.at(day, 17, 5), 85),
            h.Joined(esl_a.name, esl_a.email, h.at(day, 16), 40),
            h.Joined("Somebody", None, h.at(day, 16), 150),
        ]
        resp = api.upload(sessions[f"workshop_{n}"]["id"], maker(joins, day=day))
        assert resp.status_code == 201, resp.text
        assert (resp.json()["matched"], resp.json()["unmatched"]) == (2, 1)
    body = api.ok(
        api.client.get(
            f"/sessions/{sessions['workshop_1']['id']}/attendance", headers=api.evaluator()
        )
    )
    assert set(body) >= {"data"}
    rows = {r["staff_id"]: r for r in body["data"] if r["staff_id"]}
    assert all(ATTENDANCE_ROW <= set(r) for r in body["data"])
    assert {k: rows[dt_a.id][k] for k in ATTENDANCE_ROW} == {
        "urn": a, "staff_id": dt_a.id, "role": "designated_teacher", "minutes": 150.0, "status": "present"
    }  # fmt: skip
    assert rows[esl_a.id]["status"] == "partial"
    unmatched = api.ok(
        api.client.get(
            f"/sessions/{sessions['workshop_1']['id']}/attendance/unmatched", headers=api.delivery()
        )
    )
    assert [u["name"] for u in unmatched["data"]] == ["Somebody"]

    rule = api.frozen_rule()
    service = api.role("service", sub="service:analytics")
    one = api.ok(api.client.get(f"/dosage/{a}", headers=service))
    assert {k: one[k] for k in DOSAGE} == {
        "urn": a, "workshops_attended": 4, "sessions_attended": 4, "minutes": 760.0,
        "complier": True, "rule_version": rule["version"],
    }  # fmt: skip
    page = api.ok(api.client.get("/dosage", headers=service, params={"limit": 2}))
    rows = list(page["data"])
    while page["next_cursor"]:
        page = api.ok(
            api.client.get(
                "/dosage", headers=service, params={"limit": 2, "cursor": page["next_cursor"]}
            )
        )
        rows += page["data"]
    assert sorted(r["urn"] for r in rows) == sorted(world.intervention("202"))
    assert [r["complier"] for r in rows if r["urn"] != a] == [False] * (len(rows) - 1)
    assert all(DOSAGE <= set(r) and r["rule_version"] == rule["version"] for r in rows)
