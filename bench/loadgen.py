"""Load on loopback with ``hey`` (apt-get install hey), for the request-cost benchmarks.

Two ways to load a service:

- **closed loop**: ``connections`` clients, each sending its next request as soon as the last
  answered: the throughput a service reaches;
- **open loop** at a steady rate: many ``hey`` clients of one connection each, each at a few
  requests per second, started at evenly spaced moments, so that requests arrive evenly spread
  (one every 1/rate s on average), as independent users' do. (A single ``hey -c N -q Q`` fires its
  N workers on the same tick: bursts of N requests at once, then nothing, which measures queueing
  behind the burst rather than the service at that rate.)

A mix is a list of requests with weights; each kind of request gets clients in proportion.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time
from dataclasses import dataclass

#: Requests per second each open-loop client sends.
CLIENT_RATE = 10


@dataclass
class Request:
    method: str
    path: str
    weight: int = 1
    body: dict | None = None

    @property
    def read(self) -> bool:
        return self.method == "GET"


@dataclass
class Result:
    served: int  # answered requests
    failures: int  # answered with a status other than 2xx
    read_latencies: list[float]  # seconds


def _args(
    url: str,
    request: Request,
    token: str | None,
    *,
    seconds: float,
    connections: int,
    qps: int = 0,
) -> list[str]:
    args = ["hey", "-z", f"{seconds}s", "-o", "csv", "-c", str(connections)]
    if qps:
        args += ["-q", str(qps)]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    if request.body is not None:
        args += ["-m", request.method, "-T", "application/json", "-d", json.dumps(request.body)]
    elif request.method != "GET":
        args += ["-m", request.method]
    return args + [url]


def _collect(procs: list[tuple[Request, subprocess.Popen]]) -> Result:
    served = failures = 0
    latencies: list[float] = []
    for request, proc in procs:
        out, _ = proc.communicate()
        rows = list(csv.DictReader(io.StringIO(out)))
        served += len(rows)
        failures += sum(1 for r in rows if not r["status-code"].startswith("2"))
        if request.read:
            latencies += [float(r["response-time"]) for r in rows]
    return Result(served, failures, latencies)


def closed_loop(
    base: str, mix: list[Request], token: str | None, *, connections: int, seconds: float
) -> Result:
    """Every kind of request at once, with connections in proportion to its weight."""
    total = sum(r.weight for r in mix)
    procs = []
    for request in mix:
        n = max(1, round(connections * request.weight / total))
        args = _args(base + request.path, request, token, seconds=seconds, connections=n)
        procs.append((request, subprocess.Popen(args, stdout=subprocess.PIPE, text=True)))
    return _collect(procs)


def open_loop(
    base: str, mix: list[Request], token: str | None, *, rate: int, seconds: float
) -> Result:
    """About ``rate`` requests per second in all, evenly spread, each kind in proportion to its
    weight."""
    clients = max(len(mix), round(rate / CLIENT_RATE))
    total = sum(r.weight for r in mix)
    plan = [
        request for request in mix for _ in range(max(1, round(clients * request.weight / total)))
    ]
    gap = 1.0 / (CLIENT_RATE * len(plan))  # between the clients' first requests
    procs = []
    started = time.monotonic()
    for i, request in enumerate(plan):
        time.sleep(max(0.0, started + i * gap - time.monotonic()))
        args = _args(
            base + request.path,
            request,
            token,
            seconds=seconds,
            connections=1,
            qps=CLIENT_RATE,
        )
        procs.append((request, subprocess.Popen(args, stdout=subprocess.PIPE, text=True)))
    return _collect(procs)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
