"""The log: canonical entries, signed checkpoints, proofs, export, verification and tampering."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, col, select

from randomisation import verifier
from randomisation.main import create_app
from randomisation.models import LogEntry


def run_to_execution(client, keys, make_run, freeze, schools, *, test=False):
    run = make_run(test=test)
    freeze(run["id"], schools({"E09000001": 5, "E09000002": 4}))
    resp = client.post(
        f"/runs/{run['id']}/execute", json={"witness": None}, headers=keys.headers("trial_manager")
    )
    assert resp.status_code == 200, resp.text
    return run


def export(client, keys, **params) -> bytes:
    resp = client.get("/log/export", params=params, headers=keys.headers("auditor"))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/jsonl")
    return resp.content


def jwks(client) -> dict:
    resp = client.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    return resp.json()


def tamper(engine, index: int, new_canonical: str) -> None:
    """Rewrite one stored entry directly in the database, as a superuser could."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            text("UPDATE log_entry SET canonical = :c WHERE entry_index = :i"),
            {"c": new_canonical, "i": index},
        )


def test_entries_are_canonical_chained_and_exported_byte_exact(
    client, keys, make_run, freeze, schools, engine
):
    run_to_execution(client, keys, make_run, freeze, schools)
    body = export(client, keys)
    lines = body.split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    with Session(engine) as session:
        rows = session.exec(select(LogEntry).order_by(col(LogEntry.entry_index))).all()
    assert [r.canonical.encode() for r in rows] == lines
    prev = verifier.GENESIS_PREV_HASH
    for position, (row, line) in enumerate(zip(rows, lines, strict=True)):
        entry = json.loads(line)
        assert verifier.canonical_json(entry) == line
        assert entry["index"] == position
        assert entry["prev_hash"] == prev
        assert entry["entry_hash"] == verifier.compute_entry_hash(entry)
        assert verifier.is_rfc3339_utc(entry["timestamp"])
        assert row.leaf_hash == verifier.leaf_hash(line).hex()
        prev = entry["entry_hash"]
    types = [json.loads(line)["type"] for line in lines]
    # The signing key is registered (and logged) when the service starts on this database.
    assert types == [
        "key.registered",
        "scheme.created",
        "run.created",
        "run.frozen",
        "run.executed",
    ]
    frozen = json.loads(lines[3])["payload"]
    assert frozen["algorithm"] == "stratified-balanced-v1"
    assert frozen["strata_attributes"] == ["la_code"]
    assert frozen["list_sha256"] == verifier.list_sha256(frozen["schools"])
    assert all(set(s) == {"urn", "stratum"} for s in frozen["schools"])
    executed = json.loads(lines[4])
    assert executed["actor"] == "test-trial_manager"
    assert set(executed["payload"]) >= {
        "run_id",
        "seed",
        "witness",
        "effective_seed",
        "allocations",
    }
    assert "test" not in executed


def test_test_mode_entries_are_marked(client, keys, make_run, freeze, schools):
    run_to_execution(client, keys, make_run, freeze, schools, test=True)
    entries = [json.loads(line) for line in export(client, keys).splitlines()]
    assert [e.get("test") for e in entries] == [None, True, True, True, True]
    live = client.get("/log", params={"test": "false"}, headers=keys.headers("auditor"))
    assert [e["type"] for e in live.json()["data"]] == ["key.registered"]


def test_checkpoint_verifies_with_the_published_jwks(client, keys, make_run, freeze, schools):
    run_to_execution(client, keys, make_run, freeze, schools)
    resp = client.get("/log/checkpoint", headers=keys.headers("auditor"))
    assert resp.status_code == 200
    cp = resp.json()
    keyset = jwks(client)
    payload = verifier.verify_checkpoint(cp["checkpoint"], keyset)
    lines = export(client, keys).splitlines()
    assert payload["tree_size"] == cp["tree_size"] == len(lines)
    root = verifier.merkle_root([verifier.leaf_hash(line) for line in lines])
    assert payload["root_hash"] == cp["root_hash"] == root.hex()
    assert json.loads(lines[0])["type"] == "key.registered"
    assert json.loads(lines[0])["payload"]["kid"] == cp["kid"]

    earlier = client.get(
        "/log/checkpoint", params={"tree_size": 2}, headers=keys.headers("auditor")
    ).json()
    assert verifier.verify_checkpoint(earlier["checkpoint"], keyset)["tree_size"] == 2
    assert (
        earlier["root_hash"]
        == verifier.merkle_root([verifier.leaf_hash(line) for line in lines[:2]]).hex()
    )
    too_big = client.get(
        "/log/checkpoint", params={"tree_size": 999}, headers=keys.headers("auditor")
    )
    assert too_big.status_code == 422


