"""Test fixtures for every service: real databases (PostgreSQL or SQLite) created and dropped per
run, real migrations, dev keys and tokens, a local S3 server, and live service processes.

``RLC_TEST_DATABASE=postgresql`` (the default when PostgreSQL answers) or ``sqlite`` picks the
backend; ``RLC_TEST_POSTGRES_URL`` points at the server (default: postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Engine

from rlc_cli import services
from rlc_shared.auth import generate_private_key_pem, mint_token, public_jwk, sign_jws
from rlc_shared.config import AUDIENCE, DEV_ISSUER
from rlc_shared.migrations import upgrade

ADMIN_URL = os.environ.get("RLC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001
        return False


def backend() -> str:
    chosen = os.environ.get("RLC_TEST_DATABASE")
    if chosen:
        return chosen
    return "postgresql" if postgres_available() else "sqlite"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres_only: needs PostgreSQL (triggers, roles, locks)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if backend() == "postgresql":
        return
    skip = pytest.mark.skip(reason="PostgreSQL-only behaviour; runs in the PostgreSQL pass")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


class DatabaseFactory:
    """Creates one database per service per test session and drops them all at the end."""

    def __init__(self, tmp: Path) -> None:
        self.kind = backend()
        self.tmp = tmp
        self.run_id = uuid.uuid4().hex[:8]
        self.created: list[str] = []

    def create(self, name: str) -> str:
        if self.kind == "sqlite":
            path = self.tmp / f"{name}.db"
            while path.exists():
                path = path.with_name(f"{path.stem}_1.db")
            return f"sqlite:///{path}"
        import psycopg

        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        # Unique per run, worker and call: two tests may ask for the same name.
        dbname = f"rlc_test_{self.run_id}_{worker}_{len(self.created)}_{name}"[:63]
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        self.created.append(dbname)
        return ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname

    def drop_all(self) -> None:
        if self.kind == "sqlite" or not self.created:
            return
        import psycopg

        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            for dbname in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("db"))
    if factory.kind == "postgresql" and not postgres_available():
        pytest.exit(
            f"RLC_TEST_DATABASE=postgresql but PostgreSQL at {ADMIN_URL} does not answer", 3
        )
    yield factory
    factory.drop_all()


_migrated: dict[str, str] = {}


@pytest.fixture(scope="session")
def migrated_database(database_factory: DatabaseFactory):
    """``migrated_database("recruitment")`` → URL of that service's migrated test database."""

    def get(service: str) -> str:
        if service not in _migrated:
            url = database_factory.create(service)
            upgrade(services.get(service).directory, url)
            _migrated[service] = url
        return _migrated[service]

    return get


def wipe(engine: Engine, metadata: MetaData) -> None:
    """Empty every table of a service between tests (bypassing append-only triggers)."""
    tables = [t.name for t in metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Test clean-up only: replica mode skips the append-only log's triggers.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for t in reversed(tables):
            conn.execute(text(f'DELETE FROM "{t}"'))


@dataclass
class Keys:
    private_pem: bytes
    kid: str
    jwks_file: Path

    def token(
        self,
        role: str | list[str] = "trial_manager",
        *,
        sub: str | None = None,
        la_code: str | None = None,
        urn: int | None = None,
        ttl_seconds: int = 600,
        issuer: str = DEV_ISSUER,
        audience: str = AUDIENCE,
        extra: dict[str, Any] | None = None,
    ) -> str:
        roles = [role] if isinstance(role, str) else role
        return mint_token(
            private_pem=self.private_pem,
            kid=self.kid,
            sub=sub or f"test-{roles[0] if roles else 'nobody'}",
            roles=roles,
            la_code=la_code,
            urn=urn,
            issuer=issuer,
            audience=audience,
            ttl_seconds=ttl_seconds,
            extra=extra,
        )

    def headers(self, role: str | list[str] = "trial_manager", **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **kw)}"}


