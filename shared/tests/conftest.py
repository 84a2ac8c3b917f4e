"""A small app built with the shared factory, to test the shared behaviour on its own."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from rlc_shared.app import create_service_app
from rlc_shared.audit_api import audit_router
from rlc_shared.auth import CurrentPrincipal
from rlc_shared.config import ServiceSettings, settings_config
from rlc_shared.errors import Conflict, NotFound
from rlc_shared.limits import StrictModel
from rlc_shared.migrations import upgrade
from rlc_shared.policy import Target, authorize, requires
from rlc_shared.types import Urn
from rlc_testkit import Keys

#: The test app's own migrations (an audit trail), so /readyz has a schema to check.
TEST_APP_DIR = Path(__file__).resolve().parent / "sharedtest"


def _load_test_models():
    # By path: the test app is not an installed package (its migrations load it the same way).
    import importlib.util

    spec = importlib.util.spec_from_file_location("sharedtest_models", TEST_APP_DIR / "models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: The test app's models (``AuditEvent``).
TEST_MODELS = _load_test_models()


class DemoSettings(ServiceSettings):
    model_config = settings_config("SHAREDTEST_")
    service_name: str = "sharedtest"


class Nomination(StrictModel):
    urn: Urn
    note: str | None = None


def demo_router() -> APIRouter:
    router = APIRouter()

    @router.get("/whoami")
    def whoami(principal: CurrentPrincipal) -> dict:
        """Echo the caller."""
        return {"sub": principal.sub, "roles": sorted(principal.roles), "urn": principal.urn}

    @router.get("/managers-only", dependencies=[requires("la.update")])
    def managers_only() -> dict:
        """Only trial managers."""
        return {"ok": True}

    @router.get("/las/{la_code}/schools/{urn}")
    def school(la_code: str, urn: int, principal: CurrentPrincipal) -> dict:
        """A school, scoped."""
        authorize(
            principal,
            "school.read",
            Target(la_code=la_code, urn=urn),
            hidden=lambda: NotFound(f"There is no school {urn}."),
        )
        return {"urn": urn}

    @router.post("/nominations")
    def nominate(body: Nomination) -> dict:
        """A strict body."""
        return body.model_dump()

    @router.post("/conflict")
    def conflict() -> dict:
        """A domain error."""
        raise Conflict("The run has already been executed; runs execute once.", run_id="r1")

    @router.get("/boom")
    def boom() -> dict:
        """An unexpected failure."""
        raise RuntimeError("secret internals")

    return router


@pytest.fixture(scope="session")
def shared_database(database_factory) -> str:
    """The test app's database, migrated once (PostgreSQL or SQLite, as ``RLC_TEST_DATABASE``
    says), for tests that only read it."""
    url = database_factory.create("sharedtest")
    upgrade(TEST_APP_DIR, url)
    return url


@pytest.fixture
def fresh_database(database_factory) -> str:
    """A new, migrated database of the test app's own, for a test that counts what it writes."""
    url = database_factory.create("sharedtest_fresh")
    upgrade(TEST_APP_DIR, url)
    return url


def make_app(keys: Keys, tmp: Path, *, database_url: str, **overrides):
    tmp.mkdir(parents=True, exist_ok=True)
    values = {
        "database_url": database_url,
        "jwks_file": str(keys.jwks_file),
        "storage_dir": str(tmp / "storage"),
        "max_body_bytes": 1024,
        **overrides,
    }
    settings = DemoSettings(**values)
    app = create_service_app(
        settings=settings,
        title="shared test app",
        description="",
        service_dir=TEST_APP_DIR,
        routers=[demo_router(), audit_router(TEST_MODELS.AuditEvent)],
    )
    return app


@pytest.fixture
def client(keys: Keys, tmp_path: Path, shared_database: str) -> Iterator[TestClient]:
    with TestClient(make_app(keys, tmp_path, database_url=shared_database)) as c:
        yield c
