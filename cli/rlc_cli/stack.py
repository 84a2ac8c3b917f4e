"""Starting the five services as processes: what ``rlc up`` runs, and what the benchmarks and the
trial simulator start on their own ports and databases."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from rlc_cli import services
from rlc_cli.devkeys import dev_token
from rlc_shared.migrations import upgrade


def launcher_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the five services; anything already set in ``base`` wins."""
    env = dict(os.environ if base is None else base)
    for spec in services.SERVICES:
        p = spec.env_prefix
        env.setdefault(p + "PORT", str(spec.port))
        env.setdefault(
            p + "SERVICE_TOKEN",
            dev_token(role="service", sub=f"service:{spec.name}", ttl_seconds=30 * 24 * 3600),
        )
    for spec in services.SERVICES:
        host = env.get(spec.env_prefix + "HOST", "127.0.0.1")
        url = f"http://{host}:{env[spec.env_prefix + 'PORT']}"
        for other in services.SERVICES:
            env.setdefault(f"{other.env_prefix}{spec.name.upper()}_URL", url)
    # Recruitment records an arm only from a statement signed with randomisation's keys.
    env.setdefault(
        "RECRUITMENT_RANDOMISATION_JWKS_URL",
        env["RECRUITMENT_RANDOMISATION_URL"] + "/.well-known/jwks.json",
    )
    return env


def uvicorn_command(app_factory: str, *, host: str, port: int) -> list[str]:
    """How every service (and the benchmarks' bare app) is served."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        app_factory,
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
    ]


@dataclass
class Stack:
    """The five services as child processes, started with one environment."""

    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None

    def migrate(self) -> None:
        previous = dict(os.environ)
        os.environ.update(self.env)  # each service's Settings read their own variables
        try:
            for spec in services.SERVICES:
                upgrade(spec.directory, spec.settings().database_url)
        finally:
            os.environ.clear()
            os.environ.update(previous)

    def start(self, *, ready_timeout: float = 60.0) -> None:
        for spec in services.SERVICES:
            self._spawn(spec)
        self.wait_ready(ready_timeout)

    def _spawn(self, spec: services.ServiceSpec) -> None:
        host = self.env.get(spec.env_prefix + "HOST", "127.0.0.1")
        port = int(self.env[spec.env_prefix + "PORT"])
        self.urls[spec.name] = f"http://{host}:{port}"
        out: IO[bytes] | None = None
        if self.log_dir is not None:
            out = (self.log_dir / f"{spec.name}.log").open("ab")
        self.procs[spec.name] = subprocess.Popen(
            uvicorn_command(spec.app_factory, host=host, port=port),
            env=self.env,
            stdout=out,
            stderr=out,
        )

    def kill(self, name: str) -> None:
        """SIGKILL one service (a crash: no shutdown work runs)."""
        proc = self.procs[name]
        proc.kill()
        proc.wait(timeout=10)

    def restart(self, name: str, *, ready_timeout: float = 60.0) -> None:
        """Start one (stopped or killed) service again on its port, and wait until it is ready."""
        if self.procs[name].poll() is None:
            self.procs[name].terminate()
            self.procs[name].wait(timeout=10)
        self._spawn(services.get(name))
        self.wait_ready(ready_timeout, only=[name])

    def wait_ready(self, timeout: float, *, only: list[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        pending = {n: u for n, u in self.urls.items() if only is None or n in only}
        while pending and time.monotonic() < deadline:
            for name, url in list(pending.items()):
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {proc.returncode}")
                try:
                    if httpx.get(url + "/readyz", timeout=1.0).status_code == 200:
                        pending.pop(name)
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        if pending:
            raise RuntimeError("not ready in time: " + ", ".join(pending))

    def stopped(self) -> str | None:
        """The name of a service that has exited, if any."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                return f"{name} stopped (exit code {proc.returncode})"
        return None

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
