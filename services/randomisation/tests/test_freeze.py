"""Freezing: what goes into the frozen list, and what refuses to freeze."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from randomisation import verifier
from randomisation.errors import MissingStratumAttribute, NothingToRandomise
from randomisation.models import Allocation, LogEntry, Run
from randomisation.runs import service as runs_service


def frozen_payload(engine, run_id):
    with Session(engine) as session:
        entry = session.exec(
            select(LogEntry).where(LogEntry.run_id == run_id, LogEntry.entry_type == "run.frozen")
        ).one()
    return json.loads(entry.canonical)["payload"]


def test_frozen_list_is_sorted_hashed_and_stratified(make_run, freeze, schools, engine):
    run = make_run()
    items = schools({"E09000002": 3, "E06000001": 2})
    freeze(run["id"], list(reversed(items)))
    payload = frozen_payload(engine, run["id"])
    assert payload["schools"] == verifier.freeze_schools(
        [{"urn": i["urn"], "stratum": i["la_code"]} for i in items]
    )
    assert [s["stratum"] for s in payload["schools"]] == ["E06000001"] * 2 + ["E09000002"] * 3
    assert payload["list_sha256"] == verifier.list_sha256(payload["schools"])
    with Session(engine) as session:
        stored = session.get(Run, run["id"])
    assert stored.status == "frozen" and stored.school_count == 5
    assert stored.list_sha256 == payload["list_sha256"]


def test_strata_from_several_attributes(make_run, freeze, schools, engine):
    run = make_run(strata=["la_code", "looked_after_flag"])
    items = schools({"E09000001": 2})
    freeze(run["id"], items)
    strata = {s["urn"]: s["stratum"] for s in frozen_payload(engine, run["id"])["schools"]}
    for item in items:
        flag = "true" if item["looked_after_flag"] else "false"
        assert strata[item["urn"]] == f"E09000001|{flag}"


def test_missing_attribute_refuses_to_freeze(make_run, freeze, schools, engine, counts):
    run = make_run(strata=["la_code", "phase"])
    items = schools({"E09000001": 3})
    del items[1]["phase"]
    before = counts()
    with pytest.raises(MissingStratumAttribute) as caught:
        freeze(run["id"], items)
    assert caught.value.status == 422 and caught.value.extensions["attribute"] == "phase"
    assert counts() == before
    with Session(engine) as session:
        assert session.get(Run, run["id"]).status == "draft"


def test_empty_list_refuses_to_freeze_and_writes_nothing(make_run, freeze, counts):
    run = make_run()
    before = counts()
    with pytest.raises(NothingToRandomise) as caught:
        freeze(run["id"], [])
    assert caught.value.status == 409
    assert counts() == before


def test_already_allocated_schools_are_excluded(client, keys, make_run, freeze, schools, engine):
    first = make_run()
    main = schools({"E09000001": 4})
    freeze(first["id"], main)
    assert client.post(f"/runs/{first['id']}/execute", headers=keys.headers()).status_code == 200

    late = make_run()
    joiners = schools({"E09000001": 2})
    freeze(late["id"], main + joiners)  # recruitment listed an allocated school again
    payload = frozen_payload(engine, late["id"])
    assert {s["urn"] for s in payload["schools"]} == {j["urn"] for j in joiners}
    assert {e["urn"] for e in payload["excluded"]} == {m["urn"] for m in main}

    # Only already-allocated schools: nothing left, nothing frozen.
    again = make_run()
    with pytest.raises(NothingToRandomise):
        freeze(again["id"], main)


def test_a_school_waiting_in_another_frozen_run_is_excluded(make_run, freeze, schools, engine):
    items = schools({"E09000001": 3})
    first, second = make_run(), make_run()
    freeze(first["id"], items)
    extra = schools({"E09000001": 1})
    freeze(second["id"], items + extra)
    assert [s["urn"] for s in frozen_payload(engine, second["id"])["schools"]] == [extra[0]["urn"]]


def test_test_runs_do_not_exclude_or_touch_live_allocations(
    client, keys, make_run, freeze, schools, engine
):
    items = schools({"E09000001": 4})
    live = make_run()
    freeze(live["id"], items)
    assert client.post(f"/runs/{live['id']}/execute", headers=keys.headers()).status_code == 200
    rehearsal = make_run(test=True)
    freeze(rehearsal["id"], items)  # a test run may use schools allocated live
    assert len(frozen_payload(engine, rehearsal["id"])["schools"]) == 4
    assert (
        client.post(f"/runs/{rehearsal['id']}/execute", headers=keys.headers()).status_code == 200
    )
    live_list = client.get("/allocations", headers=keys.headers("trial_manager")).json()
    assert {a["run_id"] for a in live_list["data"]} == {live["id"]}
    test_list = client.get(
        "/allocations", params={"test": "true"}, headers=keys.headers("trial_manager")
    ).json()
    assert {a["run_id"] for a in test_list["data"]} == {rehearsal["id"]}
    assert all(a["test"] for a in test_list["data"])


def test_freezing_twice_or_after_abandoning_is_refused(make_run, freeze, schools, engine, counts):
    run = make_run()
    freeze(run["id"], schools({"E09000001": 2}))
    before = counts()
    with pytest.raises(runs_service.RunStateConflict):
        freeze(run["id"], schools({"E09000001": 2}))
    assert counts() == before


def test_freeze_endpoint_reports_recruitment_outage_and_changes_nothing(
    client, keys, make_run, counts
):
    run = make_run()
    before = counts()
    resp = client.post(f"/runs/{run['id']}/freeze", headers=keys.headers("trial_manager"))
    assert resp.status_code == 503
    assert resp.headers["content-type"] == "application/problem+json"
    assert "recruitment" in resp.json()["detail"]
    assert counts() == before
    assert client.get(f"/runs/{run['id']}", headers=keys.headers()).json()["status"] == "draft"


def test_execute_refuses_when_a_school_was_allocated_elsewhere_since_the_freeze(
    client, keys, make_run, freeze, schools, engine, counts
):
    run = make_run()
    items = schools({"E09000001": 3})
    freeze(run["id"], items)
    other = make_run()
    # An allocation that appeared after the freeze by some other route (here: written directly).
    with Session(engine) as session:
        session.add(
            Allocation(
                run_id=other["id"],
                urn=items[0]["urn"],
                arm="control",
                stratum="E09000001",
                namespace="live",
            )
        )
        session.commit()
    before = counts()
    resp = client.post(f"/runs/{run['id']}/execute", headers=keys.headers())
    assert resp.status_code == 409, resp.text
    assert resp.json()["urns"] == [items[0]["urn"]]
    assert counts() == before
    assert client.get(f"/runs/{run['id']}", headers=keys.headers()).json()["status"] == "frozen"


def test_the_database_refuses_a_second_allocation_of_a_school(make_run, engine):
    run = make_run()
    with Session(engine) as session:
        session.add(
            Allocation(run_id=run["id"], urn=1, arm="control", stratum="x", namespace="live")
        )
        session.commit()
    with pytest.raises(IntegrityError), Session(engine) as session:
        session.add(
            Allocation(run_id=run["id"], urn=1, arm="intervention", stratum="x", namespace="live")
        )
        session.commit()
    with Session(engine) as session:  # the same school may appear once per test scheme
        for scheme_id in ("a" * 32, "b" * 32):
            session.add(
                Allocation(
                    run_id=run["id"],
                    urn=1,
                    arm="control",
                    stratum="x",
                    namespace=f"test:{scheme_id}",
                    test=True,
                )
            )
        session.commit()
