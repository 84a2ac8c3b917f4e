"""The demo's surveys part against real recruitment, randomisation and surveys processes: after
the demo trial is recruited and randomised, the pre round is set, an export is pushed through
the signed webhook (the surveys service's default development secret), and the response rates
per arm are printed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from rlc_cli import services
from rlc_cli.demo import surveys as surveys_demo
from rlc_cli.demo import trial
from rlc_cli.demo.context import DemoContext
from rlc_cli.devkeys import ensure_dev_keys
from rlc_shared.migrations import upgrade
from rlc_testkit import Keys, LiveService, free_port, start_service

RECRUITMENT_ENV = {
    "RECRUITMENT_EOI_DEADLINE": "2099-12-31",
    "RECRUITMENT_CONSENT_DEADLINE": "2099-12-31",
}


def test_the_demo_pushes_a_pre_round_export_and_shows_rates_per_arm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_factory: Any
) -> None:
    # The demo signs its tokens with the dev issuer's key: a fresh one, trusted by these services.
    monkeypatch.setenv("RLC_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("SURVEYS_WEBHOOK_SECRETS", raising=False)
    pem, kid = ensure_dev_keys(tmp_path / "keys")
    keys = Keys(private_pem=pem, kid=kid, jwks_file=tmp_path / "keys" / "jwks.json")
    dbs = {}
    for name in ("recruitment", "randomisation", "surveys"):
        dbs[name] = database_factory.create(f"demo_{name}")
        upgrade(services.get(name).directory, dbs[name])
    randomisation_port = free_port()
    started: list[LiveService] = []
    try:
        rec = start_service(
            "recruitment",
            database_url=dbs["recruitment"],
            keys=keys,
            tmp=tmp_path,
            extra_env=RECRUITMENT_ENV
            | {
                "RECRUITMENT_RANDOMISATION_JWKS_URL": (
                    f"http://127.0.0.1:{randomisation_port}/.well-known/jwks.json"
                )
            },
        )
        started.append(rec)
        rnd = start_service(
            "randomisation",
            database_url=dbs["randomisation"],
            keys=keys,
            tmp=tmp_path,
            port=randomisation_port,
            extra_env={
                "RANDOMISATION_RECRUITMENT_URL": rec.url,
                "RANDOMISATION_SIGNING_KEY_FILE": str(tmp_path / "randomisation-signing.pem"),
            },
        )
        started.append(rnd)
        sv = start_service(
            "surveys",
            database_url=dbs["surveys"],
            keys=keys,
            tmp=tmp_path,
            extra_env={
                "SURVEYS_RECRUITMENT_URL": rec.url,
                "SURVEYS_RANDOMISATION_URL": rnd.url,
                "SURVEYS_WORKER_INTERVAL_SECONDS": "0.2",
            },
        )
        started.append(sv)
        lines: list[str] = []
        ctx = DemoContext(
            urls={"recruitment": rec.url, "randomisation": rnd.url, "surveys": sv.url},
            echo=lines.append,
        )
        try:
            assert trial.load(ctx)
            surveys_demo.load(ctx)
            # Loading the part again changes nothing: the same round, the same delivery.
            surveys_demo.load(ctx)
        finally:
            ctx.close()
        output = "\n".join(lines)
        assert "through the signed webhook" in output and "2 in the unmatched queue" in output
        tm = ctx.headers("trial_manager")
        allocations = httpx.get(f"{rnd.url}/allocations", headers=tm).json()["data"]
        exports = httpx.get(f"{sv.url}/exports", headers=tm).json()
        assert exports["count"] == 1 and exports["data"][0]["status"] == "done"
        rates = httpx.get(
            f"{sv.url}/rounds/pre/response-rates", params={"by": "arm"}, headers=tm
        ).json()["data"]
        for row in rates:
            members = [a for a in allocations if a["arm"] == row["arm"]]
            assert row["schools"] == len(members) > 0
            assert 0 < row["responding_schools"] <= len(members)
            line = re.search(rf"  {row['arm']}: (\d+) of (\d+) schools responding", output)
            assert line is not None, output
            assert (int(line[1]), int(line[2])) == (row["responding_schools"], row["schools"])
    finally:
        for live in reversed(started):
            live.stop()
