"""The README's first command: ``rlc up`` migrates and starts all five services, prints their
URLs and a trial_manager token, and stops them all on Ctrl-C; with ``--demo`` it loads the
simulated trial (small here) and prints where to look, each of which is followed and must work.
Real processes, real HTTP."""

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
from rlc_cli.simulate import Timeline
from rlc_cli.simulate.population import draw
from rlc_cli.simulate.timeline import today
from rlc_shared.auth import KeySet, verify_token
from rlc_shared.config import AUDIENCE, DEV_ISSUER
from rlc_testkit import free_port

RLC = str(Path(sys.executable).parent / "rlc")
#: The simulated trial's size for the launcher's test (the demo's default is 300 and 10).
SCHOOLS, LAS = 24, 2


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


def test_up_loads_the_simulated_trial_prints_where_to_look_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    env = launcher_env(tmp_path)
    calendar = Timeline.for_today(today()).service_environment()
    for name in calendar:
        env.pop(name, None)
    errors = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(
        [RLC, "up", "--demo", "--demo-schools", str(SCHOOLS), "--demo-las", str(LAS)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        start_new_session=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 300
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops all services" in line:
                break
        output = "".join(lines)
        logged = (tmp_path / "stderr.txt").read_text()
        assert "RLC Trial Platform is up" in output, output + logged
        # The services got the simulated calendar (nothing was set before), and said so.
        assert "simulated calendar: " + " ".join(f"{k}={v}" for k, v in calendar.items()) in logged

        for spec in services.SERVICES:
            url = f"http://127.0.0.1:{env[spec.env_prefix + 'PORT']}"
            assert f"{url}/docs" in output
            docs = httpx.get(f"{url}/docs", timeout=10)
            assert docs.status_code == 200 and "swagger" in docs.text.lower(), spec.name
            assert httpx.get(url + "/readyz", timeout=5).json() == {"status": "ready"}
        token = output.split("trial_manager token (8 h):\n", 1)[1].split("\n", 1)[0]
        keys = KeySet(jwks_file=str(tmp_path / "var" / "keys" / "jwks.json"))
        assert (
            "trial_manager"
            in verify_token(token, keys=keys, issuer=DEV_ISSUER, audience=AUDIENCE).roles
        )

        # The simulated trial went in through the APIs: what its seed implies.
        population = draw(schools=SCHOOLS, las=LAS, seed=2021)
        consenting = [s for s in population.trial_schools if s.eligible and s.consents]
        loaded = re.search(
            rf"simulated trial loaded \(seed 2021\): {len(population.schools)} GIAS schools in "
            rf"{LAS} local authorities; .* {len(consenting)} randomised \((\d+) intervention, "
            r"(\d+) control\)",
            logged,
        )
        assert loaded, logged
        headers = {"Authorization": f"Bearer {token}"}
        randomisation = f"http://127.0.0.1:{env['RANDOMISATION_PORT']}"
        allocations = httpx.get(randomisation + "/allocations?limit=500", headers=headers).json()[
            "data"
        ]
        assert sorted(a["urn"] for a in allocations) == sorted(s.urn for s in consenting)
        for la in population.las:
            arms = [a["arm"] for a in allocations if a["la_code"] == la.code]
            # A main and a late joiners' run, each balanced within one.
            assert abs(arms.count("intervention") - arms.count("control")) <= 2
        # The withdrawals were accepted (the cut-off is ahead) and their answers left out.
        withdrawn = re.search(r"surveys pre: .*withdrawn teachers left out (\d+)\)", logged)
        assert withdrawn and int(withdrawn[1]) > 0, logged

        # Every place to look works as printed: the $ lines, pasted into a shell in order.
        commands = [line[2:] for line in output.splitlines() if line.startswith("$ ")]
        assert any("/funnel" in c for c in commands) and any("consort.svg" in c for c in commands)
        assert commands[-1].endswith(
            "-m randomisation.verifier log.jsonl --jwks jwks.json --checkpoint checkpoint.json"
        )
        look = tmp_path / "look"
        look.mkdir()
        shell = subprocess.run(
            ["bash", "-euc", "\n".join(commands)],
            cwd=look,
            env={k: v for k, v in os.environ.items() if not k.startswith("RLC_")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shell.returncode == 0, shell.stdout + shell.stderr
        assert shell.stdout.startswith("OK: "), shell.stdout
        assert "checkpoint verified" in shell.stdout and "2 runs re-derived" in shell.stdout
        funnel = json.loads((look / "funnel.json").read_text())
        assert {la["la_code"] for la in funnel["local_authorities"]} == {
            la.code for la in population.las
        }
        assert sum(la["counts"]["randomised"] for la in funnel["local_authorities"]) == len(
            consenting
        )
        rates = json.loads((look / "response-rates.json").read_text())["data"]
        assert {r["arm"] for r in rates} == {"intervention", "control"}
        assert sum(r["schools"] for r in rates) == len(consenting)
        dosage = json.loads((look / "dosage.json").read_text())["data"]
        assert sorted(d["urn"] for d in dosage) == sorted(
            a["urn"] for a in allocations if a["arm"] == "intervention"
        )
        assert re.search(r"schools responding by arm: control \d+%, intervention \d+%", logged)
        report = json.loads((look / "report.json").read_text())
        assert report["missing_inputs"] == [] and report["impact"]
        assert {
            arm: report["consort"]["arms"][arm]["allocated"]["count"]
            for arm in ("intervention", "control")
        } == {"intervention": int(loaded[1]), "control": int(loaded[2])}
        assert b"<svg" in (look / "consort.svg").read_bytes()
        # Loading again (``rlc demo``, or ``make run`` a second time) changes nothing.
        demo = subprocess.run(
            [RLC, "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert demo.returncode == 0, demo.stderr
        assert "the simulated trial is loaded already" in demo.stderr
        assert "-m randomisation.verifier" in demo.stdout
        again = httpx.get(randomisation + "/allocations?limit=500", headers=headers).json()
        assert len(again["data"]) == len(allocations)
        jwks = json.loads((tmp_path / "var" / "keys" / "jwks.json").read_text())
        assert "d" not in jwks["keys"][0], "the JWKS must hold only the public key"
        assert (tmp_path / "var" / "logs" / "recruitment.log").exists()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        errors.close()
    for spec in services.SERVICES:
        try:
            httpx.get(f"http://127.0.0.1:{env[spec.env_prefix + 'PORT']}/healthz", timeout=1)
            raise AssertionError(f"{spec.name} still answers after Ctrl-C")
        except httpx.TransportError:
            pass
