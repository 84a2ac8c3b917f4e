"""Faults in a running trial. The five services run as real processes, each on its own database,
keeping their files on an S3 server (moto, over HTTP) reached through a proxy that the test can
stop; a small simulated trial is played into them through the public APIs. Then:

- randomisation is killed (SIGKILL): its readiness is gone, the services that need it answer with
  a 503 problem naming it, the others stay ready; restarted, it answers as before, nothing lost
  or added, and its log still verifies;
- surveys is killed while it parses an export: restarted, it finishes the export exactly once;
- a webhook is delivered three times: one export, parsed once;
- workshops' database connections are dropped, and refused for a while (PostgreSQL): its reads
  and writes are 503 problems and its readiness is down; once the database is back it answers as
  before;
- the S3 server stops in the middle of an upload: a 503 problem and nothing recorded; once it is
  back the same delivery goes in, once.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from sqlalchemy import func, select

from rlc_cli.simulate import simulate
from rlc_cli.simulate.exports.surveys import qualtrics_csv
from rlc_cli.simulate.population import draw
from rlc_cli.simulate.stages.surveys import ALL_ITEMS, COLUMNS, QUESTIONS
from rlc_cli.stack import Stack
from rlc_shared.db import make_engine
from rlc_testkit import S3Server
from rlc_testkit.faults import TcpProxy
from rlc_testkit.plugin import ADMIN_URL
from rlc_testkit.stack import auth, dev_keys, pages, s3_environment, start_stack

__all__ = ["dev_keys"]  # the module's dev issuer (a fixture)

SCHOOLS, LAS, SEED = 24, 2, 11
PROBLEM = "application/problem+json"
T = TypeVar("T")


@dataclass
class Trial:
    stack: Stack
    summary: dict[str, Any]
    s3: TcpProxy

    @property
    def urls(self) -> dict[str, str]:
        return self.stack.urls


@pytest.fixture(scope="module")
def trial(dev_keys: Path, database_factory: Any, s3_server: S3Server) -> Iterator[Trial]:
    upstream = urlsplit(s3_server.endpoint_url)
    assert upstream.hostname is not None and upstream.port is not None
    proxy = TcpProxy(upstream.hostname, upstream.port)
    proxy.start()
    env = s3_environment(proxy.url, s3_server.bucket) | {
        # The guard and the response rates ask randomisation afresh each time (the test kills it
        # right after a look; by default each reuses an answer for a few seconds).
        "WORKSHOPS_ALLOCATION_CACHE_SECONDS": "0",
        "SURVEYS_ALLOCATIONS_CACHE_SECONDS": "0",
        # A killed worker's claim is taken back soon, and exports are written in small chunks.
        "SURVEYS_WORKER_STALE_AFTER_SECONDS": "2",
        "SURVEYS_CHUNK_ROWS": "500",
    }
    stack = start_stack(dev_keys, database_factory, "faults", extra_env=env)
    try:
        summary = simulate(stack.urls, schools=SCHOOLS, las=LAS, seed=SEED, echo=lambda _: None)
        yield Trial(stack, summary, proxy)
    finally:
        stack.stop()
        proxy.stop()


def wait_for(what: str, check: Callable[[], T | None], *, timeout: float = 120.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def assert_problem(resp: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    body = resp.json()
    for word in words:
        assert word in body["detail"].lower(), body
    return body


def ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


# --- the survey platform's deliveries -----------------------------------------------------------


def school_emails(trial: Trial) -> list[str]:
    """The randomised schools' current GIAS emails (where the platform sends invitations)."""
    population = draw(schools=SCHOOLS, las=LAS, seed=SEED)
    randomised = {
        a["urn"] for a in pages(f"{trial.urls['randomisation']}/allocations", auth("auditor"))
    }
    return [population.by_urn[urn].email for urn in sorted(randomised)]


def pre_export(trial: Trial, rows: int, *, tag: str) -> bytes:
    """A pre-round export of ``rows`` responses at the randomised schools, in the platform's
    three-header-row CSV layout."""
    emails = school_emails(trial)
    started = dt.datetime(2021, 10, 12, 9, 0)
    answers = [
        {
            "StartDate": started.strftime("%Y-%m-%d %H:%M:%S"),
            "EndDate": started.strftime("%Y-%m-%d %H:%M:%S"),
            "Finished": 1,
            "ResponseId": f"R_{tag}_{i:06d}",
            "RecipientEmail": emails[i % len(emails)],
            "Q1_role": "Year 6 teacher",
            "Q2_email": f"teacher{i}.{tag}@example.org",
            **{item: 1 + (i + n) % 5 for n, item in enumerate(ALL_ITEMS)},
        }
        for i in range(rows)
    ]
    return qualtrics_csv(COLUMNS, answers, questions=QUESTIONS)