@dataclass
class AllocationSigner:
    """Stands in for the randomisation service's key: signs allocation statements that the
    recruitment service checks against ``jwks_file`` (its RANDOMISATION_JWKS_FILE in tests)."""

    private_pem: bytes
    kid: str
    jwks_file: Path

    def statement(
        self,
        *,
        urn: int,
        run_id: str,
        arm: str,
        test: bool = False,
        entry_index: int = 0,
        entry_hash: str = "0" * 64,
        **override: Any,
    ) -> str:
        payload = {
            "typ": "rlc.allocation",
            "urn": urn,
            "run_id": run_id,
            "arm": arm,
            "test": test,
            "entry_index": entry_index,
            "entry_hash": entry_hash,
            "iat": int(time.time()),
        } | override
        return sign_jws(payload, private_pem=self.private_pem, kid=self.kid)


@pytest.fixture(scope="session")
def allocation_signer(tmp_path_factory: pytest.TempPathFactory) -> AllocationSigner:
    import json

    folder = tmp_path_factory.mktemp("randomisation-keys")
    pem = generate_private_key_pem()
    kid = "rand-test-" + uuid.uuid4().hex[:8]
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk(pem, kid)]}))
    return AllocationSigner(private_pem=pem, kid=kid, jwks_file=jwks)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    import json

    folder = tmp_path_factory.mktemp("keys")
    pem = generate_private_key_pem()
    kid = "test-" + uuid.uuid4().hex[:8]
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk(pem, kid)]}))
    (folder / "issuer-private.pem").write_bytes(pem)
    return Keys(private_pem=pem, kid=kid, jwks_file=jwks)


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, *, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@dataclass
class S3Server:
    endpoint_url: str
    bucket: str

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="eu-west-2")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A local S3-compatible server (moto) reached over HTTP through boto3."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/moto-api/", proc=proc)
        server = S3Server(endpoint_url=url, bucket=f"rlc-test-{uuid.uuid4().hex[:8]}")
        server.client().create_bucket(
            Bucket=server.bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
        )
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def service_env(spec: services.ServiceSpec, **values: Any) -> dict[str, str]:
    return {spec.env_prefix + k.upper(): str(v) for k, v in values.items() if v is not None}


@dataclass
class LiveService:
    name: str
    url: str
    database_url: str
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_service(
    name: str,
    *,
    database_url: str,
    keys: Keys,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
    tmp: Path,
) -> LiveService:
    """Start one service as a real uvicorn process on a free loopback port."""
    spec = services.get(name)
    port = port or free_port()
    env = dict(os.environ)
    env.update(
        service_env(
            spec,
            port=port,
            database_url=database_url,
            jwks_file=keys.jwks_file,
            storage_dir=tmp / f"storage-{name}",
            service_token=keys.token("service", sub=f"service:{name}", ttl_seconds=3600),
        )
    )
    env.update(extra_env or {})
    log = (tmp / f"{name}-{port}.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            spec.app_factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        env=env,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", proc=proc)
    except RuntimeError:
        proc.kill()
        raise
    return LiveService(name=name, url=url, database_url=database_url, proc=proc)


def api_routes(app: Any) -> list[tuple[str, frozenset[str]]]:
    """Every (path, methods) an app serves, including routes of included routers."""
    from fastapi.routing import APIRoute

    found: list[tuple[str, frozenset[str]]] = []

    def walk(routes: Any, prefix: str) -> None:
        for route in routes:
            nested = getattr(route, "original_router", None)
            if nested is not None:
                walk(nested.routes, prefix + route.include_context.prefix)
            elif isinstance(route, APIRoute):
                found.append((prefix + route.path, frozenset(route.methods or ())))
            elif hasattr(route, "path") and hasattr(route, "methods") and route.methods:
                found.append((prefix + route.path, frozenset(route.methods)))

    walk(app.routes, "")
    return found
