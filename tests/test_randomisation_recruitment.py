"""Randomisation and recruitment as real processes over real HTTP.

Recruitment's test kit (``rlc_testkit.recruitment.Api``) builds the schools through recruitment's own
public API; the randomisation service then freezes, executes and notifies recruitment. One test
stops recruitment after the freeze and shows the outbox loses nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData

from rlc_shared.db import make_engine
from rlc_testkit import AllocationSigner, Keys, LiveService, free_port, start_service, wipe

RECRUITMENT_ENV = {
    # The live process runs on today's date; the trial's 2021 deadlines are moved out of the way.
    "RECRUITMENT_EOI_DEADLINE": "2099-12-31",
    "RECRUITMENT_CONSENT_DEADLINE": "2099-12-31",
}


def wait_until(check, *, timeout: float = 30.0, what: str) -> Any:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


class Stack:
    """The two live services, and a way to stop and restart recruitment on its port."""

    def __init__(self, *, keys: Keys, tmp: Path, recruitment_db: str, randomisation_db: str):
        self.keys, self.tmp = keys, tmp
        self.recruitment_db = recruitment_db
        self.port = free_port()
        # Recruitment checks allocation statements against randomisation's published keys.
        self.randomisation_port = free_port()
        self.recruitment = self._start_recruitment()
        self.randomisation = start_service(
            "randomisation",
            database_url=randomisation_db,
            keys=keys,
            tmp=tmp,
            port=self.randomisation_port,
            extra_env={
                "RANDOMISATION_RECRUITMENT_URL": self.recruitment.url,
                "RANDOMISATION_SIGNING_KEY_FILE": str(tmp / "randomisation-signing.pem"),
                "RANDOMISATION_OUTBOX_INTERVAL_SECONDS": "0.2",
                "RANDOMISATION_OUTBOX_MAX_BACKOFF_SECONDS": "0.5",
                # Small batches, so draining takes several rounds of the worker.
                "RANDOMISATION_OUTBOX_BATCH_SIZE": "2",
                "RANDOMISATION_OUTBOUND_TIMEOUT_SECONDS": "2",
            },
        )

    def _start_recruitment(self) -> LiveService:
        return start_service(
            "recruitment",
            database_url=self.recruitment_db,
            keys=self.keys,
            tmp=self.tmp,
            port=self.port,
            extra_env=RECRUITMENT_ENV
            | {
                "RECRUITMENT_RANDOMISATION_JWKS_URL": (
                    f"http://127.0.0.1:{self.randomisation_port}/.well-known/jwks.json"
                )
            },
        )

    def restart_recruitment(self) -> None:
        self.recruitment = self._start_recruitment()

    def stop(self) -> None:
        self.randomisation.stop()
        self.recruitment.stop()


@pytest.fixture(scope="module")
def stack(migrated_database, keys, tmp_path_factory) -> Iterator[Stack]:
    recruitment_db = migrated_database("recruitment")
    randomisation_db = migrated_database("randomisation")
    live = Stack(
        keys=keys,
        tmp=tmp_path_factory.mktemp("xservice"),
        recruitment_db=recruitment_db,
        randomisation_db=randomisation_db,
    )
    try:
        yield live
    finally:
        live.stop()
        # Leave both shared test databases empty for whoever uses them next.
        for name, url in (("recruitment", recruitment_db), ("randomisation", randomisation_db)):
            module = __import__(f"{name}.models", fromlist=["ServiceModel"])
            engine = make_engine(url)
            metadata: MetaData = module.ServiceModel.metadata
            wipe(engine, metadata)
            engine.dispose()


@pytest.fixture
def recruitment_api(stack: Stack, keys: Keys, allocation_signer: AllocationSigner) -> Iterator[Any]:
    from rlc_testkit.recruitment import Api

    with httpx.Client(base_url=stack.recruitment.url, timeout=30) as client:
        yield Api(client, keys, allocation_signer)  # type: ignore[arg-type]


@pytest.fixture
def rand(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.randomisation.url, timeout=30) as client:
        yield client


def consented(api: Any, urns: list[int], la_code: str) -> None:
    for urn in urns:
        api.school_at("consented", urn=urn, la_code=la_code)


def new_run(rand: httpx.Client, keys: Keys, label: str) -> dict[str, Any]:
    tm = keys.headers("trial_manager")
    scheme = rand.post("/schemes", json={"name": f"RLC {label}"}, headers=tm)
    assert scheme.status_code == 201, scheme.text
    run = rand.post(f"/schemes/{scheme.json()['id']}/runs", json={"label": label}, headers=tm)
    assert run.status_code == 201, run.text
    return run.json()


def test_recruitment_outage_during_notification_loses_nothing(
    stack: Stack, recruitment_api: Any, rand: httpx.Client, keys: Keys, tmp_path: Path
):
    tm = keys.headers("trial_manager")
    camden, barnsley = [710001, 710002, 710003, 710004], [720001, 720002, 720003]
    consented(recruitment_api, camden, "202")
    consented(recruitment_api, barnsley, "370")
    recruitment_api.school_at("eligible", urn=730001, la_code="202")  # not consented
    recruitment_api.school_at("withdrawn", urn=730002, la_code="202")

    run = new_run(rand, keys, "main")
    frozen = rand.post(f"/runs/{run['id']}/freeze", headers=tm)
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["school_count"] == 7

    stack.recruitment.stop()
    executed = rand.post(f"/runs/{run['id']}/execute", json={"witness": "dice: 4 6 1"}, headers=tm)
    assert executed.status_code == 200, executed.text
    assert executed.json()["notifications"]["pending"] == 7
    allocations = {a["urn"]: a for a in rand.get("/allocations", headers=tm).json()["data"]}
    assert set(allocations) == set(camden + barnsley)
    # The worker is trying and failing meanwhile; the on-demand drain fails the same way.
    drained = rand.post(f"/runs/{run['id']}/notify", headers=tm).json()
    assert drained["acknowledged"] == 0 and drained["failed"] == drained["attempted"]
    assert rand.get(f"/runs/{run['id']}", headers=tm).json()["notifications"]["pending"] == 7

    stack.restart_recruitment()

    def all_acknowledged() -> bool:
        counts = rand.get(f"/runs/{run['id']}", headers=tm).json()["notifications"]
        return counts["acknowledged"] == 7

    wait_until(all_acknowledged, what="the outbox to drain after recruitment came back")

    for urn, allocation in allocations.items():
        school = recruitment_api.get_school(urn)
        assert school["status"] == "randomised"
        assert school["arm"] == allocation["arm"]
        assert school["randomisation_run_id"] == run["id"]
    acks = rand.get(
        "/log", params={"type": "notification.acknowledged", "limit": 100}, headers=tm
    ).json()
    assert sorted(e["payload"]["urn"] for e in acks["data"]) == sorted(allocations)
    assert all(e["actor"] == "randomisation-outbox" for e in acks["data"])
    report = rand.get("/log/verify", headers=keys.headers("auditor")).json()
    assert report["ok"], report["problems"]

    # The late joiners' run: what is already randomised is no longer offered.
    late = new_run(rand, keys, "late joiners")
    empty = rand.post(f"/runs/{late['id']}/freeze", headers=tm)
    assert empty.status_code == 409, empty.text

    # An outsider re-checks everything with the published export, checkpoint and keys.
    auditor = keys.headers("auditor")
    checkpoint = rand.get("/log/checkpoint", headers=auditor).json()
    (tmp_path / "checkpoint.json").write_text(json.dumps(checkpoint))
    (tmp_path / "jwks.json").write_text(rand.get("/.well-known/jwks.json").text)
    log = rand.get("/log/export", params={"tree_size": checkpoint["tree_size"]}, headers=auditor)
    (tmp_path / "log.jsonl").write_bytes(log.content)
    result = subprocess.run(
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
    assert result.returncode == 0, result.stdout + result.stderr


def test_school_withdrawn_after_freeze_keeps_its_allocation_and_the_refusal_is_logged(
    stack: Stack, recruitment_api: Any, rand: httpx.Client, keys: Keys
):
    tm = keys.headers("trial_manager")
    urns = [740001, 740002, 740003]
    consented(recruitment_api, urns, "330")
    run = new_run(rand, keys, "withdrawal")
    assert rand.post(f"/runs/{run['id']}/freeze", headers=tm).status_code == 200
    withdrawn = recruitment_api.client.post(
        f"/schools/{urns[0]}/withdrawal",
        headers=recruitment_api.tm(),
        json={"reason": "head teacher left"},
    )
    assert withdrawn.status_code == 200, withdrawn.text

    executed = rand.post(f"/runs/{run['id']}/execute", headers=tm)
    assert executed.status_code == 200, executed.text
    rand.post(f"/runs/{run['id']}/notify", headers=tm)

    def settled() -> dict[str, int] | None:
        counts = rand.get(f"/runs/{run['id']}", headers=tm).json()["notifications"]
        return counts if counts["pending"] == 0 else None

    counts = wait_until(settled, what="all notifications to be settled")
    assert counts == {"pending": 0, "acknowledged": 2, "refused": 1}
    # The allocation stands; recruitment keeps the withdrawal.
    kept = rand.get(f"/allocations/{urns[0]}", headers=keys.headers("evaluator"))
    assert kept.status_code == 200 and kept.json()["in_error"] is False
    assert recruitment_api.get_school(urns[0])["status"] == "withdrawn"
    refused = rand.get(
        "/log", params={"type": "notification.refused", "run_id": run["id"]}, headers=tm
    ).json()["data"]
    assert [e["payload"]["urn"] for e in refused] == [urns[0]]
    assert refused[0]["payload"]["reason"]
    for urn in urns[1:]:
        assert recruitment_api.get_school(urn)["status"] == "randomised"
