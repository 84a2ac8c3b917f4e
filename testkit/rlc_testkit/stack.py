"""All five services as real processes for cross-service tests: ``rlc_cli.stack.Stack`` (what
``rlc up`` runs) on free ports, one new database per service (PostgreSQL or SQLite, as
``RLC_TEST_DATABASE`` says), the simulated calendar's deadlines, and either local storage or an
S3-compatible server reached over HTTP.

Tokens come from the dev issuer whose keys are in ``RLC_KEYS_DIR`` (``dev_keys``), which is what
the trial simulator signs with.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rlc_cli import services
from rlc_cli.devkeys import dev_token, ensure_dev_keys
from rlc_cli.simulate import Timeline
from rlc_cli.simulate.timeline import today
from rlc_cli.stack import Stack, launcher_environment
from rlc_testkit.plugin import free_port


@pytest.fixture(scope="module")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A dev issuer of the module's own (the simulator's tokens), trusted by its stacks; the
    surveys service's development webhook secret at both ends."""
    tmp = tmp_path_factory.mktemp("stack")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RLC_KEYS_DIR", str(tmp / "keys"))
        mp.delenv("SURVEYS_WEBHOOK_SECRETS", raising=False)
        ensure_dev_keys(tmp / "keys")
        yield tmp


def s3_environment(endpoint_url: str, bucket: str) -> dict[str, str]:
    """Every service stores its files in ``bucket`` (under its own prefix) at ``endpoint_url``."""
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    for spec in services.SERVICES:
        p = spec.env_prefix
        env |= {
            p + "STORAGE_BACKEND": "s3",
            p + "S3_BUCKET": bucket,
            p + "S3_ENDPOINT_URL": endpoint_url,
            p + "S3_PREFIX": spec.name,
        }
    return env


def start_stack(
    tmp: Path, database_factory: Any, label: str, *, extra_env: dict[str, str] | None = None
) -> Stack:
    """The five services on free ports, each on a new database, trusting the dev issuer."""
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_DATABASE_URL", "_PORT"))}
    keys = tmp / "keys"
    for spec in services.SERVICES:
        p = spec.env_prefix
        base[p + "PORT"] = str(free_port())
        base[p + "DATABASE_URL"] = database_factory.create(f"sim{label}_{spec.name}")
        base[p + "STORAGE_DIR"] = str(tmp / f"storage-{label}" / spec.name)
        base[p + "JWKS_FILE"] = str(keys / "jwks.json")
        base[p + "LOG_LEVEL"] = "WARNING"
    base["RANDOMISATION_SIGNING_KEY_FILE"] = str(keys / f"randomisation-{label}.pem")
    base["RANDOMISATION_OUTBOX_INTERVAL_SECONDS"] = "0.5"
    base["SURVEYS_WORKER_INTERVAL_SECONDS"] = "0.2"
    base["ANALYTICS_ANALYSIS_INTERVAL_SECONDS"] = "0.2"
    base |= extra_env or {}
    for name, value in Timeline.for_today(today()).service_environment().items():
        base.setdefault(name, value)
    stack = Stack(env=launcher_environment(base), log_dir=tmp)
    stack.migrate()
    try:
        stack.start(ready_timeout=120)
    except RuntimeError:
        stack.stop()
        raise
    return stack


def auth(role: str, **claims: Any) -> dict[str, str]:
    """A dev-issuer bearer header for ``role``."""
    claims.setdefault("sub", f"test-{role}")
    return {"Authorization": f"Bearer {dev_token(role=role, **claims)}"}


def pages(url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every item of a keyset-paginated list."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        resp = httpx.get(url, headers=headers, params=params, timeout=30)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        items += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items
