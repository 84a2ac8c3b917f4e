"""Fixtures for the surveys service's tests.

The surveys app runs in-process (``TestClient``) on its real migrated database, with its raw
exports in a real S3-compatible server (moto, over HTTP) and an evaluator bucket on the same
server. The services it calls run as real processes: recruitment and randomisation, each on a
database of its own, seeded once per session through their public APIs with a small trial (see
``World``), randomised by the randomisation service itself. Nothing of theirs is stubbed.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from standardwebhooks import Webhook

from rlc_cli import services
from rlc_shared.db import make_engine
from rlc_shared.migrations import upgrade
from rlc_testkit import (
    AllocationSigner,
    Keys,
    LiveService,
    S3Server,
    free_port,
    start_service,
    wipe,
)
from surveys.config import Settings
from surveys.main import create_app
from surveys.models import ServiceModel


def _fixtures() -> ModuleType:
    name = "surveys_test_fixtures"
    if name not in sys.modules:
        path = Path(__file__).parent / "fixtures" / "exports.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fx = _fixtures()

LA, OTHER_LA = "202", "370"
#: Two webhook secrets: the platform's current one and the one being rotated out.
SECRET = "whsec_" + base64.b64encode(b"surveys-test-current-secret-32byte").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"surveys-test-previous-secret-32byt").decode()
RECRUITMENT_ENV = {
    # The live process runs on today's date; the trial's 2021 deadlines are moved out of the way.
    "RECRUITMENT_EOI_DEADLINE": "2099-12-31",
    "RECRUITMENT_CONSENT_DEADLINE": "2099-12-31",
    "RECRUITMENT_TEACHER_WITHDRAWAL_CUTOFF": "2099-12-31",
}


def wait_until(check: Callable[[], Any], *, timeout: float = 60.0, what: str) -> Any:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class School:
    urn: int
    la_code: str
    email: str
    status: str = "randomised"  # where the seeding leaves it
    earlier_email: str | None = None
    arm: str | None = None


@dataclass
class World:
    """The trial the tests run against (in recruitment and randomisation)."""

    schools: dict[str, School] = field(default_factory=dict)
    staff: dict[str, str] = field(default_factory=dict)  # name -> email

    def __getitem__(self, name: str) -> School:
        return self.schools[name]

    def randomised(self) -> list[School]:
        return [s for s in self.schools.values() if s.status == "randomised"]


def _world() -> World:
    w = World()
    add = w.schools.__setitem__
    # Exact and historical: the school's GIAS email changed.
    add(
        "hillside",
        School(
            710001, LA, "office@hillside.sch.uk", earlier_email="old-office@hillside-old.sch.uk"
        ),
    )
    add("brookside", School(710002, LA, "admin@brookside.sch.uk"))
    # Two trial schools of one federation share a domain: it cannot decide between them.
    add("federation_a", School(710003, LA, "office@federation-schools.org.uk"))
    add("federation_b", School(710004, LA, "admin@federation-schools.org.uk"))
    # A school on its council's domain: an LA-wide domain never links by itself.
    add("council", School(710005, LA, "school5@camden.gov.uk"))
    # A school with its own domain: a teacher's address there links by domain.
    add("valley", School(720001, OTHER_LA, "office@valleyprimary.co.uk"))
    # A school that uses a shared provider for its GIAS email.
    add("gmail", School(720002, OTHER_LA, "headteacher.720002@gmail.com"))
    # Randomised, never responds in the tests that count reminders.
    add("ridge", School(720003, OTHER_LA, "office@ridge.sch.uk"))
    # In the trial, not randomised (nominated only); and a GIAS school not in the trial.
    add("late", School(730001, OTHER_LA, "office@late-joiner.sch.uk", status="nominated"))
    add("outsider", School(740001, OTHER_LA, "office@not-in-trial.sch.uk", status="gias"))
    w.staff = {
        "withdrawn": "withdrawn.teacher@hillside.sch.uk",
        "case_study_only": "casestudy.only@hillside.sch.uk",
        "active": "active.teacher@hillside.sch.uk",
    }
    return w


class Stack:
    """Recruitment and randomisation as live processes, seeded with the ``World``."""

    def __init__(self, *, keys: Keys, tmp: Path, recruitment_db: str, randomisation_db: str):
        self.keys = keys
        self.randomisation_port = free_port()
        self.recruitment: LiveService = start_service(
            "recruitment",
            database_url=recruitment_db,
            keys=keys,
            tmp=tmp,
            extra_env=RECRUITMENT_ENV
            | {
                "RECRUITMENT_RANDOMISATION_JWKS_URL": (
                    f"http://127.0.0.1:{self.randomisation_port}/.well-known/jwks.json"
                )
            },
        )
        self.randomisation: LiveService = start_service(
            "randomisation",
            database_url=randomisation_db,
            keys=keys,
            tmp=tmp,
            port=self.randomisation_port,
            extra_env={
                "RANDOMISATION_RECRUITMENT_URL": self.recruitment.url,
                "RANDOMISATION_SIGNING_KEY_FILE": str(tmp / "randomisation-signing.pem"),
                "RANDOMISATION_OUTBOX_INTERVAL_SECONDS": "0.2",
            },
        )
        self.world = _world()

    def stop(self) -> None:
        self.randomisation.stop()
        self.recruitment.stop()

    def seed(self, signer: AllocationSigner) -> None:
        from rlc_testkit.recruitment import Api

        tm = self.keys.headers("trial_manager", sub="seed-tm")
        with httpx.Client(base_url=self.recruitment.url, timeout=60) as client:
            api = Api(client, self.keys, signer)  # type: ignore[arg-type]
            for school in self.world.schools.values():
                status = {"randomised": "consented", "gias": None}.get(school.status, school.status)
                api.school_at(
                    status, school.urn, la_code=school.la_code, name=f"School {school.urn}"
                )
            register = "URN,email\r\n" + "".join(
                f"{s.urn},{s.earlier_email or s.email}\r\n" for s in self.world.schools.values()
            )
            api.ok(
                client.post(
                    "/gias/email-imports",
                    headers=tm,
                    files={"file": ("emails.csv", register.encode(), "text/csv")},
                )
            )
            for school in self.world.schools.values():
                if school.earlier_email:
                    api.ok(
                        client.put(
                            f"/schools/{school.urn}/email",
                            headers=tm,
                            json={"email": school.email, "reason": "the school changed address"},
                        )
                    )
            hillside = self.world["hillside"].urn
            for name, email in self.world.staff.items():
                member = api.add_staff(hillside, email=email, name=f"Teacher {name}")
                covers = {
                    "withdrawn": ["questionnaires"],
                    "case_study_only": ["case_study_interviews"],
                }
                if name in covers:
                    api.ok(
                        client.post(
                            f"/schools/{hillside}/staff/{member['id']}/withdrawal",
                            headers=tm,
                            json={"covers": covers[name], "reason": "asked to withdraw"},
                        )
                    )
        with httpx.Client(base_url=self.randomisation.url, timeout=60) as rand:
            scheme = rand.post("/schemes", json={"name": "RLC surveys tests"}, headers=tm)
            assert scheme.status_code == 201, scheme.text
            run = rand.post(
                f"/schemes/{scheme.json()['id']}/runs", json={"label": "main"}, headers=tm
            )
            assert run.status_code == 201, run.text
            run_id = run.json()["id"]
            frozen = rand.post(f"/runs/{run_id}/freeze", headers=tm)
            assert frozen.status_code == 200, frozen.text
            executed = rand.post(f"/runs/{run_id}/execute", headers=tm)
            assert executed.status_code == 200, executed.text
            allocations = rand.get("/allocations", params={"limit": 500}, headers=tm).json()["data"]
        arms = {a["urn"]: a["arm"] for a in allocations}
        for school in self.world.schools.values():
            school.arm = arms.get(school.urn)
        assert {s.urn for s in self.world.randomised()} == set(arms), arms


@pytest.fixture(scope="session")
def stack(database_factory, keys: Keys, allocation_signer, tmp_path_factory) -> Iterator[Stack]:
    urls = {}
    for name in ("recruitment", "randomisation"):
        urls[name] = database_factory.create(f"surveys_{name}")
        upgrade(services.get(name).directory, urls[name])
    live = Stack(
        keys=keys,
        tmp=tmp_path_factory.mktemp("surveys-stack"),
        recruitment_db=urls["recruitment"],
        randomisation_db=urls["randomisation"],
    )
    try:
        live.seed(allocation_signer)
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="session")
def world(stack: Stack) -> World:
    return stack.world


@pytest.fixture(scope="session")
def evaluator_bucket(s3_server: S3Server) -> str:
    name = f"evaluator-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    return name


@pytest.fixture(scope="session")
def settings(
    migrated_database, keys: Keys, stack: Stack, s3_server: S3Server, evaluator_bucket: str
) -> Settings:
    return Settings(
        database_url=migrated_database("surveys"),
        jwks_file=str(keys.jwks_file),
        storage_backend="s3",
        s3_bucket=s3_server.bucket,
        s3_endpoint_url=s3_server.endpoint_url,
        s3_prefix="surveys",
        evaluator_bucket=evaluator_bucket,
        evaluator_s3_endpoint_url=s3_server.endpoint_url,
        evaluator_s3_prefix="exports",
        recruitment_url=stack.recruitment.url,
        randomisation_url=stack.randomisation.url,
        service_token=keys.token("service", sub="service:surveys", ttl_seconds=6 * 3600),
        webhook_secrets=[SECRET, OLD_SECRET],  # type: ignore[list-item]
        webhook_max_body_bytes=2 * 1024 * 1024,
        worker_interval_seconds=0.05,
        chunk_rows=40,
        outbound_retries=0,
        outbound_timeout_seconds=5,
    )


def clear(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        wipe(engine, ServiceModel.metadata)
    finally:
        engine.dispose()


def empty_bucket(s3: S3Server, bucket: str, prefix: str) -> None:
    client = s3.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    for obj in listed:
        client.delete_object(Bucket=bucket, Key=obj["Key"])


@pytest.fixture
def app_for(
    settings: Settings, s3_server: S3Server, evaluator_bucket: str
) -> Iterator[Callable[..., TestClient]]:
    """Open an app (in a started TestClient) with settings changed from the session's; every
    table and both buckets are emptied once the test's apps are closed."""
    opened: list[TestClient] = []

    def open_app(**changes: Any) -> TestClient:
        client = TestClient(create_app(settings.model_copy(update=changes)))
        client.__enter__()
        opened.append(client)
        return client

    try:
        yield open_app
    finally:
        for client in reversed(opened):
            client.__exit__(None, None, None)
        clear(settings)
        empty_bucket(s3_server, s3_server.bucket, "surveys/")
        empty_bucket(s3_server, evaluator_bucket, "")


