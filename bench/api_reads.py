"""Benchmark: the request cost of the main read endpoints of every service, against a bare FastAPI
"hello" app served by the same uvicorn, measured in the same run.

It starts the five services (SQLite in a temporary folder; with ``--database postgresql`` one
database per service on the local server, dropped afterwards), loads the demo trial through the
APIs, and, for each endpoint, with ``hey`` on loopback:

- p50/p99 latency at a steady 200 requests/s (20 clients × 10 requests/s each, started at evenly
  spaced moments: ``loadgen.open_loop``);
- closed-loop throughput (16 connections, as fast as it answers) as a ratio to the bare app's,
  which is measured before and after each endpoint so that the ratio compares like with like on a
  machine whose load varies.

Targets (issue 8): p99 under 50 ms at 200 requests/s, and throughput at least 0.25× the bare app's
for single-object reads. Exits non-zero when one is missed. Needs ``hey`` (apt-get install hey).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import httpx

# loadgen.py lies beside this script (on the path when it runs as a script).
from loadgen import Request, Result, closed_loop, open_loop, percentile

from rlc_cli import services
from rlc_cli.demo import load_demo
from rlc_cli.devkeys import dev_token, ensure_dev_keys
from rlc_cli.stack import Stack, launcher_environment, uvicorn_command

P99_TARGET_MS = 50.0
RATIO_TARGET = 0.25
SECONDS = float(os.environ.get("RLC_BENCH_SECONDS", "4"))
BARE_APP = """
from fastapi import FastAPI

def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict:
        return {"hello": "world"}

    return app
