"""Allocations: scope by role, test-mode concealment, in-error flags, the audit trail."""

from __future__ import annotations

import pytest


@pytest.fixture
def executed(client, keys, make_run, freeze, schools):
    """A live run over two LAs, executed; returns {la_code: [urn, ...]}."""
    run = make_run()
    items = schools({"E09000001": 4, "E09000002": 3})
    freeze(run["id"], items)
    assert client.post(f"/runs/{run['id']}/execute", headers=keys.headers()).status_code == 200
    by_la: dict[str, list[int]] = {}
    for item in items:
        by_la.setdefault(item["la_code"], []).append(item["urn"])
    return {"run": run, "by_la": by_la}


@pytest.mark.parametrize("role", ["trial_manager", "evaluator", "delivery", "auditor", "service"])
def test_wide_roles_see_every_live_allocation(client, keys, executed, role):
    resp = client.get("/allocations", headers=keys.headers(role))
    assert resp.status_code == 200
    assert resp.json()["count"] == 7
    one = executed["by_la"]["E09000002"][0]
    got = client.get(f"/allocations/{one}", headers=keys.headers(role)).json()
    assert got["urn"] == one and got["arm"] in {"intervention", "control"}
    assert got["la_code"] == "E09000002" and got["in_error"] is False


def test_virtual_school_sees_only_its_la(client, keys, executed):
    headers = keys.headers("virtual_school", la_code="E09000001")
    data = client.get("/allocations", headers=headers).json()
    assert data["count"] == 4
    assert {a["la_code"] for a in data["data"]} == {"E09000001"}
    mine = executed["by_la"]["E09000001"][0]
    theirs = executed["by_la"]["E09000002"][0]
    assert client.get(f"/allocations/{mine}", headers=headers).status_code == 200
    # Finding 5: another LA's allocated school is answered exactly as an unallocated one.
    other = client.get(f"/allocations/{theirs}", headers=headers)
    never = client.get("/allocations/999999", headers=headers)
    assert other.status_code == never.status_code == 404
    assert other.json()["type"] == never.json()["type"]
    assert other.json()["detail"].replace(str(theirs), "X") == never.json()["detail"].replace(
        "999999", "X"
    )
    asked = client.get("/allocations", params={"la_code": "E09000002"}, headers=headers).json()
    assert asked["count"] == 0
    # A combined token reads everything through its wide role.
    both = keys.headers(["auditor", "virtual_school"], la_code="E09000001")
    assert client.get(f"/allocations/{theirs}", headers=both).status_code == 200


def test_school_sees_only_itself(client, keys, executed):
    mine, other = executed["by_la"]["E09000001"][:2]
    headers = keys.headers("school", urn=mine)
    own = client.get(f"/allocations/{mine}", headers=headers)
    assert own.status_code == 200 and own.json()["urn"] == mine
    # Another school's allocation looks exactly like none at all: no probing for other schools.
    theirs = client.get(f"/allocations/{other}", headers=headers)
    unknown = client.get("/allocations/999999", headers=headers)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["type"] == unknown.json()["type"]
    # Not a URN at all (finding 3): a clear 422, never a database error.
    for bad in ("999999999", "2147483648", str(2**64), "12"):
        resp = client.get(f"/allocations/{bad}", headers=headers)
        assert resp.status_code == 422 and "urn" in resp.json()["detail"], resp.text
    listed = client.get("/allocations", headers=headers).json()
    assert [a["urn"] for a in listed["data"]] == [mine]


def test_school_sees_nothing_before_execution(client, keys, make_run, freeze, schools):
    run = make_run()
    items = schools({"E09000001": 2})
    freeze(run["id"], items)
    urn = items[0]["urn"]
    headers = keys.headers("school", urn=urn)
    assert client.get(f"/allocations/{urn}", headers=headers).status_code == 404
    assert client.get("/allocations", headers=headers).json()["count"] == 0
    assert client.post(f"/runs/{run['id']}/execute", headers=keys.headers()).status_code == 200
    assert client.get(f"/allocations/{urn}", headers=headers).status_code == 200


def test_test_mode_allocations_only_for_trial_managers(client, keys, make_run, freeze, schools):
    run = make_run(test=True)
    items = schools({"E09000001": 2})
    freeze(run["id"], items)
    assert client.post(f"/runs/{run['id']}/execute", headers=keys.headers()).status_code == 200
    urn = items[0]["urn"]
    assert client.get("/allocations", headers=keys.headers("evaluator")).json()["count"] == 0
    assert (
        client.get(f"/allocations/{urn}", headers=keys.headers("trial_manager")).status_code == 404
    )
    tm = client.get(f"/allocations/{urn}", params={"test": "true"}, headers=keys.headers())
    assert tm.status_code == 200 and tm.json()["test"] is True
    for role in ("evaluator", "auditor"):
        refused = client.get("/allocations", params={"test": "true"}, headers=keys.headers(role))
        assert refused.status_code == 403
    school = client.get(
        f"/allocations/{urn}", params={"test": "true"}, headers=keys.headers("school", urn=urn)
    )
    assert school.status_code == 403


def test_mark_in_error_flags_logs_and_audits_but_never_changes_the_arm(
    client, keys, executed, counts
):
    urn = executed["by_la"]["E09000001"][0]
    before = client.get(f"/allocations/{urn}", headers=keys.headers()).json()
    entries, allocations = counts()
    resp = client.post(
        f"/allocations/{urn}/in-error",
        json={"reason": "school had closed before the freeze"},
        headers=keys.headers(),
    )
    assert resp.status_code == 200
    after = resp.json()
    assert after["in_error"] is True
    assert after["in_error_reason"] == "school had closed before the freeze"
    assert after["arm"] == before["arm"] and after["run_id"] == before["run_id"]
    assert counts() == (entries + 1, allocations)
    logged = client.get(
        "/log", params={"type": "allocation.marked_in_error"}, headers=keys.headers("auditor")
    ).json()["data"][0]
    assert logged["payload"] == {
        "run_id": before["run_id"],
        "urn": urn,
        "arm": before["arm"],
        "reason": "school had closed before the freeze",
    }
    # Analyses see the flag.
    seen = client.get(f"/allocations/{urn}", headers=keys.headers("evaluator")).json()
    assert seen["in_error"] is True
    again = client.post(
        f"/allocations/{urn}/in-error", json={"reason": "again"}, headers=keys.headers()
    )
    assert again.status_code == 409
    missing = client.post(
        "/allocations/999999/in-error", json={"reason": "x"}, headers=keys.headers()
    )
    assert missing.status_code == 404
    assert client.get("/log/verify", headers=keys.headers("auditor")).json()["ok"] is True
    audit = client.get(
        "/audit-events",
        params={"action": "allocation.marked_in_error"},
        headers=keys.headers("auditor"),
    ).json()["data"]
    assert audit[0]["reason"] == "school had closed before the freeze"
    assert audit[0]["actor"] == "test-trial_manager"


def test_every_change_is_audited(client, keys, executed):
    actions = [
        e["action"]
        for e in client.get("/audit-events", headers=keys.headers("auditor")).json()["data"]
    ]
    assert actions == [
        "key.registered",
        "scheme.created",
        "run.created",
        "run.frozen",
        "run.executed",
    ]


def test_mass_assignment_of_arm_is_refused(client, keys, executed):
    urn = executed["by_la"]["E09000001"][0]
    resp = client.post(
        f"/allocations/{urn}/in-error",
        json={"reason": "x", "arm": "intervention"},
        headers=keys.headers(),
    )
    assert resp.status_code == 422
