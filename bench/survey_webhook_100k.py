"""Benchmark: a 100,000-response, 60-column CSV export through the signed webhook to a running
surveys service, until the export is done; the service's peak RSS; and, in the same run,
``pandas.read_csv`` on the same bytes, as a ratio.

The stack it needs runs as real processes: recruitment, randomisation and surveys (uvicorn), on
SQLite in a temporary folder, or on PostgreSQL when RLC_BENCH_DATABASE_URL names a server
(``postgresql://user@host:5432/postgres``: a database per service is created there and dropped
at the end), with a local S3-compatible server (moto) for the evaluator's bucket and the surveys
service's own object storage. A few hundred trial schools are seeded through recruitment's API
and randomised by the randomisation service.

The export goes by ``data.file.object.key``: the evaluator puts it in its bucket and the webhook
only names it. The inline form (``content_base64``) is bounded by SURVEYS_WEBHOOK_MAX_BODY_BYTES
(16 MiB, about 12 MB of export), and this export is about 30 MB (40 MB as base64): the contract's
bucket path is the one a 100,000-row export takes.

Prints the figures; exits non-zero if the export is not done within 20 s or the surveys process
peaked above 500 MB.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from standardwebhooks import Webhook

from rlc_cli import services
from rlc_shared.auth import generate_private_key_pem, public_jwk
from rlc_shared.migrations import upgrade
from rlc_testkit import Keys, LiveService, free_port, start_service, wait_http
from rlc_testkit.recruitment import PDF, GiasSchool, gias_csv

ROWS, COLUMNS, SCHOOLS = 100_000, 60, 300
TARGET_SECONDS, TARGET_MB = 20.0, 500.0
LAS = ("202", "370", "865")
SECRET = "whsec_" + base64.b64encode(b"benchmark-webhook-secret-32bytes").decode()
CODEBOOK = {
    "respondent_id_column": "ResponseId",
    "role_column": "Role",
    "scales": {
        "knowledge": {"items": [f"K{i}" for i in range(1, 6)], "min": 1, "max": 5},
        "attitudes": {
            "items": [f"A{i}" for i in range(1, 6)],
            "min": 1,
            "max": 5,
            "reverse": ["A2", "A4"],
        },
        "use": {"items": [f"U{i}" for i in range(1, 5)], "min": 1, "max": 5},
    },
    "min_answered": 0.8,
}
ITEMS = [i for s in CODEBOOK["scales"].values() for i in s["items"]]  # type: ignore[attr-defined]


# --- the stack ------------------------------------------------------------------------------


def dev_keys(folder: Path) -> Keys:
    pem = generate_private_key_pem()
    kid = "bench-" + uuid.uuid4().hex[:8]
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk(pem, kid)]}))
    return Keys(private_pem=pem, kid=kid, jwks_file=jwks)


@contextmanager
def databases(folder: Path) -> Iterator[dict[str, str]]:
    server = os.environ.get("RLC_BENCH_DATABASE_URL")
    names = ("recruitment", "randomisation", "surveys")
    if not server:
        yield {n: f"sqlite:///{folder / (n + '.db')}" for n in names}
        return
    import psycopg

    run = uuid.uuid4().hex[:8]
    created = {n: f"rlc_bench_{run}_{n}" for n in names}
    with psycopg.connect(server, autocommit=True) as conn:
        for db in created.values():
            conn.execute(f'CREATE DATABASE "{db}"')
    try:
        yield {n: server.rsplit("/", 1)[0] + "/" + db for n, db in created.items()}
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            for db in created.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@contextmanager
def s3_server() -> Iterator[str]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/moto-api/", proc=proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def s3_client(url: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name="eu-west-2")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/<pid>/status")


# --- the trial: schools recruited and randomised through the APIs ---------------------------


def school_email(urn: int) -> str:
    return f"office@school{urn}.sch.uk"


def seed(recruitment: httpx.Client, randomisation: httpx.Client, keys: Keys) -> list[int]:
    tm = keys.headers("trial_manager", sub="bench-tm")
    urns = [300_000 + i for i in range(SCHOOLS)]
    extract = gias_csv(
        [
            GiasSchool(urn=u, la_code=LAS[i % 3], name=f"Bench Primary {u}")
            for i, u in enumerate(urns)
        ]
    )
    ok(
        recruitment.post(
            "/gias/imports", headers=tm, files={"file": ("g.csv", extract, "text/csv")}
        )
    )
    register = "URN,email\r\n" + "".join(f"{u},{school_email(u)}\r\n" for u in urns)
    ok(
        recruitment.post(
            "/gias/email-imports",
            headers=tm,
            files={"file": ("emails.csv", register.encode(), "text/csv")},
        )
    )
    for la in LAS:
        body = {
            "la_code": la,
            "name": f"LA {la}",
            "contact_name": "Bench Contact",
            "late_override_reason": "benchmark",
        }
        ok(recruitment.post("/local-authorities", headers=tm, json=body))
    for i, urn in enumerate(urns):
        vs = keys.headers("virtual_school", la_code=LAS[i % 3], sub=f"bench-vs-{LAS[i % 3]}")
        ok(recruitment.post(f"/schools/{urn}/nomination", headers=vs))
        ok(
            recruitment.post(
                f"/schools/{urn}/eligibility",
                headers=vs,
                json={"year56_social_worker_pupils": 2, "year56_looked_after_pupils": 1},
            )
        )
        ok(
            recruitment.post(
                f"/schools/{urn}/consent",
                headers=vs,
                data={
                    "head_teacher_name": "Head",
                    "consent_date": "2021-09-20",
                    "random_allocation": "true",
                    "evaluation": "true",
                },
                files={"form": ("consent.pdf", PDF, "application/pdf")},
            )
        )
    scheme = ok(randomisation.post("/schemes", headers=tm, json={"name": "bench"}))
    run = ok(randomisation.post(f"/schemes/{scheme['id']}/runs", headers=tm, json={}))
    ok(randomisation.post(f"/runs/{run['id']}/freeze", headers=tm))
    ok(randomisation.post(f"/runs/{run['id']}/execute", headers=tm))
    return urns


def ok(resp: httpx.Response) -> Any:
    if resp.is_error:
        raise RuntimeError(f"{resp.request.method} {resp.request.url.path}: {resp.text}")
    return resp.json() if resp.content else None


# --- the export -----------------------------------------------------------------------------


def export_csv(urns: list[int]) -> bytes:
    """Qualtrics-style: metadata columns, the codebook's 14 items, free text up to 60 columns.
    95% of responses come from the trial schools' GIAS addresses, 3% from teachers' own
    addresses at a school's domain, 2% from addresses no school has."""
    rng = np.random.default_rng(2021)
    meta = ["StartDate", "EndDate", "Status", "Progress", "Duration", "Finished", "RecordedDate"]
    free = [f"Q{i}_text" for i in range(1, COLUMNS - len(meta) - 3 - len(ITEMS) + 1)]
    header = [*meta, "ResponseId", "RecipientEmail", "Role", *ITEMS, *free]
    assert len(header) == COLUMNS
    tendency = rng.normal(0, 1, size=(ROWS, 1))
    answers = np.clip(np.rint(3 + tendency + rng.normal(0, 0.8, size=(ROWS, len(ITEMS)))), 1, 5)
    answers = answers.astype(int).astype(str)
    answers[rng.random(answers.shape) < 0.03] = ""
    schools = rng.integers(0, len(urns), size=ROWS)
    kind = rng.random(ROWS)
    texts = ["", "", "Useful", "We met twice.\nThen again in May.", "Good, but long"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerow([f"Question text of {c}" for c in header])
    writer.writerow([json.dumps({"ImportId": f"QID_{c}"}) for c in header])
    for i in range(ROWS):
        urn = urns[schools[i]]
        if kind[i] < 0.95:
            email = school_email(urn)
        elif kind[i] < 0.98:
            email = f"teacher{i}@school{urn}.sch.uk"
        else:
            email = f"someone{i}@elsewhere{i % 97}.org.uk"
        writer.writerow(
            [
                "2021-10-04 09:00:00",
                "2021-10-04 09:12:00",
                "0",
                "100",
                "720",
                "1",
                "2021-10-04 09:12:00",
                f"R_{i:08d}",
                email,
                "Teacher" if i % 4 else "Senior leader",
                *answers[i],
                *(texts[(i + j) % len(texts)] for j in range(len(free))),
            ]
        )
    return out.getvalue().encode("utf-8")


def signed(body: bytes) -> dict[str, str]:
    msg_id = f"msg_{uuid.uuid4().hex}"
    now = dt.datetime.now(dt.UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, now, body.decode()),
        "content-type": "application/json",
    }