"""


@dataclass
class Endpoint:
    service: str
    path: str
    single: bool  # a single-object read: the throughput target applies


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check(result: Result, url: str) -> Result:
    if result.failures:
        raise RuntimeError(f"{url}: {result.failures} of {result.served} requests failed")
    return result


def latencies_at(url: str, *, token: str | None, rate: int) -> list[float]:
    """Latencies (seconds) at a steady ``rate`` (open loop, evenly spread arrivals)."""
    steady = open_loop(url, [Request("GET", "")], token, rate=rate, seconds=SECONDS)
    return _check(steady, url).read_latencies


def throughput(url: str, token: str | None) -> float:
    """Requests per second with 16 clients sending as fast as it answers (closed loop)."""
    loaded = closed_loop(url, [Request("GET", "")], token, connections=16, seconds=SECONDS)
    return _check(loaded, url).served / SECONDS


@contextmanager
def bare_app(tmp: Path):
    (tmp / "bare_hello.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen(
        uvicorn_command("bare_hello:create_app", host="127.0.0.1", port=port),
        cwd=tmp,
        env={**os.environ, "PYTHONPATH": str(tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/hello"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def postgres_databases(run: str) -> dict[str, str]:
    import psycopg

    admin = os.environ.get("RLC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    urls = {}
    with psycopg.connect(admin, autocommit=True) as conn:
        for spec in services.SERVICES:
            name = f"rlc_bench_{run}_{spec.name}"
            conn.execute(f'CREATE DATABASE "{name}"')
            urls[spec.name] = admin.rsplit("/", 1)[0] + "/" + name
    return urls


def drop_postgres(urls: dict[str, str]) -> None:
    import psycopg

    admin = os.environ.get("RLC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        for url in urls.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def endpoints(stack: Stack, token: str) -> list[Endpoint]:
    """The main reads of every service, with ids taken from the demo trial."""
    tm = {"Authorization": f"Bearer {token}"}
    rnd = stack.urls["randomisation"]
    allocation = httpx.get(f"{rnd}/allocations", headers=tm, params={"limit": 1}).json()["data"][0]
    urn = allocation["urn"]
    run_id = allocation["run_id"]
    intervention = next(
        a["urn"]
        for a in httpx.get(f"{rnd}/allocations", headers=tm, params={"limit": 500}).json()["data"]
        if a["arm"] == "intervention"
    )
    found = [
        Endpoint("recruitment", f"/schools/{urn}", True),
        Endpoint("recruitment", "/schools?limit=50", False),
        Endpoint("recruitment", f"/local-authorities/{allocation['la_code']}", True),
        Endpoint("randomisation", f"/allocations/{urn}", True),
        Endpoint("randomisation", f"/runs/{run_id}", True),
        Endpoint("randomisation", "/allocations?limit=50", False),
        Endpoint("randomisation", "/log?limit=50", False),
        Endpoint("surveys", "/rounds/pre", True),
        Endpoint("surveys", "/rounds/pre/response-rates?by=arm", False),
        Endpoint("workshops", f"/dosage/{intervention}", True),
        Endpoint("workshops", "/dosage?limit=50", False),
        Endpoint("analytics", "/report", False),
    ]
    for endpoint in found:  # every one must answer before it is measured
        resp = httpx.get(stack.urls[endpoint.service] + endpoint.path, headers=tm, timeout=60)
        if resp.status_code != 200:
            raise RuntimeError(
                f"{endpoint.service} {endpoint.path}: {resp.status_code} {resp.text}"
            )
    return found


def run(database: str) -> list[tuple[Endpoint, float, float, float]]:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        os.chdir(tmp)  # var/ (SQLite files, storage, dev keys) goes in the temporary folder
        ensure_dev_keys()
        base = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
        for spec in services.SERVICES:
            base[spec.env_prefix + "PORT"] = str(free_port())
            base[spec.env_prefix + "LOG_LEVEL"] = "WARNING"
        pg: dict[str, str] = {}
        if database == "postgresql":
            pg = postgres_databases(f"{os.getpid()}")
            for spec in services.SERVICES:
                base[spec.env_prefix + "DATABASE_URL"] = pg[spec.name]
        stack = Stack(env=launcher_environment(base), log_dir=tmp)
        results = []
        try:
            stack.migrate()
            stack.start()
            load_demo(stack.urls, echo=lambda line: None)
            token = dev_token(role="trial_manager", sub="bench-trial-manager")
            with bare_app(tmp) as bare:
                throughput(bare, None)  # warm up
                for endpoint in endpoints(stack, token):
                    url = stack.urls[endpoint.service] + endpoint.path
                    throughput(url, token)  # warm up
                    latencies = latencies_at(url, token=token, rate=200)
                    before = throughput(bare, None)
                    served = throughput(url, token)
                    after = throughput(bare, None)
                    ratio = served / median([before, after])
                    results.append(
                        (
                            endpoint,
                            percentile(latencies, 0.5) * 1000,
                            percentile(latencies, 0.99) * 1000,
                            ratio,
                        )
                    )
                    print(
                        f"  {database:<10} {endpoint.service:<13} {endpoint.path:<44} "
                        f"p50 {results[-1][1]:5.1f} ms  p99 {results[-1][2]:5.1f} ms  "
                        f"throughput {served:6.0f}/s = {ratio:.2f}× bare ({before:.0f}, {after:.0f}/s)",
                        flush=True,
                    )
        finally:
            stack.stop()
            if pg:
                drop_postgres(pg)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("api_reads: needs `hey` on the PATH (apt-get install hey)", file=sys.stderr)
        return 2
    here = Path.cwd()
    ok = True
    for database in ["sqlite", "postgresql"] if args.database == "both" else [args.database]:
        try:
            results = run(database)
        finally:
            os.chdir(here)
        for endpoint, _, p99, ratio in results:
            if p99 >= P99_TARGET_MS or (endpoint.single and ratio < RATIO_TARGET):
                ok = False
    print(
        f"api_reads: targets p99 < {P99_TARGET_MS:.0f} ms at 200 requests/s, single-object "
        f"throughput >= {RATIO_TARGET}× the bare app: {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
