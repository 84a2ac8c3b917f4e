"""Test-mode schemes: each is a namespace of its own, so rehearsals can be repeated.

Live: a school is allocated at most once, whatever the scheme. Test: at most once per test
scheme, so a rehearsal follows the live rules exactly, and a new test scheme can rehearse again
with the same schools. Neither side sees, excludes or blocks the other.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from randomisation import verifier
from randomisation.errors import NothingToRandomise
from randomisation.models import Allocation, LogEntry


def execute(client, keys, run_id: str) -> None:
    resp = client.post(f"/runs/{run_id}/execute", headers=keys.headers("trial_manager"))
    assert resp.status_code == 200, resp.text


def another_run(client, keys, scheme_id: str) -> dict:
    """A further run in an existing scheme."""
    resp = client.post(
        f"/schemes/{scheme_id}/runs", json={"label": "again"}, headers=keys.headers()
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def frozen_urns(engine, run_id: str) -> list[int]:
    with Session(engine) as session:
        entry = session.exec(
            select(LogEntry).where(LogEntry.run_id == run_id, LogEntry.entry_type == "run.frozen")
        ).one()
    return [s["urn"] for s in json.loads(entry.canonical)["payload"]["schools"]]


def executed_payload(engine, run_id: str) -> dict:
    with Session(engine) as session:
        entry = session.exec(
            select(LogEntry).where(LogEntry.run_id == run_id, LogEntry.entry_type == "run.executed")
        ).one()
    return json.loads(entry.canonical)["payload"]


def rehearsal_allocations(client, keys, **params) -> list[dict]:
    resp = client.get(
        "/allocations", params={"test": "true", **params}, headers=keys.headers("trial_manager")
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def offline_report(client, keys):
    export = client.get("/log/export", headers=keys.headers("auditor"))
    assert export.status_code == 200
    checkpoint = client.get("/log/checkpoint", headers=keys.headers("auditor")).json()
    jwks = client.get("/.well-known/jwks.json").json()
    return verifier.verify_log(
        export.content.splitlines(keepends=True), jwks, [checkpoint["checkpoint"]]
    )


def test_two_test_schemes_can_each_rehearse_the_same_schools(
    client, keys, make_run, freeze, schools, engine
):
    items = schools({"E09000001": 4, "E09000002": 3})
    first = make_run(test=True)
    freeze(first["id"], items)
    execute(client, keys, first["id"])
    second = make_run(test=True)  # a new test scheme: a second rehearsal
    freeze(second["id"], items)
    assert frozen_urns(engine, second["id"]) == frozen_urns(engine, first["id"])
    execute(client, keys, second["id"])

    seeds = {executed_payload(engine, run["id"])["seed"] for run in (first, second)}
    assert len(seeds) == 2  # each run draws its own seed
    with Session(engine) as session:
        namespaces = set(session.exec(select(Allocation.namespace)).all())
    assert namespaces == {f"test:{first['scheme_id']}", f"test:{second['scheme_id']}"}

    assert len(rehearsal_allocations(client, keys)) == 14
    for run in (first, second):
        mine = rehearsal_allocations(client, keys, scheme_id=run["scheme_id"])
        assert len(mine) == 7 and {a["run_id"] for a in mine} == {run["id"]}
        assert all(a["test"] for a in mine)

    urn = items[0]["urn"]
    latest = client.get(f"/allocations/{urn}", params={"test": "true"}, headers=keys.headers())
    assert latest.status_code == 200 and latest.json()["run_id"] == second["id"]
    earlier = client.get(
        f"/allocations/{urn}",
        params={"test": "true", "scheme_id": first["scheme_id"]},
        headers=keys.headers(),
    )
    assert earlier.status_code == 200 and earlier.json()["run_id"] == first["id"]
    # Nothing live was made.
    assert client.get("/allocations", headers=keys.headers()).json()["count"] == 0
    assert client.get(f"/allocations/{urn}", headers=keys.headers()).status_code == 404

    report = client.get("/log/verify", headers=keys.headers("auditor")).json()
    assert report["ok"] is True, report["problems"]
    assert report["runs_rederived"] == 2
    offline = offline_report(client, keys)
    assert offline.ok, offline.problems
    assert offline.runs_rederived == 2 and offline.checkpoints_verified == 1


def test_within_one_test_scheme_a_school_is_allocated_once(
    client, keys, make_run, freeze, schools, engine
):
    items = schools({"E09000001": 4})
    first = make_run(test=True)
    freeze(first["id"], items)
    execute(client, keys, first["id"])

    # The same scheme again: already-allocated schools are excluded, as in live.
    second = another_run(client, keys, first["scheme_id"])
    joiners = schools({"E09000001": 2})
    freeze(second["id"], items + joiners)
    assert frozen_urns(engine, second["id"]) == sorted(j["urn"] for j in joiners)
    third = another_run(client, keys, first["scheme_id"])
    with pytest.raises(NothingToRandomise):
        freeze(third["id"], items)  # allocated, or waiting in the second run


def test_a_waiting_school_is_held_only_within_its_own_test_scheme(
    make_run, freeze, schools, engine, client, keys
):
    items = schools({"E09000001": 3})
    first = make_run(test=True)
    freeze(first["id"], items)
    same_scheme = another_run(client, keys, first["scheme_id"])
    extra = schools({"E09000001": 1})
    freeze(same_scheme["id"], items + extra)
    assert frozen_urns(engine, same_scheme["id"]) == [extra[0]["urn"]]
    other_scheme = make_run(test=True)
    freeze(other_scheme["id"], items)  # not held by another scheme's frozen run
    assert frozen_urns(engine, other_scheme["id"]) == sorted(i["urn"] for i in items)


def test_execute_refuses_a_school_allocated_in_the_same_test_scheme_since_the_freeze(
    client, keys, make_run, freeze, schools, engine, counts
):
    items = schools({"E09000001": 3})
    run = make_run(test=True)
    freeze(run["id"], items)
    other = make_run(test=True)
    with Session(engine) as session:
        # Another test scheme's allocation of the school does not stand in the way...
        session.add(
            Allocation(
                run_id=other["id"],
                urn=items[0]["urn"],
                arm="control",
                stratum="E09000001",
                namespace=f"test:{other['scheme_id']}",
                test=True,
            )
        )
        # ...but one in this run's own scheme (appeared by some other route) does.
        session.add(
            Allocation(
                run_id=run["id"],
                urn=items[1]["urn"],
                arm="control",
                stratum="E09000001",
                namespace=f"test:{run['scheme_id']}",
                test=True,
            )
        )
        session.commit()
    before = counts()
    resp = client.post(f"/runs/{run['id']}/execute", headers=keys.headers())
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["urns"] == [items[1]["urn"]]
    assert counts() == before


def test_the_database_allows_a_school_once_per_test_scheme(make_run, engine):
    from sqlalchemy.exc import IntegrityError

    run = make_run(test=True)
    mine = f"test:{run['scheme_id']}"

    def add(namespace: str) -> None:
        with Session(engine) as session:
            session.add(
                Allocation(run_id=run["id"], urn=7, arm="control", stratum="x", namespace=namespace)
            )
            session.commit()

    add(mine)
    add("test:" + "f" * 32)  # another test scheme
    add("live")
    with pytest.raises(IntegrityError):
        add(mine)


def test_test_allocations_do_not_exclude_or_hold_schools_from_live(
    client, keys, make_run, freeze, schools, engine
):
    items = schools({"E09000001": 4})
    rehearsal = make_run(test=True)
    freeze(rehearsal["id"], items)
    execute(client, keys, rehearsal["id"])
    waiting = make_run(test=True)
    freeze(waiting["id"], items)  # a frozen test run does not hold schools from live either

    live = make_run()
    freeze(live["id"], items)
    assert frozen_urns(engine, live["id"]) == sorted(i["urn"] for i in items)
    execute(client, keys, live["id"])
    live_list = client.get("/allocations", headers=keys.headers("evaluator")).json()
    assert {a["run_id"] for a in live_list["data"]} == {live["id"]}
    got = client.get(f"/allocations/{items[0]['urn']}", headers=keys.headers()).json()
    assert got["run_id"] == live["id"] and got["test"] is False

    # ...and the live allocation leaves the waiting rehearsal executable.
    execute(client, keys, waiting["id"])
    # Live rules unchanged: a second live run finds nothing left.
    again = make_run()
    with pytest.raises(NothingToRandomise):
        freeze(again["id"], items)
    report = client.get("/log/verify", headers=keys.headers("auditor")).json()
    assert report["ok"] is True, report["problems"]
    assert offline_report(client, keys).ok


def test_live_scheme_filter_and_test_scheme_filter(client, keys, make_run, freeze, schools):
    items = schools({"E09000001": 2})
    live = make_run()
    freeze(live["id"], items)
    execute(client, keys, live["id"])
    rehearsal = make_run(test=True)
    freeze(rehearsal["id"], items)
    execute(client, keys, rehearsal["id"])
    headers = keys.headers("trial_manager")
    by_scheme = client.get("/allocations", params={"scheme_id": live["scheme_id"]}, headers=headers)
    assert by_scheme.json()["count"] == 2
    # A test scheme's id does not reach its allocations without test=true.
    hidden = client.get(
        "/allocations", params={"scheme_id": rehearsal["scheme_id"]}, headers=headers
    )
    assert hidden.json()["count"] == 0
    refused = client.get(
        "/allocations",
        params={"test": "true", "scheme_id": rehearsal["scheme_id"]},
        headers=keys.headers("evaluator"),
    )
    assert refused.status_code == 403


def test_mark_in_error_in_a_test_scheme(client, keys, make_run, freeze, schools, engine):
    items = schools({"E09000001": 2})
    urn = items[0]["urn"]
    live = make_run()
    freeze(live["id"], items)
    execute(client, keys, live["id"])
    first = make_run(test=True)
    freeze(first["id"], items)
    execute(client, keys, first["id"])

    # One test allocation: no scheme needed.
    path = f"/allocations/{urn}/in-error"
    body = {"reason": "rehearsal slip"}
    only = client.post(path, params={"test": "true"}, json=body, headers=keys.headers())
    assert only.status_code == 200 and only.json()["run_id"] == first["id"]
    assert only.json()["in_error"] is True

    second = make_run(test=True)
    freeze(second["id"], items)
    execute(client, keys, second["id"])
    other = items[1]["urn"]
    ambiguous = client.post(
        f"/allocations/{other}/in-error", params={"test": "true"}, json=body, headers=keys.headers()
    )
    assert ambiguous.status_code == 409
    assert ambiguous.headers["content-type"] == "application/problem+json"
    problem = ambiguous.json()
    assert problem["type"].endswith("/ambiguous-test-allocation")
    assert problem["scheme_ids"] == sorted([first["scheme_id"], second["scheme_id"]])
    named = client.post(
        f"/allocations/{other}/in-error",
        params={"test": "true", "scheme_id": second["scheme_id"]},
        json=body,
        headers=keys.headers(),
    )
    assert named.status_code == 200 and named.json()["run_id"] == second["id"]

    # The live allocations and the other rehearsal are untouched.
    for school in (urn, other):
        seen = client.get(f"/allocations/{school}", headers=keys.headers()).json()
        assert seen["in_error"] is False and seen["run_id"] == live["id"]
    untouched = client.get(
        f"/allocations/{other}",
        params={"test": "true", "scheme_id": first["scheme_id"]},
        headers=keys.headers(),
    ).json()
    assert untouched["in_error"] is False
    report = client.get("/log/verify", headers=keys.headers("auditor")).json()
    assert report["ok"] is True, report["problems"]


def test_verify_notices_an_allocation_moved_to_another_test_scheme(
    client, keys, make_run, freeze, schools, engine
):
    items = schools({"E09000001": 2})
    first = make_run(test=True)
    freeze(first["id"], items)
    execute(client, keys, first["id"])
    second = make_run(test=True)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE allocation SET namespace = :n WHERE urn = :u"),
            {"n": f"test:{second['scheme_id']}", "u": items[0]["urn"]},
        )
    report = client.get("/log/verify", headers=keys.headers("auditor")).json()
    assert report["ok"] is False
    messages = " ".join(p["message"] for p in report["problems"])
    assert f"allocation of URN {items[0]['urn']} (run {first['id']}) is not in the log" in messages
    assert f"URN {items[0]['urn']} (run {first['id']}, namespace test:{first['scheme_id']})" in (
        messages
    )