# --- the run --------------------------------------------------------------------------------


def main() -> int:
    with tempfile.TemporaryDirectory() as name, s3_server() as s3_url, databases(Path(name)) as dbs:
        tmp = Path(name)
        keys = dev_keys(tmp)
        s3 = s3_client(s3_url)
        for bucket in ("rlc-bench-storage", "rlc-bench-evaluator"):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
            )
        for service, url in dbs.items():
            upgrade(services.get(service).directory, url)
        randomisation_port = free_port()
        started: list[LiveService] = []
        try:
            recruitment = start_service(
                "recruitment",
                database_url=dbs["recruitment"],
                keys=keys,
                tmp=tmp,
                extra_env={
                    "RECRUITMENT_EOI_DEADLINE": "2099-12-31",
                    "RECRUITMENT_CONSENT_DEADLINE": "2099-12-31",
                    "RECRUITMENT_RANDOMISATION_JWKS_URL": (
                        f"http://127.0.0.1:{randomisation_port}/.well-known/jwks.json"
                    ),
                },
            )
            started.append(recruitment)
            randomisation = start_service(
                "randomisation",
                database_url=dbs["randomisation"],
                keys=keys,
                tmp=tmp,
                port=randomisation_port,
                extra_env={
                    "RANDOMISATION_RECRUITMENT_URL": recruitment.url,
                    "RANDOMISATION_SIGNING_KEY_FILE": str(tmp / "randomisation.pem"),
                    # Recruitment is told of the arms later; not during the measurement.
                    "RANDOMISATION_OUTBOX_WORKER_ENABLED": "false",
                },
            )
            started.append(randomisation)
            surveys = start_service(
                "surveys",
                database_url=dbs["surveys"],
                keys=keys,
                tmp=tmp,
                extra_env={
                    "SURVEYS_RECRUITMENT_URL": recruitment.url,
                    "SURVEYS_RANDOMISATION_URL": randomisation.url,
                    "SURVEYS_WEBHOOK_SECRETS": json.dumps([SECRET]),
                    "SURVEYS_STORAGE_BACKEND": "s3",
                    "SURVEYS_S3_BUCKET": "rlc-bench-storage",
                    "SURVEYS_S3_ENDPOINT_URL": s3_url,
                    "SURVEYS_S3_PREFIX": "surveys",
                    "SURVEYS_EVALUATOR_BUCKET": "rlc-bench-evaluator",
                    "SURVEYS_EVALUATOR_S3_ENDPOINT_URL": s3_url,
                    "SURVEYS_WORKER_INTERVAL_SECONDS": "0.1",
                    "SURVEYS_LOG_LEVEL": "WARNING",
                },
            )
            started.append(surveys)
            with (
                httpx.Client(base_url=recruitment.url, timeout=120) as rec,
                httpx.Client(base_url=randomisation.url, timeout=120) as rnd,
                httpx.Client(base_url=surveys.url, timeout=120) as sv,
            ):
                seeding = time.perf_counter()
                urns = seed(rec, rnd, keys)
                seeded = time.perf_counter() - seeding
                data = export_csv(urns)
                read_started = time.perf_counter()
                frame = pd.read_csv(io.BytesIO(data), skiprows=[1, 2])
                pandas_seconds = time.perf_counter() - read_started
                assert frame.shape == (ROWS, COLUMNS), frame.shape
                del frame
                key = "exports/2021/pre/export-100k.csv"
                s3.put_object(Bucket="rlc-bench-evaluator", Key=key, Body=data)
                evaluator = keys.headers("evaluator", sub="bench-evaluator")
                ok(
                    sv.put(
                        "/rounds/pre",
                        headers=evaluator,
                        json={
                            "survey_id": "SV_bench",
                            "opens_on": "2021-10-01",
                            "closes_on": "2021-10-31",
                            "codebook": CODEBOOK,
                        },
                    )
                )
                body = json.dumps(
                    {
                        "type": "survey.export.ready",
                        "data": {
                            "round": "pre",
                            "survey_id": "SV_bench",
                            "file": {
                                "name": "export-100k.csv",
                                "format": "csv",
                                "object": {"key": key},
                            },
                        },
                    }
                ).encode()
                started_at = time.perf_counter()
                accepted = sv.post("/webhooks/ipsos", content=body, headers=signed(body))
                if accepted.status_code != 202:
                    raise RuntimeError(f"webhook: {accepted.status_code} {accepted.text}")
                stored_after = time.perf_counter() - started_at
                status_url = accepted.json()["status_url"]
                deadline = started_at + 10 * TARGET_SECONDS
                while True:
                    export = ok(sv.get(status_url, headers=evaluator))
                    if export["status"] in ("done", "failed") or time.perf_counter() > deadline:
                        break
                    time.sleep(0.1)
                elapsed = time.perf_counter() - started_at
                rss = peak_rss_mb(surveys.proc.pid)
                rates = ok(
                    sv.get("/rounds/pre/response-rates", params={"by": "arm"}, headers=evaluator)
                )
        finally:
            for live in reversed(started):
                live.stop()
    db = "postgresql" if os.environ.get("RLC_BENCH_DATABASE_URL") else "sqlite"
    links = export["links"]
    print(
        f"surveys webhook, {ROWS:,} responses x {COLUMNS} columns ({len(data) / 1e6:.1f} MB CSV, "
        f"{db}, {SCHOOLS} trial schools seeded in {seeded:.0f} s): export {export['status']} "
        f"{elapsed:.2f} s after the webhook (202 after {stored_after:.2f} s; target < "
        f"{TARGET_SECONDS:.0f} s); surveys peak RSS {rss:.0f} MB (target < {TARGET_MB:.0f} MB); "
        f"pandas.read_csv on the same bytes {pandas_seconds:.2f} s, ratio {elapsed / pandas_seconds:.1f}x; "
        f"{export['rows']:,} rows, {export['linked']:,} linked (exact {links['exact']:,}, "
        f"domain {links['domain']:,}), {export['unmatched']:,} unmatched; "
        f"response rate by arm: "
        + ", ".join(f"{r['arm']} {r['responding_schools']}/{r['schools']}" for r in rates["data"])
    )
    ok_run = (
        export["status"] == "done"
        and export["rows"] == ROWS
        and elapsed < TARGET_SECONDS
        and rss < TARGET_MB
    )
    return 0 if ok_run else 1


if __name__ == "__main__":
    sys.exit(main())
