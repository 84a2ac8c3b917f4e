"""The README's first command: ``rlc up`` migrates and starts all five services, prints their
URLs and a trial_manager token, and stops them all on Ctrl-C. Real processes, real HTTP."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from rlc_cli import services
from rlc_shared.auth import KeySet, verify_token
from rlc_shared.config import AUDIENCE, DEV_ISSUER
from rlc_testkit import free_port

RLC = str(Path(sys.executable).parent / "rlc")


def launcher_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_DATABASE_URL", "_PORT"))}
    for spec in services.SERVICES:
        env[spec.env_prefix + "PORT"] = str(free_port())
    return env


def test_token_command_prints_only_a_verifiable_token(tmp_path: Path) -> None:
    out = subprocess.run(
        [RLC, "token", "--role", "virtual_school", "--la-code", "865", "--sub", "vs-wiltshire"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    token = out.stdout.strip()
    assert out.stdout.count("\n") == 1 and re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", token)
    keys = KeySet(jwks_file=str(tmp_path / "var" / "keys" / "jwks.json"))
    principal = verify_token(token, keys=keys, issuer=DEV_ISSUER, audience=AUDIENCE)
    assert principal.sub == "vs-wiltshire" and principal.la_code == "865"
    assert principal.roles == {"virtual_school"}
    bad = subprocess.run(
        [RLC, "token", "--role", "overlord"], cwd=tmp_path, capture_output=True, text=True
    )
    assert bad.returncode != 0 and "unknown role" in bad.stderr


def test_migrate_one_service(tmp_path: Path) -> None:
    subprocess.run([RLC, "migrate", "workshops"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "var" / "workshops.db").exists()
    assert not (tmp_path / "var" / "recruitment.db").exists()
    bad = subprocess.run([RLC, "migrate", "nonsense"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode != 0


def test_up_starts_all_five_loads_the_demo_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = launcher_env(tmp_path)
    proc = subprocess.Popen(
        [RLC, "up", "--demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops all services" in line:
                break
        output = "".join(lines)
        assert "RLC Trial Platform is up" in output, output
        for spec in services.SERVICES:
            url = f"http://127.0.0.1:{env[spec.env_prefix + 'PORT']}"
            assert f"{url}/docs" in output
            assert httpx.get(url + "/readyz", timeout=5).json() == {"status": "ready"}
        token = output.split("trial_manager token (8 h):\n", 1)[1].split("\n", 1)[0]
        keys = KeySet(jwks_file=str(tmp_path / "var" / "keys" / "jwks.json"))
        assert (
            "trial_manager"
            in verify_token(token, keys=keys, issuer=DEV_ISSUER, audience=AUDIENCE).roles
        )
        # The demo trial went in through the APIs: 12 eligible, consented schools, randomised
        # within their two local authorities, and recruitment was told.
        loaded = re.search(
            r"demo trial loaded: 18 GIAS schools, 2 local authorities, "
            r"12 schools randomised \((\d+) intervention, (\d+) control\)",
            output,
        )
        assert loaded, output
        assert abs(int(loaded[1]) - int(loaded[2])) <= 2  # two strata, each within one
        headers = {"Authorization": f"Bearer {token}"}
        randomisation = f"http://127.0.0.1:{env['RANDOMISATION_PORT']}"
        allocations = httpx.get(randomisation + "/allocations?limit=100", headers=headers).json()[
            "data"
        ]
        by_la: dict[str, list[str]] = {}
        for a in allocations:
            by_la.setdefault(a["la_code"], []).append(a["arm"])
        assert {la: len(arms) for la, arms in by_la.items()} == {"865": 7, "370": 5}
        for arms in by_la.values():
            assert abs(arms.count("intervention") - arms.count("control")) <= 1
        recruitment = f"http://127.0.0.1:{env['RECRUITMENT_PORT']}"
        school = httpx.get(f"{recruitment}/schools/{allocations[0]['urn']}", headers=headers).json()
        assert school["status"] == "randomised" and school["arm"] == allocations[0]["arm"]
        verify = httpx.get(randomisation + "/log/verify", headers=headers).json()
        assert verify["ok"] is True, verify
        jwks = json.loads((tmp_path / "var" / "keys" / "jwks.json").read_text())
        assert "d" not in jwks["keys"][0], "the JWKS must hold only the public key"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    for spec in services.SERVICES:
        try:
            httpx.get(f"http://127.0.0.1:{env[spec.env_prefix + 'PORT']}/healthz", timeout=1)
            raise AssertionError(f"{spec.name} still answers after Ctrl-C")
        except httpx.TransportError:
            pass