def deliver(trial: Trial, content: bytes, *, msg_id: str, name: str) -> httpx.Response:
    """The survey platform's signed webhook delivery of a pre-round export (signed now)."""
    from surveys.config import Settings
    from surveys.signatures import signed_headers

    survey_id = httpx.get(
        f"{trial.urls['surveys']}/rounds/pre", headers=auth("evaluator"), timeout=30
    ).json()["survey_id"]
    body = json.dumps(
        {
            "type": "survey.export.ready",
            "data": {
                "round": "pre",
                "survey_id": survey_id,
                "file": {
                    "name": name,
                    "format": "csv",
                    "content_base64": base64.b64encode(content).decode(),
                },
            },
        }
    ).encode()
    headers = signed_headers(
        body=body,
        msg_id=msg_id,
        timestamp=int(time.time()),
        secrets=Settings().webhook_secret_values()[0],
    )
    return httpx.post(
        f"{trial.urls['surveys']}/webhooks/ipsos",
        content=body,
        headers=headers | {"content-type": "application/json"},
        timeout=120,
    )


def exports(trial: Trial) -> list[dict[str, Any]]:
    return pages(f"{trial.urls['surveys']}/exports", auth("evaluator"))


def finished(trial: Trial, export_id: int) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        resp = httpx.get(
            f"{trial.urls['surveys']}/exports/{export_id}", headers=auth("evaluator"), timeout=30
        )
        export = resp.json() if resp.status_code == 200 else None
        return export if export and export["status"] in ("done", "failed") else None

    return wait_for(f"export {export_id} to be parsed", settled)