class Surveys:
    """Drives the surveys service as the evaluator and the survey platform do."""

    fx = fx
    secret, old_secret = SECRET, OLD_SECRET

    until = staticmethod(wait_until)

    def __init__(
        self,
        open_app: Callable[..., TestClient],
        keys: Keys,
        world: World,
        s3: S3Server,
        bucket: str,
    ):
        self._open_app = open_app
        self._client: TestClient | None = None
        self.keys = keys
        self.world = world
        self.s3 = s3
        self.bucket = bucket
        self._headers: dict[tuple[Any, ...], dict[str, str]] = {}

    @property
    def client(self) -> TestClient:
        """The app under test: the session's settings, unless a test set another."""
        if self._client is None:
            self._client = self._open_app()
        return self._client

    @client.setter
    def client(self, client: TestClient) -> None:
        self._client = client

    # identities
    def as_(self, role: str | list[str], **claims: Any) -> dict[str, str]:
        key = (tuple(role) if isinstance(role, list) else role, *sorted(claims.items()))
        if key not in self._headers:
            self._headers[key] = self.keys.headers(role, **claims)
        return self._headers[key]

    def evaluator(self) -> dict[str, str]:
        return self.as_("evaluator", sub="evaluator-eve")

    def tm(self) -> dict[str, str]:
        return self.as_("trial_manager", sub="tm-tom")

    @staticmethod
    def rows(emails: list[str], *, seed: int = 7, **extra: Any) -> list[dict[str, Any]]:
        """Plausible responses (``fx.responses``), the i-th sent to ``emails[i]``."""
        rows = fx.responses(len(emails), seed=seed)
        for i, (row, email) in enumerate(zip(rows, emails, strict=True)):
            row["RecipientEmail"] = email
            row["ResponseId"] = f"R_{seed}_{i:05d}"
            row.update(extra)
        return rows

    # rounds
    def put_round(
        self, round: str = "pre", codebook: dict[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        body = {
            "survey_id": f"SV_{round}",
            "opens_on": "2021-10-01",
            "closes_on": "2021-10-31",
            "codebook": codebook or fx.CODEBOOK,
        } | fields
        resp = self.client.put(f"/rounds/{round}", json=body, headers=self.evaluator())
        assert resp.status_code == 200, resp.text
        return resp.json()

    # deliveries
    @staticmethod
    def payload(
        *,
        content: bytes | None = None,
        key: str | None = None,
        name: str = "export.csv",
        format: str = "csv",
        round: str = "pre",
        survey_id: str | None = None,
    ) -> bytes:
        file: dict[str, Any] = {"name": name, "format": format}
        if content is not None:
            file["content_base64"] = base64.b64encode(content).decode()
        if key is not None:
            file["object"] = {"key": key}
        data = {"round": round, "survey_id": survey_id or f"SV_{round}", "file": file}
        return json.dumps({"type": "survey.export.ready", "data": data}).encode()

    @staticmethod
    def sign(
        body: bytes, *, msg_id: str | None = None, secret: str = SECRET, at: float | None = None
    ) -> dict[str, str]:
        """The three Standard Webhooks headers, signed by the reference library."""
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        stamp = dt.datetime.fromtimestamp(int(at if at is not None else time.time()), tz=dt.UTC)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(stamp.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, stamp, body.decode()),
            "content-type": "application/json",
        }

    def deliver(self, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.client.post("/webhooks/ipsos", content=body, headers=headers or self.sign(body))

    def send(self, content: bytes, **kw: Any) -> dict[str, Any]:
        """Deliver an inline export; returns the 202's JSON."""
        resp = self.deliver(self.payload(content=content, **kw))
        assert resp.status_code == 202, resp.text
        return resp.json()

    def put_object(self, data: bytes, key: str | None = None) -> str:
        key = key or f"exports/{uuid.uuid4().hex}.csv"
        self.s3.client().put_object(Bucket=self.bucket, Key=key, Body=data)
        return key

    def export(self, export_id: int) -> dict[str, Any]:
        resp = self.client.get(f"/exports/{export_id}", headers=self.evaluator())
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait(self, export_id: int, *, timeout: float = 90.0) -> dict[str, Any]:
        """The export once it is done or failed."""

        def settled() -> dict[str, Any] | None:
            export = self.export(export_id)
            return export if export["status"] in ("done", "failed") else None

        return wait_until(settled, timeout=timeout, what=f"export {export_id} to be parsed")

    def ingest(self, content: bytes, **kw: Any) -> dict[str, Any]:
        return self.wait(self.send(content, **kw)["id"])

    def unmatched(self, **params: Any) -> list[dict[str, Any]]:
        resp = self.client.get(
            "/unmatched", params={"limit": 500, **params}, headers=self.evaluator()
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]

    def count(self, model: Any, *where: Any) -> int:
        engine = self.client.app.state.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar())


@pytest.fixture
def sv(app_for, keys: Keys, world: World, s3_server: S3Server, evaluator_bucket: str) -> Surveys:
    return Surveys(app_for, keys, world, s3_server, evaluator_bucket)
