"""The surveys service as a real process: killed (SIGKILL) while it parses an export, restarted,
and the export completes exactly once; on PostgreSQL, two processes share the queue.

Recruitment runs as a real process too (linking asks it), seeded through its public API.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from rlc_cli import services
from rlc_shared.db import make_engine
from rlc_shared.migrations import upgrade
from rlc_testkit import AllocationSigner, Keys, LiveService, free_port, start_service

SECRET = "whsec_" + base64.b64encode(b"restart-test-webhook-secret-32by").decode()
SCHOOLS = {710101: "office@restart-a.sch.uk", 710102: "office@restart-b.sch.uk"}


def _fixtures() -> ModuleType:
    name = "surveys_test_fixtures"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "services/surveys/tests/fixtures/exports.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fx = _fixtures()


def wait_until(check: Any, *, timeout: float = 120.0, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(every)


class Surveys:
    """A surveys process on a fixed port, database and storage, that can be killed and
    started again."""

    def __init__(self, *, keys: Keys, tmp: Path, database_url: str, recruitment_url: str):
        self.keys, self.tmp, self.database_url = keys, tmp, database_url
        self.port = free_port()
        self.env = {
            "SURVEYS_RECRUITMENT_URL": recruitment_url,
            "SURVEYS_WEBHOOK_SECRETS": json.dumps([SECRET]),
            "SURVEYS_WORKER_INTERVAL_SECONDS": "0.1",
            "SURVEYS_WORKER_STALE_AFTER_SECONDS": "2",
            "SURVEYS_CHUNK_ROWS": "500",
            "SURVEYS_WEBHOOK_MAX_BODY_BYTES": str(32 * 1024 * 1024),
        }
        self.live: LiveService | None = None

    def start(self, port: int | None = None) -> LiveService:
        live = start_service(
            "surveys",
            database_url=self.database_url,
            keys=self.keys,
            tmp=self.tmp,
            port=port or self.port,
            extra_env=self.env,
        )
        self.live = self.live or live
        return live

    def client(self, live: LiveService) -> httpx.Client:
        return httpx.Client(base_url=live.url, timeout=60)


def signed(body: bytes) -> dict[str, str]:
    msg_id = f"msg_{uuid.uuid4().hex}"
    now = dt.datetime.now(dt.UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, now, body.decode()),
        "content-type": "application/json",
    }


def export_body(n: int, *, seed: int) -> bytes:
    rows = fx.responses(n, seed=seed)
    emails = list(SCHOOLS.values()) + ["nobody@unknown.sch.uk"]
    for i, row in enumerate(rows):
        row["RecipientEmail"] = emails[i % 3]
        row["ResponseId"] = f"R_{seed}_{i:06d}"
    content = fx.csv_export(rows, qualtrics=False)
    data = {
        "round": "pre",
        "survey_id": "SV_pre",
        "file": {
            "name": f"export-{seed}.csv",
            "format": "csv",
            "content_base64": base64.b64encode(content).decode(),
        },
    }
    return json.dumps({"type": "survey.export.ready", "data": data}).encode()


@pytest.fixture(scope="module")
def recruitment(
    database_factory, keys: Keys, allocation_signer: AllocationSigner, tmp_path_factory
) -> Iterator[LiveService]:
    from rlc_testkit.recruitment import Api

    url = database_factory.create("restart_recruitment")
    upgrade(services.get("recruitment").directory, url)
    live = start_service(
        "recruitment",
        database_url=url,
        keys=keys,
        tmp=tmp_path_factory.mktemp("restart-recruitment"),
        extra_env={
            "RECRUITMENT_EOI_DEADLINE": "2099-12-31",
            "RECRUITMENT_CONSENT_DEADLINE": "2099-12-31",
        },
    )
    try:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            api = Api(client, keys, allocation_signer)  # type: ignore[arg-type]
            for urn in SCHOOLS:
                api.school_at("consented", urn, la_code="202")
            register = "URN,email\r\n" + "".join(f"{u},{e}\r\n" for u, e in SCHOOLS.items())
            resp = client.post(
                "/gias/email-imports",
                headers=api.tm(),
                files={"file": ("emails.csv", register.encode(), "text/csv")},
            )
            assert resp.status_code == 201, resp.text
        yield live
    finally:
        live.stop()


def set_round(client: httpx.Client, keys: Keys) -> None:
    body = {
        "survey_id": "SV_pre",
        "opens_on": "2021-10-01",
        "closes_on": "2021-10-31",
        "codebook": fx.CODEBOOK,
    }
    resp = client.put("/rounds/pre", json=body, headers=keys.headers("evaluator"))
    assert resp.status_code == 200, resp.text


def counts(database_url: str, export_id: int) -> tuple[int, int, int]:
    from surveys.models import AuditEvent, SurveyResponse

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            responses = conn.execute(select(func.count()).select_from(SurveyResponse)).scalar()
            distinct = conn.execute(
                select(func.count(func.distinct(SurveyResponse.response_id)))
            ).scalar()
            done = conn.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "export.done", AuditEvent.entity_id == str(export_id))
            ).scalar()
        return int(responses or 0), int(distinct or 0), int(done or 0)
    finally:
        engine.dispose()


def test_killed_while_parsing_then_restarted_completes_the_export_exactly_once(
    database_factory, keys: Keys, recruitment: LiveService, tmp_path: Path
) -> None:
    url = database_factory.create("restart_surveys")
    upgrade(services.get("surveys").directory, url)
    surveys = Surveys(keys=keys, tmp=tmp_path, database_url=url, recruitment_url=recruitment.url)
    first = surveys.start()
    n = 60_000
    evaluator = keys.headers("evaluator")
    with surveys.client(first) as client:
        set_round(client, keys)
        body = export_body(n, seed=1)
        accepted = client.post("/webhooks/ipsos", content=body, headers=signed(body))
        assert accepted.status_code == 202, accepted.text
        export_id = accepted.json()["id"]

        def part_way() -> dict[str, Any] | None:
            export = client.get(f"/exports/{export_id}", headers=evaluator).json()
            assert export["status"] != "done", "parsed before it could be killed: make it bigger"
            return export if export["status"] == "parsing" and export["rows"] > 0 else None

        seen = wait_until(part_way, what="the export to be part-way parsed", every=0.02)
    first.proc.kill()  # SIGKILL: no clean-up of any kind
    first.proc.wait(timeout=10)
    assert 0 < seen["rows"] < n
    stopped_at, _, done = counts(url, export_id)
    assert 0 < stopped_at < n and done == 0

    second = surveys.start()
    try:
        with surveys.client(second) as client:

            def finished() -> dict[str, Any] | None:
                export = client.get(f"/exports/{export_id}", headers=evaluator).json()
                return export if export["status"] in ("done", "failed") else None

            export = wait_until(finished, what="the export to be completed after the restart")
            assert export["status"] == "done", export
            assert export["rows"] == n
            assert export["linked"] == 40_000 and export["unmatched"] == 20_000
            assert export["attempts"] == 2
            claims = client.get(
                "/audit-events",
                params={"action": "export.claimed", "entity_id": str(export_id)},
                headers=keys.headers("auditor"),
            ).json()["data"]
            resumed = [c["new"]["resume_after_row"] for c in claims]
            assert resumed[0] == 0 and resumed[1] > 1  # the second run resumed after a chunk
    finally:
        second.stop()
    responses, distinct, done = counts(url, export_id)
    assert responses == distinct == n  # every response once
    assert done == 1  # completed exactly once


@pytest.mark.postgres_only
def test_two_processes_share_the_queue_on_postgresql(
    database_factory, keys: Keys, recruitment: LiveService, tmp_path: Path
) -> None:
    url = database_factory.create("shared_queue_surveys")
    upgrade(services.get("surveys").directory, url)
    surveys = Surveys(keys=keys, tmp=tmp_path, database_url=url, recruitment_url=recruitment.url)
    one, two = surveys.start(), surveys.start(port=free_port())
    try:
        with surveys.client(one) as client:
            set_round(client, keys)
            bodies = [export_body(3000, seed=10 + seed) for seed in range(6)]

            def deliver(body: bytes) -> int:
                resp = client.post("/webhooks/ipsos", content=body, headers=signed(body))
                assert resp.status_code == 202, resp.text
                return int(resp.json()["id"])

            # All six arrive at once, so that the queue holds more than one process can take
            # in one poll: the other process's worker then claims some of them.
            with ThreadPoolExecutor(max_workers=6) as pool:
                ids = list(pool.map(deliver, bodies))

            def all_done() -> bool:
                exports = client.get(
                    "/exports", params={"limit": 50}, headers=keys.headers("evaluator")
                ).json()["data"]
                return all(e["status"] == "done" for e in exports) and len(exports) == 6

            wait_until(all_done, what="both processes to drain the queue")
            events = client.get(
                "/audit-events",
                params={"action": "export.claimed", "limit": 100},
                headers=keys.headers("auditor"),
            ).json()["data"]
        assert sorted(int(e["entity_id"]) for e in events) == sorted(ids)  # each claimed once
        workers = {e["new"]["worker"] for e in events}
        assert len(workers) == 2, workers  # both processes took some
    finally:
        one.stop()
        two.stop()
    engine = make_engine(url)
    try:
        from surveys.models import Export, SurveyResponse

        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(SurveyResponse)).scalar() == 18_000
            attempts = conn.execute(select(Export.attempts)).scalars().all()
        assert attempts == [1] * 6
    finally:
        engine.dispose()