def responses_of(trial: Trial, export_id: int) -> tuple[int, int]:
    """(rows, distinct response ids) the surveys database holds for an export."""
    from surveys.models import SurveyResponse

    engine = make_engine(trial.stack.env["SURVEYS_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            mine = SurveyResponse.export_id == export_id  # type: ignore[arg-type]
            rows = conn.execute(select(func.count()).where(mine)).scalar()
            distinct = conn.execute(
                select(func.count(func.distinct(SurveyResponse.response_id))).where(mine)
            ).scalar()
        return int(rows or 0), int(distinct or 0)
    finally:
        engine.dispose()


# --- the faults ---------------------------------------------------------------------------------


def test_randomisation_killed_is_reported_by_the_others_and_loses_nothing(trial: Trial) -> None:
    urls, tm, delivery = trial.urls, auth("trial_manager"), auth("delivery")
    allocations = pages(f"{urls['randomisation']}/allocations", tm)
    cohort = pages(f"{urls['workshops']}/cohorts", tm)[0]
    control = next(
        a["urn"] for a in allocations if a["arm"] == "control" and a["la_code"] == cohort["la_code"]
    )
    enrol = f"{urls['workshops']}/cohorts/{cohort['id']}/schools"

    trial.stack.kill("randomisation")
    try:
        assert not ready(urls["randomisation"])
        # Workshops cannot tell a control school from an intervention one: it refuses, saying why.
        refused = httpx.post(enrol, json={"urn": control}, headers=delivery, timeout=60)
        assert_problem(refused, 503, "randomisation")
        # Surveys' response rates are per randomised school: the same.
        rates = httpx.get(
            f"{urls['surveys']}/rounds/pre/response-rates",
            params={"by": "arm"},
            headers=auth("evaluator"),
            timeout=60,
        )
        assert_problem(rates, 503, "randomisation")
        # The others stay ready: readiness is about a service's own database, not its peers.
        for name in ("recruitment", "surveys", "workshops", "analytics"):
            assert ready(urls[name]), name
    finally:
        trial.stack.restart("randomisation")

    assert pages(f"{urls['randomisation']}/allocations", tm) == allocations
    verified = httpx.get(f"{urls['randomisation']}/log/verify", headers=auth("auditor"), timeout=60)
    assert verified.status_code == 200 and verified.json()["ok"], verified.text
    # The guard answers again, with the real reason; nothing was enrolled meanwhile.
    again = httpx.post(enrol, json={"urn": control}, headers=delivery, timeout=60)
    assert assert_problem(again, 409)["reason"] == "control"
    enrolled = pages(f"{urls['workshops']}/cohorts/{cohort['id']}/schools", tm)
    assert control not in {e["urn"] for e in enrolled}
    rates = httpx.get(
        f"{urls['surveys']}/rounds/pre/response-rates",
        params={"by": "arm"},
        headers=auth("evaluator"),
        timeout=60,
    )
    assert rates.status_code == 200 and {r["arm"] for r in rates.json()["data"]} == {
        "intervention",
        "control",
    }


def test_surveys_killed_while_parsing_finishes_the_export_exactly_once(trial: Trial) -> None:
    rows = 30_000
    accepted = deliver(
        trial, pre_export(trial, rows, tag="kill"), msg_id="msg_fault_kill", name="kill.csv"
    )
    assert accepted.status_code == 202, accepted.text
    export_id = accepted.json()["id"]

    def part_way() -> dict[str, Any] | None:
        export = httpx.get(
            f"{trial.urls['surveys']}/exports/{export_id}", headers=auth("evaluator"), timeout=30
        ).json()
        assert export["status"] != "done", "parsed before it could be killed: make it bigger"
        return export if export["status"] == "parsing" and export["rows"] > 0 else None

    wait_for("the export to be part-way parsed", part_way)
    trial.stack.kill("surveys")
    written, _ = responses_of(trial, export_id)
    assert 0 < written < rows

    trial.stack.restart("surveys")
    export = finished(trial, export_id)
    assert export["status"] == "done", export
    assert export["rows"] == rows and export["linked"] == rows and export["attempts"] == 2
    assert responses_of(trial, export_id) == (rows, rows)  # every response once


def test_a_webhook_delivered_three_times_is_one_export(trial: Trial) -> None:
    before = {e["id"] for e in exports(trial)}
    content = pre_export(trial, 12, tag="thrice")
    answers = [
        deliver(trial, content, msg_id="msg_fault_thrice", name="thrice.csv") for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    export_id = ids.pop()
    assert {e["id"] for e in exports(trial)} - before == {export_id}
    export = finished(trial, export_id)
    assert export["status"] == "done" and export["rows"] == 12 and export["attempts"] == 1
    assert responses_of(trial, export_id) == (12, 12)


@pytest.mark.postgres_only
def test_workshops_database_dropped_and_restored(trial: Trial) -> None:
    urls, tm, delivery = trial.urls, auth("trial_manager"), auth("delivery")
    dosage = pages(f"{urls['workshops']}/dosage", tm)
    threshold = httpx.get(f"{urls['workshops']}/attendance-threshold", headers=tm).json()
    database = trial.stack.env["WORKSHOPS_DATABASE_URL"].rsplit("/", 1)[1]

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database,),
        )
    try:
        read = httpx.get(f"{urls['workshops']}/dosage", headers=tm, timeout=30)
        assert_problem(read, 503, "database")
        assert read.headers.get("retry-after")
        write = httpx.put(
            f"{urls['workshops']}/attendance-threshold",
            json={"kind": "minutes", "value": 1, "reason": "a change that must not land"},
            headers=delivery,
            timeout=30,
        )
        assert_problem(write, 503, "database")
        assert not ready(urls["workshops"])
        assert ready(urls["recruitment"])  # one service's database is not the others'
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

    assert ready(urls["workshops"])
    assert pages(f"{urls['workshops']}/dosage", tm) == dosage
    assert httpx.get(f"{urls['workshops']}/attendance-threshold", headers=tm).json() == threshold


def test_s3_stopped_during_an_upload_records_nothing_then_the_retry_goes_in_once(
    trial: Trial,
) -> None:
    before = exports(trial)
    content = pre_export(trial, 4_000, tag="s3")
    assert len(content) > 500_000
    # The S3 server goes away once 100 kB of the raw export have reached it.
    trial.s3.stop_after(100_000)
    try:
        failed = deliver(trial, content, msg_id="msg_fault_s3", name="s3.csv")
        assert trial.s3.cut.is_set(), "the upload finished before the server stopped"
        assert_problem(failed, 503, "storage", "nothing was changed")
        assert exports(trial) == before
    finally:
        if not trial.s3.running:
            trial.s3.start()

    # The platform retries its delivery (same id, new timestamp): it goes in, once.
    retried = deliver(trial, content, msg_id="msg_fault_s3", name="s3.csv")
    assert retried.status_code == 202, retried.text
    export = finished(trial, retried.json()["id"])
    assert export["status"] == "done" and export["rows"] == 4_000
    assert len(exports(trial)) == len(before) + 1
    assert responses_of(trial, export["id"]) == (4_000, 4_000)