def test_inclusion_and_consistency_proofs_verify(client, keys, make_run, freeze, schools):
    run_to_execution(client, keys, make_run, freeze, schools)
    run_to_execution(client, keys, make_run, freeze, schools)
    lines = export(client, keys).splitlines()
    n = len(lines)
    leaves = [verifier.leaf_hash(line) for line in lines]
    for size in range(1, n + 1):
        root = verifier.merkle_root(leaves[:size])
        for index in range(size):
            proof = client.get(
                "/log/proofs/inclusion",
                params={"index": index, "tree_size": size},
                headers=keys.headers("auditor"),
            ).json()
            assert proof["root_hash"] == root.hex()
            assert verifier.verify_inclusion(
                leaves[index], index, size, [bytes.fromhex(p) for p in proof["proof"]], root
            )
        for first in range(size + 1):
            proof = client.get(
                "/log/proofs/consistency",
                params={"first": first, "second": size},
                headers=keys.headers("trial_manager"),
            ).json()
            assert verifier.verify_consistency(
                first,
                size,
                bytes.fromhex(proof["first_root"]),
                root,
                [bytes.fromhex(p) for p in proof["proof"]],
            )
            assert proof["first_root"] == verifier.merkle_root(leaves[:first]).hex()
    bad = client.get(
        "/log/proofs/inclusion",
        params={"index": n, "tree_size": n},
        headers=keys.headers("auditor"),
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


def test_log_listing_filters_and_paginates(client, keys, make_run, freeze, schools):
    run = run_to_execution(client, keys, make_run, freeze, schools)
    headers = keys.headers("auditor")
    by_run = client.get("/log", params={"run_id": run["id"]}, headers=headers).json()
    assert [e["type"] for e in by_run["data"]] == ["run.created", "run.frozen", "run.executed"]
    page = client.get("/log", params={"limit": 2}, headers=headers).json()
    assert page["count"] == 5 and len(page["data"]) == 2 and page["next_cursor"]
    rest = client.get(
        "/log", params={"limit": 2, "cursor": page["next_cursor"]}, headers=headers
    ).json()
    assert [e["index"] for e in page["data"] + rest["data"]] == [0, 1, 2, 3]
    assert rest["next_cursor"]
    future = client.get("/log", params={"since": "2999-01-01T00:00:00Z"}, headers=headers).json()
    assert future["count"] == 0


def test_verify_passes_then_names_a_tampered_entry(client, keys, make_run, freeze, schools, engine):
    run_to_execution(client, keys, make_run, freeze, schools)
    report = client.get("/log/verify", headers=keys.headers("auditor")).json()
    assert report["ok"] is True and report["problems"] == []
    assert report["runs_rederived"] == 1

    with Session(engine) as session:
        row = session.exec(select(LogEntry).where(LogEntry.entry_type == "run.executed")).one()
        entry = json.loads(row.canonical)
    first = entry["payload"]["allocations"][0]
    first["arm"] = "control" if first["arm"] == "intervention" else "intervention"
    tamper(engine, row.entry_index, verifier.canonical_json(entry).decode())

    report = client.get("/log/verify", headers=keys.headers("auditor")).json()
    assert report["ok"] is False
    named = {(p["index"], p["type"]) for p in report["problems"]}
    assert (row.entry_index, "run.executed") in named
    messages = " ".join(p["message"] for p in report["problems"])
    assert "entry_hash" in messages and "altered" in messages
    assert f"URN {first['urn']}" in messages  # the allocation table disagrees with the log


def test_offline_verifier_accepts_the_export_and_rejects_tampering(
    client, keys, make_run, freeze, schools, engine, tmp_path
):
    run_to_execution(client, keys, make_run, freeze, schools)
    checkpoint = client.get("/log/checkpoint", headers=keys.headers("auditor")).json()
    (tmp_path / "checkpoint.json").write_text(json.dumps(checkpoint))
    (tmp_path / "jwks.json").write_text(json.dumps(jwks(client)))
    (tmp_path / "log.jsonl").write_bytes(export(client, keys, tree_size=checkpoint["tree_size"]))

    def offline() -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "randomisation.verifier",
                str(tmp_path / "log.jsonl"),
                "--jwks",
                str(tmp_path / "jwks.json"),
                "--checkpoint",
                str(tmp_path / "checkpoint.json"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    ok = offline()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK:")

    with Session(engine) as session:
        row = session.exec(select(LogEntry).where(LogEntry.entry_type == "run.frozen")).one()
        entry = json.loads(row.canonical)
    entry["payload"]["schools"].pop()  # quietly drop a school from the frozen list
    tamper(engine, row.entry_index, verifier.canonical_json(entry).decode())
    (tmp_path / "log.jsonl").write_bytes(export(client, keys, tree_size=checkpoint["tree_size"]))
    bad = offline()
    assert bad.returncode == 1, bad.stdout
    assert bad.stdout.startswith("FAIL:")
    assert f"entry {row.entry_index} (run.frozen)" in bad.stdout
    assert "checkpoint 1" in bad.stdout  # the signed root no longer matches


@pytest.mark.postgres_only
def test_log_table_refuses_update_delete_and_truncate_even_for_its_owner(
    client, keys, make_run, engine
):
    make_run()
    for statement in (
        "UPDATE log_entry SET actor = 'someone else'",
        "DELETE FROM log_entry",
        "TRUNCATE log_entry",
    ):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with Session(engine) as session:
        assert len(session.exec(select(LogEntry)).all()) == 3


def test_key_rotation_is_logged_and_old_checkpoints_still_verify(
    client, keys, settings, make_run, tmp_path
):
    make_run()
    old = client.get("/log/checkpoint", headers=keys.headers("auditor")).json()
    rotated = settings.model_copy(update={"signing_key_file": str(tmp_path / "new-key.pem")})
    with TestClient(create_app(rotated)) as second:
        new = second.get("/log/checkpoint", headers=keys.headers("auditor")).json()
        keyset = second.get("/.well-known/jwks.json").json()
        entries = [json.loads(line) for line in export(second, keys).splitlines()]
    assert new["kid"] != old["kid"]
    assert {k["kid"] for k in keyset["keys"]} == {old["kid"], new["kid"]}
    assert verifier.verify_checkpoint(old["checkpoint"], keyset)["tree_size"] == old["tree_size"]
    assert verifier.verify_checkpoint(new["checkpoint"], keyset)["tree_size"] == new["tree_size"]
    rotation = [e for e in entries if e["type"] == "key.rotated"]
    assert len(rotation) == 1
    assert rotation[0]["payload"]["previous_kid"] == old["kid"]
    assert rotation[0]["payload"]["kid"] == new["kid"]
    assert [e["type"] for e in entries].count("key.registered") == 1


def test_concurrent_appends_never_fork_the_chain(client, keys):
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def create(n: int) -> None:
        barrier.wait()
        for i in range(3):
            resp = client.post("/schemes", json={"name": f"scheme {n}.{i}"}, headers=keys.headers())
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [201] * 24
    entries = [json.loads(line) for line in export(client, keys).splitlines()]
    assert [e["index"] for e in entries] == list(range(25))
    report = client.get("/log/verify", headers=keys.headers("auditor")).json()
    assert report["ok"], report["problems"]


def test_verify_notices_an_in_error_flag_the_log_does_not_explain(
    client, keys, make_run, freeze, schools, engine
):
    run_to_execution(client, keys, make_run, freeze, schools)
    with engine.begin() as conn:
        urn = conn.execute(text("SELECT min(urn) FROM allocation")).scalar()
        conn.execute(
            text("UPDATE allocation SET in_error = :t WHERE urn = :u"), {"t": True, "u": urn}
        )
    report = client.get("/log/verify", headers=keys.headers("auditor")).json()
    assert report["ok"] is False
    assert any(f"URN {urn} is marked in error" in p["message"] for p in report["problems"])
