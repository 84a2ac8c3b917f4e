"""Benchmark: a realistic, bounded mix of API reads and writes against the five running services,
on loopback, next to a bare FastAPI "hello" app measured in the same run.

It starts the five services (SQLite in a temporary folder, or ``--database postgresql``: one
database per service on the local server), loads a small simulated trial through the APIs
(``rlc_cli.simulate``), then, service by service, runs that service's mix — several ``hey``
processes at once, one per request kind, with connections in proportion to how often users make
that request — twice:

- closed loop (as fast as it answers) for the throughput, as a ratio to the bare app's throughput
  under the same number of connections, measured just before and after;
- open loop at 200 requests/s in all, for the reads' p50/p99 latency.

Targets (issue 12): reads p99 under 50 ms at 200 requests/s per service, and throughput at least
half of the bare app's. Exits non-zero when one is missed. Needs ``hey`` (apt-get install hey).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from statistics import median

import httpx

# api_reads.py and loadgen.py lie beside this script (on the path when it runs as a script).
from api_reads import bare_app, drop_postgres, free_port, postgres_databases
from loadgen import Request, closed_loop, open_loop, percentile

from rlc_cli import services
from rlc_cli.devkeys import dev_token, ensure_dev_keys
from rlc_cli.simulate import simulate
from rlc_cli.stack import Stack, launcher_environment

SECONDS = float(os.environ.get("RLC_BENCH_SECONDS", "5"))
CONNECTIONS = 16
RATE = 200
P99_TARGET_MS = 50.0
RATIO_TARGET = 0.5


def mixes(stack: Stack, token: str, facts: dict) -> dict[str, list[Request]]:
    """Each service's mix, with ids taken from the simulated trial."""
    tm = {"Authorization": f"Bearer {token}"}

    def get(service: str, path: str) -> dict:
        return httpx.get(stack.urls[service] + path, headers=tm, timeout=30).json()

    allocation, other = get("randomisation", "/allocations?limit=2")["data"]
    urn, la = allocation["urn"], allocation["la_code"]
    run_id = allocation["run_id"]
    # Staff are added at another school than the one read: thousands of additions would make
    # the school read ever bigger, which is not what a trial's schools are like.
    staffed = other["urn"]
    intervention = next(
        a["urn"]
        for a in get("randomisation", "/allocations?limit=200")["data"]
        if a["arm"] == "intervention"
    )
    export = get("surveys", "/exports?limit=1")["data"][0]["id"]
    cohort = get("workshops", "/cohorts?limit=1")["data"][0]["id"]
    session = get("workshops", f"/cohorts/{cohort}/sessions")[1]["id"]
    return {
        "recruitment": [
            Request("GET", f"/schools/{urn}", 6),
            Request("GET", f"/schools?la_code={la}&limit=50", 2),
            Request("GET", f"/local-authorities/{la}", 2),
            Request("GET", "/funnel", 1),
            Request(
                "POST",
                f"/schools/{staffed}/staff",
                1,
                {"name": "Load Test Teacher", "role": "year6_teacher"},
            ),
        ],
        "randomisation": [
            Request("GET", f"/allocations/{urn}", 7),
            Request("GET", "/allocations?limit=50", 2),
            Request("GET", f"/runs/{run_id}", 2),
            Request("GET", "/log?limit=20", 1),
        ],
        "surveys": [
            Request("GET", f"/exports/{export}", 4),
            Request("GET", "/rounds/pre/response-rates?by=la", 3),
            Request("GET", "/rounds/pre", 3),
            Request("GET", "/unmatched?limit=20", 2),
        ],
        "workshops": [
            Request("GET", f"/dosage/{intervention}", 5),
            Request("GET", f"/sessions/{session}/attendance", 3),
            Request("GET", "/dosage?limit=50", 2),
            Request("GET", f"/cohorts/{cohort}/sessions", 2),
        ],
        "analytics": [
            Request("GET", "/plans?limit=10", 3),
            Request("GET", "/analyses?limit=10", 3),
            Request(
                "POST",
                "/design/mdes",
                4,
                {"schools": 150, "pupils_per_school": 25, "icc": 0.15, "r2_school": 0.3},
            ),
            Request("GET", "/report", 2),
        ],
    }


def bare_throughput(url: str) -> float:
    hello = [Request("GET", "")]
    return closed_loop(url, hello, None, connections=CONNECTIONS, seconds=SECONDS).served / SECONDS


def run(database: str) -> bool:
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        os.chdir(tmp)
        ensure_dev_keys()
        base = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
        for spec in services.SERVICES:
            base[spec.env_prefix + "PORT"] = str(free_port())
        pg: dict[str, str] = {}
        if database == "postgresql":
            pg = postgres_databases(f"mix{os.getpid()}")
            for spec in services.SERVICES:
                base[spec.env_prefix + "DATABASE_URL"] = pg[spec.name]
        stack = Stack(env=launcher_environment(base), log_dir=tmp)
        try:
            stack.migrate()
            stack.start()
            summary = simulate(stack.urls, schools=60, las=3, seed=2021, echo=lambda line: None)
            token = dev_token(role="trial_manager", sub="bench-trial-manager")
            evaluator = dev_token(role="evaluator", sub="bench-evaluator")
            with bare_app(tmp) as bare:
                bare_throughput(bare)  # warm up
                for service, mix in mixes(stack, token, summary).items():
                    who = evaluator if service in ("surveys", "analytics") else token
                    url = stack.urls[service]
                    closed_loop(url, mix, who, connections=CONNECTIONS, seconds=2)  # warm up
                    before = bare_throughput(bare)
                    loaded = closed_loop(url, mix, who, connections=CONNECTIONS, seconds=SECONDS)
                    after = bare_throughput(bare)
                    steady = open_loop(url, mix, who, rate=RATE, seconds=SECONDS)
                    served = loaded.served / SECONDS
                    failed, failed_rate = loaded.failures, steady.failures
                    ratio = served / median([before, after])
                    p50 = percentile(steady.read_latencies, 0.5) * 1000
                    p99 = percentile(steady.read_latencies, 0.99) * 1000
                    good = p99 < P99_TARGET_MS and ratio >= RATIO_TARGET and not failed
                    ok = ok and good
                    print(
                        f"  {database:<10} {service:<13} throughput {served:6.0f}/s = "
                        f"{ratio:.2f}× bare ({before:.0f}, {after:.0f}/s); reads at {RATE}/s: "
                        f"p50 {p50:5.1f} ms, p99 {p99:5.1f} ms; failures {failed + failed_rate}"
                        f"{'' if good else '  (missed)'}",
                        flush=True,
                    )
        finally:
            stack.stop()
            if pg:
                drop_postgres(pg)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("load_mix: needs `hey` on the PATH (apt-get install hey)", file=sys.stderr)
        return 2
    here = Path.cwd()
    ok = True
    for database in ["sqlite", "postgresql"] if args.database == "both" else [args.database]:
        try:
            ok = run(database) and ok
        finally:
            os.chdir(here)
    print(
        f"load_mix: targets reads p99 < {P99_TARGET_MS:.0f} ms at {RATE} requests/s and "
        f"throughput >= {RATIO_TARGET}× the bare app per service: {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
