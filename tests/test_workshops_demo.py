"""The demo's workshops part against real recruitment, randomisation and workshops processes: after
the demo trial is recruited and randomised, a cohort per demo LA enrols the intervention schools,
two sessions' attendance comes in from a Zoom and a Teams file, and the dosage is shown."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from rlc_cli import services
from rlc_cli.demo import trial
from rlc_cli.demo import workshops as workshops_demo
from rlc_cli.demo.context import DemoContext
from rlc_cli.devkeys import ensure_dev_keys
from rlc_shared.migrations import upgrade
from rlc_testkit import Keys, start_service

WORLD = Path(__file__).resolve().parents[1] / "services" / "workshops" / "tests" / "world.py"


def _world() -> Any:
    spec = importlib.util.spec_from_file_location("workshops_tests_world", WORLD)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


def test_the_demo_enrols_records_attendance_and_shows_dosage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_factory: Any
) -> None:
    # The demo signs its tokens with the dev issuer's key: a fresh one, trusted by these services.
    monkeypatch.setenv("RLC_KEYS_DIR", str(tmp_path / "keys"))
    pem, kid = ensure_dev_keys(tmp_path / "keys")
    keys = Keys(private_pem=pem, kid=kid, jwks_file=tmp_path / "keys" / "jwks.json")
    upstream = _world().Upstream(
        keys=keys, tmp=tmp_path, database_factory=database_factory, label="demo"
    )
    database = database_factory.create("demo_workshops")
    upgrade(services.get("workshops").directory, database)
    ws = start_service(
        "workshops",
        database_url=database,
        keys=keys,
        tmp=tmp_path,
        extra_env={
            "WORKSHOPS_RECRUITMENT_URL": upstream.recruitment_url,
            "WORKSHOPS_RANDOMISATION_URL": upstream.randomisation_url,
        },
    )
    lines: list[str] = []
    urls = {
        "recruitment": upstream.recruitment_url,
        "randomisation": upstream.randomisation_url,
        "workshops": ws.url,
    }
    ctx = DemoContext(urls=urls, echo=lines.append)
    try:
        assert trial.load(ctx)
        workshops_demo.load(ctx)
        output = "\n".join(lines)
        tm = ctx.headers("trial_manager")
        allocations = httpx.get(
            f"{upstream.randomisation_url}/allocations", headers=tm, params={"limit": 100}
        ).json()["data"]
        intervention = sorted(a["urn"] for a in allocations if a["arm"] == "intervention")
        assert (
            f"demo workshops loaded: 2 cohorts, {len(intervention)} intervention schools enrolled"
            in output
        )
        for la in ("Wiltshire", "Barnsley"):
            assert re.search(rf"{la} workshop_1 \(zoom\): \d+ matched, 2 for review", output), (
                output
            )
            assert re.search(rf"{la} workshop_2 \(teams\): \d+ matched, 2 for review", output), (
                output
            )
        shown = [int(u) for u in re.findall(r"^    (\d{6}): ", output, flags=re.M)]
        assert shown == intervention
        dosage = httpx.get(f"{ws.url}/dosage", headers=tm, params={"limit": 100}).json()["data"]
        assert [d["urn"] for d in dosage] == intervention
        # Each school's Subject Leads were at both sessions; some only for part of them.
        assert all((d["workshops_attended"], d["sessions_attended"]) == (2, 2) for d in dosage)
        assert {d["complier"] for d in dosage} == {False}  # two workshops of the six so far
        assert "complier: no" in output
    finally:
        ctx.close()
        ws.stop()
        upstream.stop()
