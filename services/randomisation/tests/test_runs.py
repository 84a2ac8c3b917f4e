"""Runs end to end through the API: freeze (explicit lists), execute, balance, refusals."""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict

from sqlmodel import Session, select

from randomisation import verifier
from randomisation.models import Allocation, LogEntry


def execute(client, keys, run_id, witness=None):
    return client.post(
        f"/runs/{run_id}/execute", json={"witness": witness}, headers=keys.headers("trial_manager")
    )


def test_execute_allocates_balanced_per_stratum(client, keys, make_run, freeze, schools, engine):
    run = make_run()
    items = schools({"E09000001": 7, "E09000002": 10, "E06000003": 1, "E08000004": 4})
    freeze(run["id"], items)
    resp = execute(client, keys, run["id"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "executed"
    assert body["notifications"] == {"pending": 22, "acknowledged": 0, "refused": 0}

    with Session(engine) as session:
        rows = session.exec(select(Allocation)).all()
    assert len(rows) == 22
    by_la: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        by_la[row.la_code][row.arm] += 1
        assert row.stratum == row.la_code
    for la_code, arms in by_la.items():
        assert abs(arms["intervention"] - arms["control"]) <= 1, (la_code, arms)
    assert by_la["E09000002"] == Counter(intervention=5, control=5)


def test_allocation_follows_the_logged_seed_and_list(
    client, keys, make_run, freeze, schools, engine
):
    run = make_run()
    freeze(run["id"], schools({"E09000001": 9, "E09000002": 6}))
    assert execute(client, keys, run["id"], witness="FTSE 100 close 2026-11-24").status_code == 200
    with Session(engine) as session:
        entries = {
            e.entry_type: verifier.canonical_json(json.loads(e.canonical))
            for e in session.exec(select(LogEntry).where(LogEntry.run_id == run["id"])).all()
        }
        frozen = json.loads(entries["run.frozen"])["payload"]
        executed = json.loads(entries["run.executed"])["payload"]
        stored = {a.urn: a.arm for a in session.exec(select(Allocation)).all()}
    assert executed["witness"] == "FTSE 100 close 2026-11-24"
    seed = bytes.fromhex(executed["seed"])
    assert executed["effective_seed"] == verifier.effective_seed(seed, executed["witness"]).hex()
    again = verifier.allocate(frozen["schools"], bytes.fromhex(executed["effective_seed"]))
    assert again == executed["allocations"]
    assert stored == {a["urn"]: a["arm"] for a in again}


def test_executing_twice_is_refused_and_writes_nothing(
    client, keys, make_run, freeze, schools, counts
):
    run = make_run()
    freeze(run["id"], schools({"E09000001": 4}))
    assert execute(client, keys, run["id"]).status_code == 200
    before = counts()
    again = execute(client, keys, run["id"])
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert "executed" in again.json()["detail"]
    assert counts() == before


def test_concurrent_executes_one_wins_one_409(client, keys, make_run, freeze, schools, counts):
    run = make_run()
    freeze(run["id"], schools({"E09000001": 6, "E09000002": 5}))
    before = counts()
    barrier = threading.Barrier(2)
    results: list = []

    def go() -> None:
        barrier.wait()
        results.append(execute(client, keys, run["id"]))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.headers["content-type"] == "application/problem+json"
    entries, allocations = counts()
    assert (entries, allocations) == (before[0] + 1, before[1] + 11)


def test_execute_before_freeze_and_abandoned_runs_are_refused(client, keys, make_run, counts):
    run = make_run()
    before = counts()
    resp = execute(client, keys, run["id"])
    assert resp.status_code == 409 and "draft" in resp.json()["detail"]
    abandoned = client.post(
        f"/runs/{run['id']}/abandon",
        json={"reason": "wrong scheme"},
        headers=keys.headers("trial_manager"),
    )
    assert abandoned.status_code == 200 and abandoned.json()["status"] == "abandoned"
    assert counts() == (before[0] + 1, before[1])
    assert execute(client, keys, run["id"]).status_code == 409
    again = client.post(
        f"/runs/{run['id']}/abandon", json={"reason": "x"}, headers=keys.headers("trial_manager")
    )
    assert again.status_code == 409
    log = client.get("/log", params={"type": "run.abandoned"}, headers=keys.headers("auditor"))
    assert log.json()["data"][0]["payload"]["reason"] == "wrong scheme"


def test_a_large_run_is_balanced_in_every_stratum(client, keys, make_run, freeze, schools, engine):
    run = make_run()
    sizes = {f"E{900 + i:03d}": 20 + (i * 7) % 53 for i in range(60)}
    freeze(run["id"], schools(sizes))
    resp = execute(client, keys, run["id"])
    assert resp.status_code == 200, resp.text
    with Session(engine) as session:
        rows = session.exec(select(Allocation)).all()
    assert len(rows) == sum(sizes.values())
    by_la: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        by_la[row.la_code][row.arm] += 1
    assert set(by_la) == set(sizes)
    for la_code, n in sizes.items():
        arms = by_la[la_code]
        assert arms["intervention"] + arms["control"] == n
        assert abs(arms["intervention"] - arms["control"]) == n % 2
    report = client.get("/log/verify", headers=keys.headers("auditor")).json()
    assert report["ok"] and report["runs_rederived"] == 1
