"""``rlc``: the platform's command line (``rlc up``, ``rlc migrate``, ``rlc token``, ``rlc demo``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import httpx
import typer

from rlc_cli import services
from rlc_cli.devkeys import dev_token, ensure_dev_keys
from rlc_shared.config import VAR_DIR
from rlc_shared.migrations import upgrade

app = typer.Typer(help="RLC Trial Platform command line.", no_args_is_help=True)


def _service_names(name: str | None) -> list[services.ServiceSpec]:
    if name is None:
        return list(services.SERVICES)
    try:
        return [services.get(name)]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def launcher_environment() -> dict[str, str]:
    """Environment for the five services; anything already set in the environment wins."""
    env = dict(os.environ)
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


@app.command()
def migrate(
    service: Annotated[str | None, typer.Argument(help="one service; all when omitted")] = None,
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Run the services' migrations (each on its own database)."""
    for spec in _service_names(service):
        settings = spec.settings()
        upgrade(spec.directory, settings.database_url, revision)
        typer.echo(f"{spec.name}: migrated to {revision}", err=True)


@app.command()
def token(
    role: Annotated[
        str,
        typer.Option(
            help="trial_manager, evaluator, delivery, virtual_school, school, auditor, service"
        ),
    ],
    la_code: Annotated[
        str | None, typer.Option("--la-code", help="scope of a virtual_school token")
    ] = None,
    urn: Annotated[int | None, typer.Option(help="scope of a school token")] = None,
    sub: Annotated[str | None, typer.Option(help="subject (who)")] = None,
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 8 * 3600,
) -> None:
    """Print a dev token (signed by the local dev issuer under var/keys) on stdout."""
    from rlc_shared.auth import Role

    if role not in {r.value for r in Role}:
        raise typer.BadParameter(f"unknown role {role!r}")
    typer.echo(dev_token(role=role, sub=sub, la_code=la_code, urn=urn, ttl_seconds=ttl))


def _wait_ready(urls: dict[str, str], procs: dict[str, subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending and time.monotonic() < deadline:
        for name, url in list(pending.items()):
            if procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited with code {procs[name].returncode}")
            try:
                if httpx.get(url + "/readyz", timeout=1.0).status_code == 200:
                    pending.pop(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    if pending:
        raise RuntimeError("not ready in time: " + ", ".join(pending))


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="load the demo trial through the APIs")] = False,
    ready_timeout: Annotated[float, typer.Option(help="seconds to wait for /readyz")] = 60.0,
) -> None:
    """Migrate and start all five services; Ctrl-C stops them all."""
    VAR_DIR.mkdir(exist_ok=True)
    ensure_dev_keys()
    env = launcher_environment()
    os.environ.update(env)
    for spec in services.SERVICES:
        upgrade(spec.directory, spec.settings().database_url)
    procs: dict[str, subprocess.Popen] = {}
    urls: dict[str, str] = {}

    def stop_all(*_: object) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and SIGTERM both stop everything, even when started from a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        for spec in services.SERVICES:
            settings = spec.settings()
            urls[spec.name] = f"http://{settings.host}:{settings.port}"
            procs[spec.name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    spec.app_factory,
                    "--host",
                    settings.host,
                    "--port",
                    str(settings.port),
                    "--no-access-log",
                ],
                env=env,
            )
        _wait_ready(urls, procs, ready_timeout)
        if demo:
            from rlc_cli.demo import load_demo

            load_demo(urls)
        manager = dev_token(role="trial_manager", sub="dev-trial-manager")
        lines = ["", "RLC Trial Platform is up:"]
        for spec in services.SERVICES:
            lines.append(f"  {spec.name:<14} {urls[spec.name]}   docs: {urls[spec.name]}/docs")
        lines += [
            "",
            "trial_manager token (8 h):",
            manager,
            "",
            "Other tokens: .venv/bin/rlc token --role auditor",
            "Ctrl-C stops all services.",
        ]
        typer.echo("\n".join(lines))
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} stopped (exit code {proc.returncode})")
            time.sleep(0.5)
    except KeyboardInterrupt:
        typer.echo("stopping...", err=True)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        stop_all()
        raise typer.Exit(1) from exc
    finally:
        stop_all()


@app.command()
def demo(
    base_host: Annotated[str, typer.Option(help="host the services listen on")] = "127.0.0.1",
) -> None:
    """Load the demo trial into running services, through their APIs."""
    from rlc_cli.demo import load_demo

    env = launcher_environment()
    load_demo(
        {s.name: f"http://{base_host}:{env[s.env_prefix + 'PORT']}" for s in services.SERVICES}
    )


if __name__ == "__main__":
    app()
