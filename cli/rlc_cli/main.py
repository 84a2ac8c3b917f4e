"""``rlc``: the platform's command line (``rlc up``, ``rlc migrate``, ``rlc token``, ``rlc simulate``,
``rlc demo``)."""

from __future__ import annotations

import os
import signal
import time
from typing import Annotated, Any

import typer

from rlc_cli import services
from rlc_cli.devkeys import dev_token, ensure_dev_keys
from rlc_cli.stack import Stack, launcher_environment
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


def _timeline_environment(echo: Any) -> None:
    """The simulated calendar's deadlines for the services, unless set already."""
    from rlc_cli.simulate import Timeline
    from rlc_cli.simulate.timeline import today

    chosen = []
    for name, value in Timeline.for_today(today()).service_environment().items():
        if os.environ.setdefault(name, value) == value:
            chosen.append(f"{name}={value}")
    if chosen:
        echo("simulated calendar: " + " ".join(chosen), err=True)


@app.command()
def up(
    demo: Annotated[
        bool, typer.Option(help="load the simulated trial through the APIs (rlc simulate)")
    ] = False,
    demo_schools: Annotated[
        int, typer.Option(help="about how many GIAS schools the demo trial has")
    ] = 300,
    demo_las: Annotated[int, typer.Option(help="how many local authorities it has")] = 10,
    demo_seed: Annotated[int, typer.Option(help="the seed it is drawn from")] = 2021,
    ready_timeout: Annotated[float, typer.Option(help="seconds to wait for /readyz")] = 60.0,
) -> None:
    """Migrate and start all five services; Ctrl-C stops them all.

    With --demo the services get the simulated trial's calendar (RECRUITMENT_EOI_DEADLINE,
    RECRUITMENT_CONSENT_DEADLINE, RECRUITMENT_TEACHER_WITHDRAWAL_CUTOFF, unless set), their logs
    go to var/logs/, and the trial is loaded before the list of places to look is printed.
    """
    VAR_DIR.mkdir(exist_ok=True)
    ensure_dev_keys()
    log_dir = None
    if demo:
        _timeline_environment(typer.echo)
        log_dir = VAR_DIR / "logs"
        log_dir.mkdir(exist_ok=True)
    stack = Stack(env=launcher_environment(), log_dir=log_dir)
    os.environ.update(stack.env)
    stack.migrate()

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and SIGTERM both stop everything, even when started from a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        stack.start(ready_timeout=ready_timeout)
        urls = stack.urls
        if demo:
            typer.echo(f"service logs: {log_dir}/<service>.log", err=True)
            _load_demo(urls, schools=demo_schools, las=demo_las, seed=demo_seed)
        manager = dev_token(role="trial_manager", sub="dev-trial-manager")
        lines = ["", "RLC Trial Platform is up:"]
        for spec in services.SERVICES:
            lines.append(f"  {spec.name:<14} {urls[spec.name]}   docs: {urls[spec.name]}/docs")
        lines += ["", "trial_manager token (8 h):", manager, ""]
        if demo:
            from rlc_cli.demo import guide

            auditor = dev_token(role="auditor", sub="dev-auditor")
            lines += [*guide(urls, trial_manager=manager, auditor=auditor), ""]
        lines += ["Other tokens: .venv/bin/rlc token --role auditor", "Ctrl-C stops all services."]
        typer.echo("\n".join(lines))
        while True:
            if (stopped := stack.stopped()) is not None:
                raise RuntimeError(stopped)
            time.sleep(0.5)
    except KeyboardInterrupt:
        typer.echo("stopping...", err=True)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        stack.stop()
        raise typer.Exit(1) from exc
    finally:
        stack.stop()


def _printer(bars: Any) -> Any:
    """Print a line above the progress bars, as it is (no markup, no wrapping)."""
    return lambda line: bars.console.print(line, markup=False, highlight=False, soft_wrap=True)


def _load_demo(urls: dict[str, str], *, schools: int, las: int, seed: int) -> None:
    from rlc_cli.demo import load_demo
    from rlc_cli.simulate import rich_progress

    bars, track = rich_progress()
    with bars:
        load_demo(
            urls,
            schools=schools,
            las=las,
            seed=seed,
            progress=track,
            echo=_printer(bars),
        )


def _running_urls(base_host: str) -> dict[str, str]:
    env = launcher_environment()
    return {s.name: f"http://{base_host}:{env[s.env_prefix + 'PORT']}" for s in services.SERVICES}


@app.command()
def simulate(
    schools: Annotated[int, typer.Option(help="about how many GIAS schools")] = 300,
    las: Annotated[int, typer.Option("--las", help="how many local authorities")] = 10,
    seed: Annotated[int, typer.Option(help="the same seed plays the same trial")] = 2021,
    base_host: Annotated[str, typer.Option(help="host the services listen on")] = "127.0.0.1",
) -> None:
    """Play a whole simulated trial into running services, through their public APIs; print
    each stage's summary as JSON."""
    import json

    from rlc_cli.simulate import rich_progress
    from rlc_cli.simulate import simulate as play

    bars, track = rich_progress()
    with bars:
        summary = play(
            _running_urls(base_host),
            schools=schools,
            las=las,
            seed=seed,
            progress=track,
            echo=_printer(bars),
        )
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command()
def demo(
    schools: Annotated[int, typer.Option(help="about how many GIAS schools")] = 300,
    las: Annotated[int, typer.Option("--las", help="how many local authorities")] = 10,
    seed: Annotated[int, typer.Option(help="the seed the trial is drawn from")] = 2021,
    base_host: Annotated[str, typer.Option(help="host the services listen on")] = "127.0.0.1",
) -> None:
    """Load the simulated trial into running services (once), and print where to look."""
    from rlc_cli.demo import guide

    urls = _running_urls(base_host)
    _load_demo(urls, schools=schools, las=las, seed=seed)
    manager = dev_token(role="trial_manager", sub="dev-trial-manager")
    auditor = dev_token(role="auditor", sub="dev-auditor")
    typer.echo("\n".join(guide(urls, trial_manager=manager, auditor=auditor)))


if __name__ == "__main__":
    app()
