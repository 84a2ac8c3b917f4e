"""The deployment files agree with the code.

The root ``Dockerfile`` (one image per service, ``--build-arg SERVICE=<name>``), ``.dockerignore``,
the two locks, ``docker-compose.yml``, ``infra/k8s/`` and ``infra/proxy/Caddyfile`` are checked
against ``rlc_cli.services.SERVICES``, each service's ``Settings`` class (read now, so a setting
added or renamed in the code is checked without editing this file), its ``create_app()`` and its
``migrations/env.py``. No container runs here (there is no Docker engine): the files are parsed,
each service container's environment is loaded into the service's real ``Settings``, and each
migration container's environment runs the service's real migrations on SQLite.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from pydantic import ValidationError

from rlc_cli.services import SERVICES, ServiceSpec
from rlc_shared.db import make_engine
from rlc_shared.migrations import at_head

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEV_LOCK = ROOT / "requirements.lock"
RUNTIME_LOCK = ROOT / "requirements-runtime.lock"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "infra" / "compose.env.example"
CADDYFILE = ROOT / "infra" / "proxy" / "Caddyfile"
PG_INIT = ROOT / "infra" / "postgres" / "init-databases.sh"
APP_ROLE_SQL = ROOT / "infra" / "postgres" / "randomisation-app-role.sql"
K8S_DIR = ROOT / "infra" / "k8s"
SECRET_TEMPLATES = K8S_DIR / "secret-templates"
NAMESPACE = "rlc"

APP_ROLE = "rlc_randomisation_app"
ALEMBIC_UPGRADE = ["alembic", "upgrade", "head"]
#: Variables a service's container may get that are not its settings: boto3's S3 credentials.
NON_SETTINGS_VARS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})
#: Keys whose values are secrets: in compose, required ${VAR} placeholders (no default value).
SECRET_KEY = re.compile(r"PASSWORD|SECRET|_TOKEN$|\.pem$")
REQUIRED_VAR = r"\$\{\w+(?::?\?[^}]*)?\}"
#: The marker every value of a Secret template carries instead of a real value.
CHANGE_ME = "CHANGE_ME"
#: Development tools that must stay out of the images (and so out of the runtime lock).
DEV_TOOLS = (
    "pytest",
    "moto",
    "mypy",
    "ruff",
    "hypothesis",
    "schemathesis",
    "pyinstrument",
    "typer",
)
#: The build backend: the Dockerfile's build-tools stage uses it, no image holds it.
BUILD_BACKEND = ("hatchling", "editables")

by_name = pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)


# ---------------------------------------------------------------------------------- the code


def settings_class(spec: ServiceSpec) -> Any:
    return importlib.import_module(f"{spec.package}.config").Settings


def setting_names(spec: ServiceSpec) -> set[str]:
    """Every variable the service reads: its Settings fields, upper-cased, with its prefix."""
    return {spec.env_prefix + name.upper() for name in settings_class(spec).model_fields}


def file_settings(spec: ServiceSpec) -> set[str]:
    """The variables naming a file the service reads (``..._FILE``)."""
    return {name for name in setting_names(spec) if name.endswith("_FILE")}


@cache
def secret_settings() -> frozenset[str]:
    """Every service's variables holding a secret: by name, or typed ``SecretStr``/``SecretBytes``."""
    return frozenset(
        spec.env_prefix + name.upper()
        for spec in SERVICES
        for name, info in settings_class(spec).model_fields.items()
        if SECRET_KEY.search(name.upper()) or "Secret" in repr(info.annotation)
    )


def is_secret(name: str) -> bool:
    # A ``..._FILE`` names where a mounted secret is, which is no secret (load_settings checks
    # that it points into a mounted secret).
    if name.endswith("_FILE"):
        return False
    return bool(SECRET_KEY.search(name)) or name in secret_settings()


def inter_service_urls(spec: ServiceSpec) -> dict[str, str]:
    """The settings that reach another service, and where they must point in a deployment:
    ``<PREFIX><OTHER>_URL``, and any setting whose default is that service on this machine
    (``http://127.0.0.1:8002/.well-known/jwks.json`` -> ``http://randomisation:8002/...``)."""
    by_port = {other.port: other for other in SERVICES if other != spec}
    urls = {
        f"{spec.env_prefix}{other.name.upper()}_URL": f"http://{other.name}:{other.port}"
        for other in by_port.values()
    }
    urls = {var: url for var, url in urls.items() if var in setting_names(spec)}
    for name, info in settings_class(spec).model_fields.items():
        default = urlsplit(info.default) if isinstance(info.default, str) else None
        if default and default.hostname in ("127.0.0.1", "localhost") and default.port in by_port:
            other = by_port[default.port]
            path = default.path + (f"?{default.query}" if default.query else "")
            urls[spec.env_prefix + name.upper()] = (
                f"{default.scheme}://{other.name}:{other.port}{path}"
            )
    return urls


def migration_variable(spec: ServiceSpec) -> str:
    """The one variable ``migrations/env.py`` reads: the ``env_var`` it hands to ``run_env``."""
    env_py = ROOT / "services" / spec.name / "migrations" / "env.py"
    calls = [
        node
        for node in ast.walk(ast.parse(env_py.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run_env"
    ]
    assert len(calls) == 1, f"{env_py}: one run_env(...) call"
    (env_var,) = [k.value for k in calls[0].keywords if k.arg == "env_var"]
    assert isinstance(env_var, ast.Constant) and isinstance(env_var.value, str), env_py
    return env_var.value


def load_settings(
    spec: ServiceSpec,
    env: dict[str, str],
    *,
    where: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    mounted: set[str],
) -> Any:
    """The service's Settings as the container would build them from ``env`` (on top of the
    image's ENV). A ``..._FILE`` setting must point into ``mounted`` (paths provided by a secret);
    here it is replaced by a real file, so production's "the file exists" checks can pass."""
    for name in list(os.environ):
        if name.startswith(spec.env_prefix):
            monkeypatch.delenv(name)
    full = {**image_for(spec.name).env, **env}
    for name, value in full.items():
        if name in file_settings(spec):
            assert any(value == m or value.startswith(m.rstrip("/") + "/") for m in mounted), (
                f"{where}: {name}={value} is not a file provided by a mounted secret ({mounted or 'none'})"
            )
            stand_in = tmp_path / name.lower()
            stand_in.write_text("stand-in for a mounted secret")
            value = str(stand_in)
        monkeypatch.setenv(name, value)
    try:
        return settings_class(spec)()
    except ValidationError as exc:
        pytest.fail(f"{where}: its environment does not make valid {spec.name} Settings:\n{exc}")


def assert_settings_names(spec: ServiceSpec, names: set[str], where: str) -> None:
    foreign = sorted(n for n in names if not n.startswith(spec.env_prefix))
    foreign = [n for n in foreign if n not in NON_SETTINGS_VARS]
    assert not foreign, (
        f"{where}: variables without the {spec.env_prefix} prefix: {foreign} "
        f"(only {sorted(NON_SETTINGS_VARS)} are allowed besides the service's settings)"
    )
    unknown = sorted(
        n for n in names if n.startswith(spec.env_prefix) and n not in setting_names(spec)
    )
    assert not unknown, (
        f"{where}: {unknown} are not fields of {spec.package}.config.Settings, so the service "
        f"ignores them (its variables: {sorted(setting_names(spec))})"
    )


def assert_migration_env(spec: ServiceSpec, env: dict[str, str], where: str) -> None:
    """A migration container gets what migrations/env.py reads, and nothing else."""
    variable = migration_variable(spec)
    assert variable == spec.env_prefix + "DATABASE_URL" and variable in setting_names(spec)
    assert set(env) == {variable}, (
        f"{where}: a migration needs only {variable} (all migrations/env.py reads), not "
        f"{sorted(set(env) - {variable}) or 'nothing'}"
    )


def user_of(url: str) -> str:
    return urlsplit(url).username or ""


def route_paths(routes: list[Any], prefix: str = "") -> Iterator[str]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI >= 0.16x keeps included routers whole
            yield from route_paths(
                route.original_router.routes, prefix + route.include_context.prefix
            )
        elif isinstance(getattr(route, "path", None), str):
            yield prefix + route.path


@by_name
def test_the_app_serves_the_probed_paths(spec: ServiceSpec, tmp_path: Path) -> None:
    settings = settings_class(spec)(database_url=f"sqlite:///{tmp_path / 'probe.db'}")
    app = importlib.import_module(f"{spec.package}.main").create_app(settings)
    paths = set(route_paths(app.routes))
    assert {"/healthz", "/readyz"} <= paths, (
        f"{spec.name}: create_app() has no probe routes: {paths}"
    )
    # Without the lifespan (no database engine) liveness answers and readiness refuses.
    client = TestClient(app)
    assert client.get("/healthz").status_code == 200, f"{spec.name}: GET /healthz"
    assert client.get("/readyz").status_code == 503, f"{spec.name}: GET /readyz without a database"


# ---------------------------------------------------------------------------------- the image

VARIABLE = re.compile(r"\$(?:\{(\w+)\}|([A-Za-z_]\w*))")


@dataclass
class Stage:
    """One ``FROM`` of the Dockerfile: its name, its base (a stage or an image) as written."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


@cache
def dockerfile() -> tuple[dict[str, str], tuple[Stage, ...]]:
    """The Dockerfile's global ARG defaults and its stages, instructions as written."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in re.sub(r"\\\n", " ", DOCKERFILE.read_text()).splitlines():
        instruction, _, rest = line.strip().partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if not instruction or instruction.startswith("#"):
            continue
        if instruction == "FROM":
            base, _, name = re.sub(r"\s+as\s+", " AS ", rest, flags=re.I).partition(" AS ")
            stages.append(Stage(name=name.strip() or str(len(stages)), base=base.strip()))
        elif stages:
            stages[-1].instructions.append((instruction, rest))
        else:
            assert instruction == "ARG", f"{DOCKERFILE.name}: only ARG may precede the first FROM"
            arg, _, default = rest.partition("=")
            global_args[arg] = default.strip('"')
    return global_args, tuple(stages)


def stage(name: str) -> Stage:
    found = [s for s in dockerfile()[1] if s.name == name]
    assert len(found) == 1, f"{DOCKERFILE.name}: one stage {name!r}"
    return found[0]


def substitute(text: str, scope: dict[str, str]) -> str:
    return VARIABLE.sub(lambda m: scope.get(m[1] or m[2], m[0]), text)


@dataclass
class Run:
    mounts: list[dict[str, str]]
    #: The shell command as written (ARGs are the shell's variables) and with them substituted.
    raw: str
    command: str


@dataclass
class Image:
    """What ``docker build --build-arg SERVICE=<service> .`` stacks up: the stages from the base
    image's up to the last, and the configuration they leave."""

    service: str
    base_image: str
    stages: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    expose: list[int] = field(default_factory=list)
    workdir: str = "/"
    user: str = "root"
    cmd: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    #: (flags, sources, destination) of each COPY.
    copies: list[tuple[list[str], list[str], str]] = field(default_factory=list)
    #: The instructions in build order, to check what comes after USER.
    order: list[str] = field(default_factory=list)


def parse_run(rest: str, scope: dict[str, str]) -> Run:
    mounts = []
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        if flag.startswith("--mount="):
            mounts.append(
                dict(item.split("=", 1) for item in flag.removeprefix("--mount=").split(","))
            )
    return Run(mounts=mounts, raw=rest, command=substitute(rest, scope))


@cache
def image_for(service: str) -> Image:
    global_args, stages = dockerfile()
    build_args = {"SERVICE": service}
    by_stage = {s.name: s for s in stages}
    chain: list[Stage] = []
    current = stages[-1]
    while True:
        chain.insert(0, current)
        base = substitute(current.base, {**global_args, **build_args})
        if base not in by_stage:
            break
        current = by_stage[base]
    image = Image(service=service, base_image=substitute(chain[0].base, global_args))
    for built in chain:
        image.stages.append(built.name)
        scope: dict[str, str] = dict(image.env)
        for instruction, rest in built.instructions:
            image.order.append(instruction)
            match instruction:
                case "ARG":  # a build argument, else the stage's default, else the global one
                    arg, _, default = rest.partition("=")
                    scope[arg] = (
                        build_args.get(arg) or default.strip('"') or global_args.get(arg, "")
                    )
                case "ENV":
                    for item in shlex.split(substitute(rest, scope)):
                        name, _, value = item.partition("=")
                        image.env[name] = scope[name] = value
                case "EXPOSE":
                    image.expose += [int(p.split("/")[0]) for p in substitute(rest, scope).split()]
                case "WORKDIR":
                    image.workdir = substitute(rest, scope)
                case "USER":
                    image.user = substitute(rest, scope)
                case "CMD":
                    image.cmd = json.loads(rest)
                case "RUN":
                    image.runs.append(parse_run(rest, scope))
                case "COPY":
                    words = shlex.split(substitute(rest, scope))
                    flags = [w for w in words if w.startswith("--")]
                    *sources, destination = [w for w in words if not w.startswith("--")]
                    image.copies.append((flags, sources, destination))
    return image


def commands(run: Run) -> list[list[str]]:
    """A RUN's commands (split at ``&&``), each as words."""
    return [shlex.split(part) for part in run.command.split(" && ")]


def option(words: list[str], name: str) -> str | None:
    """The value after ``name`` in a command's words (``--port 8001``), if it is there."""
    return words[words.index(name) + 1] if name in words[:-1] else None


def pip_installs(image: Image) -> list[tuple[Run, list[str]]]:
    return [
        (run, words[words.index("pip") + 2 :])
        for run in image.runs
        for words in commands(run)
        if "pip" in words and words[words.index("pip") + 1 : words.index("pip") + 2] == ["install"]
    ]


def image_user(spec: ServiceSpec) -> tuple[int, int]:
    user = image_for(spec.name).user
    ids = re.fullmatch(r"(\d+):(\d+)", user)
    assert ids, f"{DOCKERFILE.name}: USER {user} must be numeric uid:gid (runAsNonRoot checks it)"
    return int(ids[1]), int(ids[2])


def image_python() -> str:
    version = re.fullmatch(r"python:(\d+\.\d+)[\w.-]*", image_for(SERVICES[0].name).base_image)
    assert version, f"{DOCKERFILE.name}: the images build on the official python image"
    return version[1]


@cache
def marker_environment() -> dict[str, str]:
    """Where the images' requirements are evaluated: Linux, CPython, the image's Python."""
    return {
        **{name: str(value) for name, value in default_environment().items()},
        "python_version": image_python(),
        "python_full_version": image_python() + ".0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "extra": "",
    }


@by_name
def test_the_image_serves_the_service(spec: ServiceSpec) -> None:
    image, p = image_for(spec.name), spec.env_prefix
    where = f"{DOCKERFILE.name} with SERVICE={spec.name}"
    assert image.stages[-2] == spec.name, f"{where}: builds on its own stage, not {image.stages}"
    assert settings_class(spec).model_fields["port"].default == spec.port
    assert image.expose == [spec.port], f"{where}: EXPOSE {image.expose}, not {spec.port}"
    assert image.env.get(p + "PORT") == str(spec.port), f"{where}: {p}PORT"
    assert image.env.get(p + "HOST") == "0.0.0.0", f"{where}: {p}HOST"
    assert image.env.get(p + "ENVIRONMENT") == "production", f"{where}: {p}ENVIRONMENT"
    assert image.workdir == f"/app/services/{spec.name}", f"{where}: WORKDIR {image.workdir}"
    assert_settings_names(spec, {n for n in image.env if n.startswith(p)}, where)
    others = [n for n in image.env for o in SERVICES if o != spec and n.startswith(o.env_prefix)]
    assert not others, f"{where}: another service's settings {others}"

    assert image.cmd[:2] == ["sh", "-c"] and len(image.cmd) == 3, f"{where}: CMD {image.cmd}"
    exec_, uvicorn, *argv = shlex.split(image.cmd[2])
    assert (exec_, uvicorn) == ("exec", "uvicorn"), f"{where}: uvicorn replaces the shell"
    positional = [
        a
        for before, a in zip(["", *argv], argv, strict=False)
        if not a.startswith("-") and before not in ("--host", "--port")
    ]
    assert positional == [spec.app_factory] and "--factory" in argv, f"{where}: {argv}"
    assert option(argv, "--host") == "0.0.0.0", f"{where}: --host"
    port = option(argv, "--port")
    assert port == "${" + p + "PORT}" and p + "PORT" in image.env, f"{where}: --port {port}"
    assert {"--proxy-headers", "--no-access-log"} <= set(argv), f"{where}: {argv}"


@by_name
def test_the_image_runs_as_an_unprivileged_user(spec: ServiceSpec) -> None:
    image, (uid, gid) = image_for(spec.name), image_user(spec)
    where = f"{DOCKERFILE.name} with SERVICE={spec.name}"
    assert uid and gid, f"{where}: not root"
    words = [w for run in image.runs for w in commands(run)]
    assert ["groupadd", str(gid)] in [[w[0], option(w, "--gid")] for w in words], where
    assert ["useradd", str(uid), str(gid)] in [
        [w[0], option(w, "--uid"), option(w, "--gid")] for w in words
    ], f"{where}: useradd --uid {uid} --gid {gid}"
    # Everything is installed and copied before USER: the service cannot rewrite its own code.
    last_write = max(i for i, name in enumerate(image.order) if name in ("RUN", "COPY", "ADD"))
    assert image.order.index("USER") > last_write, f"{where}: USER after the last RUN/COPY"


@by_name
def test_the_image_installs_the_runtime_lock_shared_and_only_its_service(
    spec: ServiceSpec,
) -> None:
    image = image_for(spec.name)
    where = f"{DOCKERFILE.name} with SERVICE={spec.name}"
    installs = pip_installs(image)
    assert len(installs) == 2, f"{where}: two pip installs, the lock then the code: {installs}"

    (lock_run, lock_args), (code_run, code_args) = installs
    (lock_mount,) = lock_run.mounts
    assert (lock_mount["type"], lock_mount["source"]) == ("bind", RUNTIME_LOCK.name), where
    assert "--require-hashes" in lock_args, f"{where}: the runtime lock, hash-checked"
    assert option(lock_args, "-r") == lock_mount["target"], where

    editable = {code_args[i + 1] for i, a in enumerate(code_args) if a == "-e"}
    assert editable == {"./shared", "./clients", f"./services/{spec.name}"}, (
        f"{where}: installs {editable}"
    )
    assert {"--no-deps", "--no-build-isolation"} <= set(code_args), f"{where}: {code_args}"
    (tools,) = code_run.mounts
    assert tools.get("from") == "build-tools" and tools["source"] == build_tools_target(), where
    assert code_run.command.startswith(f"PYTHONPATH={tools['target']} "), (
        f"{where}: the build backend comes from the build-tools mount only"
    )
    copied = sorted(source for _, sources, _ in image.copies for source in sources)
    assert copied == sorted(["shared", "clients", f"services/{spec.name}"]), (
        f"{where}: COPY {copied}"
    )
    for flags, sources, destination in image.copies:
        assert not flags and sources == [destination.removeprefix("./")], (
            f"{where}: COPY {sources} {destination} keeps the repository's layout, from the context"
        )
    assert not [r for r in image.runs if DEV_LOCK.name in r.command], (
        f"{where}: the dev lock stays in the build-tools stage"
    )


def stage_args(name: str) -> dict[str, str]:
    args = (rest.partition("=") for ins, rest in stage(name).instructions if ins == "ARG")
    return {arg: default.strip('"') for arg, _, default in args}


def stage_runs(name: str) -> list[Run]:
    scope = stage_args(name)
    return [parse_run(rest, scope) for ins, rest in stage(name).instructions if ins == "RUN"]


def build_tools_target() -> str:
    """Where the build-tools stage installs the build backend."""
    (run,) = stage_runs("build-tools")
    target = option(commands(run)[-1], "--target")
    assert target, f"{DOCKERFILE.name}: the build-tools stage installs into a --target directory"
    return target


def test_the_build_backend_comes_pinned_from_the_dev_lock(tmp_path: Path) -> None:
    tools = stage_args("build-tools").get("BUILD_TOOLS", "")
    names = set(tools.split())
    for pyproject in workspace_pyprojects(images_only=True):
        backend = tomllib.loads(pyproject.read_text())["build-system"]["build-backend"]
        assert backend == "hatchling.build", (
            f"{pyproject}: the build-tools stage builds hatchling only"
        )

    # The list is what hatchling needs on the image's Python, from the installed (locked) one.
    locked = {p.name: p for p in lock_pins(DEV_LOCK)}
    assert importlib.metadata.version("hatchling") == locked["hatchling"].version, (
        "the installed hatchling is not the locked one: reinstall (make install) first"
    )
    needed = requirement_closure("hatchling") | {"editables"}  # editables: editable builds
    assert names == needed, f"BUILD_TOOLS is {sorted(names)}; hatchling needs {sorted(needed)}"

    # The stage's own extraction, run on the dev lock: those pins, verbatim with their hashes.
    (run,) = stage_runs("build-tools")
    extract, install = run.raw.split(" && ", 1)
    selection = re.fullmatch(r"(.*\S)\s*>\s*(\S+)", extract.strip())
    assert selection and f"-r {selection[2]}" in install, (
        f"pip installs what the extraction wrote: {run.raw}"
    )
    (mount,) = run.mounts
    assert mount["source"] == DEV_LOCK.name and "--require-hashes" in install
    awk = shutil.which("mawk") or shutil.which("awk")  # mawk: the awk of Debian's python images
    assert awk, "awk is needed to run the Dockerfile's extraction"
    (tmp_path / "awk").symlink_to(awk)
    result = subprocess.run(
        ["sh", "-c", selection[1].replace(mount["target"], shlex.quote(str(DEV_LOCK)))],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", "BUILD_TOOLS": tools},
        capture_output=True,
        text=True,
        check=True,
    )
    (tmp_path / "build-tools.txt").write_text(result.stdout)
    extracted = lock_pins(tmp_path / "build-tools.txt")
    assert {p.name for p in extracted} == names, result.stdout
    assert all(p == locked[p.name] and p.hashes for p in extracted), "pins and hashes as locked"


# ---------------------------------------------------------------------------------- the locks


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str
    hashes: frozenset[str]

    def applies(self) -> bool:
        """Whether pip installs this entry in the image."""
        return not self.marker or Marker(self.marker).evaluate(marker_environment())


@cache
def lock_pins(path: Path) -> tuple[Pin, ...]:
    """The entries of a ``uv export`` lock: ``name==version ; marker`` and its hashes."""
    pins = []
    for entry in re.split(r"\n(?=[^\s#])", path.read_text()):
        joined = re.sub(r"\\\n", " ", entry).strip()
        if not joined or joined.startswith("#"):
            continue
        pinned = joined.split(" --hash=")[0].strip()
        assert not pinned.startswith(("-e", ".", "/")), f"{path.name}: a path entry {pinned!r}"
        requirement = Requirement(pinned)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{path.name}: {pinned!r} is not pinned"
        pins.append(
            Pin(
                name=canonicalize_name(requirement.name),
                version=spec.version,
                marker=str(requirement.marker or ""),
                hashes=frozenset(re.findall(r"--hash=(\S+)", joined)),
            )
        )
    return tuple(pins)


def workspace_pyprojects(*, images_only: bool = False) -> list[Path]:
    """``shared``, ``clients`` and the services (what the images hold), or every workspace member."""
    if images_only:
        return [ROOT / "shared" / "pyproject.toml", ROOT / "clients" / "pyproject.toml"] + sorted(
            ROOT.glob("services/*/pyproject.toml")
        )
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    return sorted(p for m in members["members"] for p in ROOT.glob(f"{m}/pyproject.toml"))


@cache
def workspace_packages() -> frozenset[str]:
    """The workspace's own package names (rlc-shared, rlc-cli, ...), normalised."""
    return frozenset(
        canonicalize_name(tomllib.loads(p.read_text())["project"]["name"])
        for p in workspace_pyprojects()
    )


def requirement_closure(name: str) -> set[str]:
    """``name`` and what it needs on the image's Python, from the installed metadata."""
    seen: set[str] = set()
    todo = [canonicalize_name(name)]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            for line in importlib.metadata.requires(current) or []:
                requirement = Requirement(line)
                if not requirement.marker or requirement.marker.evaluate(marker_environment()):
                    todo.append(canonicalize_name(requirement.name))
    return seen


def test_the_runtime_lock_holds_no_dev_tools() -> None:
    runtime = {p.name for p in lock_pins(RUNTIME_LOCK)}
    dev = {p.name for p in lock_pins(DEV_LOCK)}
    assert set(DEV_TOOLS) <= dev, "the dev lock no longer holds the dev tools this test names"
    members = workspace_packages()
    forbidden = {*DEV_TOOLS, *BUILD_BACKEND, *members} | {
        n for n in runtime if n.startswith("pytest")
    }
    assert not runtime & forbidden, f"{RUNTIME_LOCK.name} holds {sorted(runtime & forbidden)}"
    assert all(p.hashes for p in lock_pins(RUNTIME_LOCK)), "every runtime pin is hashed"


def test_the_locks_agree() -> None:
    """Both come from one resolution (``make lock``): the runtime pins are the dev lock's."""
    dev = {(p.name, p.version): p.hashes for p in lock_pins(DEV_LOCK)}
    differ = [
        f"{p.name}=={p.version}"
        for p in lock_pins(RUNTIME_LOCK)
        if dev.get((p.name, p.version)) != p.hashes
    ]
    assert not differ, f"{RUNTIME_LOCK.name} pins what {DEV_LOCK.name} does not: {differ}"


@pytest.mark.parametrize(
    "pyproject", workspace_pyprojects(images_only=True), ids=lambda p: p.parent.name
)
def test_the_runtime_lock_pins_what_the_images_declare(pyproject: Path) -> None:
    members = workspace_packages()
    pins: dict[str, list[Pin]] = {}
    for pin in lock_pins(RUNTIME_LOCK):
        if pin.applies():
            pins.setdefault(pin.name, []).append(pin)
    where = pyproject.relative_to(ROOT)
    project = tomllib.loads(pyproject.read_text())["project"]
    assert SpecifierSet(project["requires-python"]).contains(image_python() + ".0"), (
        f"{where}: requires-python {project['requires-python']}, the images run {image_python()}"
    )
    for declared in project["dependencies"]:
        requirement = Requirement(declared)
        name = canonicalize_name(requirement.name)
        if name in members or (
            requirement.marker and not requirement.marker.evaluate(marker_environment())
        ):
            continue
        assert len(pins.get(name, [])) == 1, (
            f"{where}: {declared} is not pinned in {RUNTIME_LOCK.name}"
        )
        version = pins[name][0].version
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{where}: {declared}, but {RUNTIME_LOCK.name} pins {name}=={version}"
        )
        # What an extra adds (psycopg[binary] -> psycopg-binary) must be there too.
        for extra in sorted(requirement.extras):
            missing = extra_requirements(name, extra) - set(pins)
            assert not missing, f"{where}: {declared} needs {sorted(missing)}, not pinned"


def extra_requirements(name: str, extra: str) -> set[str]:
    """What ``name[extra]`` adds to ``name`` on the image's Python, from the installed metadata."""
    with_extra = {**marker_environment(), "extra": extra}
    added: set[str] = set()
    for line in importlib.metadata.requires(name) or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker and marker.evaluate(with_extra) and not marker.evaluate(marker_environment()):
            added.add(canonicalize_name(requirement.name))
    return added


# ---------------------------------------------------------------------------------- build context


def glob_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern: ``*`` within a path segment, ``**`` across segments."""
    parts = re.split(r"(\*\*/?|\*|\?)", pattern.strip("/"))
    wild = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wild.get(part, re.escape(part)) for part in parts))


@cache
def dockerignore() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), glob_pattern(line.removeprefix("!").strip())))
    return tuple(rules)


def in_build_context(path: str) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parents, decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    sent = True
    for include, pattern in dockerignore():
        if any(pattern.fullmatch(c) for c in candidates):
            sent = include
    return sent


#: Folders the walk below skips: never part of the context, and large.
NOT_WALKED = frozenset(
    {
        ".git",
        ".venv",
        "var",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
    }
)


def repository_files() -> list[str]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in NOT_WALKED]
        found += [
            str((Path(folder) / f).relative_to(ROOT)) for f in files if not f.endswith(".pyc")
        ]
    return found


def test_the_build_context_is_what_the_images_need() -> None:
    needed_trees = ["shared/rlc_shared/", "clients/rlc_clients/"] + [
        f"services/{s.name}/{d}/" for s in SERVICES for d in (s.package, "migrations")
    ]
    needed_files = {
        RUNTIME_LOCK.name,
        DEV_LOCK.name,
        "shared/pyproject.toml",
        "clients/pyproject.toml",
    } | {f"services/{s.name}/{f}" for s in SERVICES for f in ("pyproject.toml", "alembic.ini")}
    files = repository_files()
    needed = {f for f in files if f in needed_files or f.startswith(tuple(needed_trees))}
    sent = {f for f in files if in_build_context(f)}
    assert needed_files <= needed, f"missing from the repository: {sorted(needed_files - needed)}"
    assert not needed - sent, f"{DOCKERIGNORE.name} leaves out {sorted(needed - sent)}"
    assert not sent - needed, f"{DOCKERIGNORE.name} sends {sorted(sent - needed)}"
    # And what is not walked or not there today: local secrets, databases, .venv, bytecode.
    for spec in SERVICES:
        for kept_out in (
            f"services/{spec.name}/tests/conftest.py",
            f"services/{spec.name}/{spec.package}/__pycache__/main.cpython-311.pyc",
            f"services/{spec.name}/.env",
        ):
            assert not in_build_context(kept_out), kept_out
    for kept_out in (
        ".env",
        "var/keys/jwks.json",
        "var/recruitment.db",
        ".venv/bin/python",
        "infra/secrets/randomisation-signing.pem",
        "cli/rlc_cli/services.py",
        "testkit/rlc_testkit/plugin.py",
        "shared/tests/conftest.py",
        ".git/config",
    ):
        assert not in_build_context(kept_out), kept_out


# ---------------------------------------------------------------------------------- compose

COMPOSE_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, (
        f"docker-compose.yml has no service {name!r} (it has {sorted(services)})"
    )
    return services[name]


def interpolate(value: str) -> str:
    """Compose's interpolation: defaults where given, a stand-in for required variables."""

    def one(match: re.Match[str]) -> str:
        if match["op"] in ("-", ":-"):
            return match["arg"]
        return "placeholder-" + match["name"].lower().replace("_", "-")

    return COMPOSE_VAR.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def raw_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def compose_env(name: str) -> dict[str, str]:
    return {k: interpolate(v) for k, v in raw_env(compose_service(name)).items()}


def is_required_placeholder(value: str) -> bool:
    """A required ``${VAR:?...}``, or JSON whose every value is one (a list of secrets)."""
    if re.fullmatch(REQUIRED_VAR, value):
        return True
    try:
        document = json.loads(value)
    except ValueError:
        return False
    if isinstance(document, dict):
        document = list(document.values())
    return (
        isinstance(document, list)
        and bool(document)
        and all(isinstance(v, str) and re.fullmatch(REQUIRED_VAR, v) for v in document)
    )


def compose_mounted_secrets(service: dict[str, Any]) -> set[str]:
    declared = compose().get("secrets") or {}
    mounted = set()
    for secret in service.get("secrets") or []:
        source, target = (
            (secret, None) if isinstance(secret, str) else (secret["source"], secret.get("target"))
        )
        assert source in declared, f"secret {source!r} is used but not declared at the top level"
        mounted.add(
            target if target and target.startswith("/") else f"/run/secrets/{target or source}"
        )
    return mounted


def depends_condition(service: dict[str, Any], on: str) -> str | None:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return "service_started" if on in depends else None
    return (depends.get(on) or {}).get("condition", "service_started") if on in depends else None


@cache
def database_owners() -> dict[str, str]:
    """database -> owner role, as infra/postgres/init-databases.sh creates them."""
    return dict(re.findall(r"^create_database\s+(\w+)\s+(\w+)\s", PG_INIT.read_text(), re.M))


def test_compose_runs_the_stores_and_every_service() -> None:
    services = compose()["services"]
    assert compose_service("postgres")["image"].split(":")[1].startswith("16"), "PostgreSQL 16"
    assert "minio" in compose_service("minio")["image"]
    bucket_job = compose_service("minio-init")
    assert depends_condition(bucket_job, "minio") == "service_healthy"
    assert "mc mb" in " ".join(map(str, [bucket_job.get("command"), bucket_job.get("entrypoint")]))
    built = {name: s["build"] for name, s in services.items() if "build" in s}
    expected = {n for spec in SERVICES for n in (spec.name, f"{spec.name}-migrate")}
    assert set(built) == expected, f"compose builds {sorted(built)}, not the five services"
    assert {b["args"]["SERVICE"] for b in built.values()} == {spec.name for spec in SERVICES}


@by_name
def test_compose_builds_the_service_image(spec: ServiceSpec) -> None:
    service, migrate = compose_service(spec.name), compose_service(f"{spec.name}-migrate")
    build = service["build"]
    assert build["context"] == ".", f"{spec.name}: the image is built from the repository root"
    assert ROOT / build.get("dockerfile", "Dockerfile") == DOCKERFILE, f"{spec.name}: {build}"
    assert build.get("args") == {"SERVICE": spec.name}, (
        f"{spec.name}: build args {build.get('args')}"
    )
    assert service["image"].startswith(f"rlc/{spec.name}:"), f"{spec.name}: {service['image']}"
    assert migrate.get("build") == build and migrate.get("image") == service.get("image"), (
        f"{spec.name}-migrate must run the service's own image"
    )


@by_name
def test_compose_ports_and_healthcheck(spec: ServiceSpec) -> None:
    service = compose_service(spec.name)
    env = compose_env(spec.name)
    assert env.get(spec.env_prefix + "PORT") == str(spec.port), f"{spec.name}: PORT"
    assert [int(p) for p in service.get("expose", [])] == [spec.port], f"{spec.name}: expose"
    assert "ports" not in service, f"{spec.name} must be reached through the proxy only"
    probe = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{spec.port}/readyz" in probe, f"{spec.name}: healthcheck is {probe!r}"


@by_name
def test_compose_env_names_are_the_service_settings(spec: ServiceSpec) -> None:
    assert_settings_names(spec, set(compose_env(spec.name)), f"docker-compose.yml {spec.name}")


@by_name
def test_compose_env_is_production(spec: ServiceSpec) -> None:
    p, raw, env = spec.env_prefix, raw_env(compose_service(spec.name)), compose_env(spec.name)
    required = [
        f"{p}{k}"
        for k in ("DATABASE_URL", "JWKS_URL", "JWT_ISSUER", "S3_BUCKET", "S3_ENDPOINT_URL")
    ]
    required += [f"{p}{k}" for k in ("CORS_ORIGINS", "TOKEN_URL", "CLIENT_ID", "CLIENT_SECRET")]
    missing = [k for k in required if not env.get(k)]
    assert not missing, f"compose {spec.name} lacks {missing}"
    assert env[p + "ENVIRONMENT"] == "production"
    assert env[p + "STORAGE_BACKEND"] == "s3"
    assert raw[p + "JWKS_URL"].startswith("${RLC_JWKS_URL"), "the real issuer's JWKS, from .env"
    assert raw[p + "JWT_ISSUER"].startswith("${RLC_JWT_ISSUER"), "the real issuer, from .env"
    endpoint = urlsplit(env[p + "S3_ENDPOINT_URL"])
    assert endpoint.hostname in compose()["services"], (
        f"{p}S3_ENDPOINT_URL names no compose service"
    )
    origins = json.loads(env[p + "CORS_ORIGINS"])
    assert isinstance(origins, list) and origins and "*" not in origins, "CORS_ORIGINS: a JSON list"
    url = urlsplit(env[p + "DATABASE_URL"])
    assert (url.scheme, url.hostname, url.path) == ("postgresql", "postgres", f"/{spec.name}")


@by_name
def test_compose_env_makes_valid_settings(
    spec: ServiceSpec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(
        spec,
        compose_env(spec.name),
        where=f"docker-compose.yml {spec.name}",
        monkeypatch=monkeypatch,
        tmp_path=tmp_path,
        mounted=compose_mounted_secrets(compose_service(spec.name)),
    )
    assert settings.database_url.startswith("postgresql://")
    assert settings.is_production and settings.storage_backend == "s3"
    assert settings.port == spec.port and settings.jwks_url


@by_name
def test_compose_inter_service_urls(spec: ServiceSpec) -> None:
    env = compose_env(spec.name)
    for var, url in inter_service_urls(spec).items():
        assert env.get(var) == url, f"compose {spec.name}: {var} must be {url}, not {env.get(var)}"


@by_name
def test_compose_migration_one_shot(spec: ServiceSpec) -> None:
    service, migrate = compose_service(spec.name), compose_service(f"{spec.name}-migrate")
    where = f"docker-compose.yml {spec.name}-migrate"
    assert migrate.get("command") == ALEMBIC_UPGRADE, f"{where}: {migrate.get('command')}"
    workdir = migrate.get("working_dir", image_for(spec.name).workdir)
    assert workdir == f"/app/services/{spec.name}", f"{where}: runs in {workdir}"
    assert str(migrate.get("restart", "no")) == "no", f"{where} is a one-shot"
    assert depends_condition(migrate, "postgres") == "service_healthy"
    assert depends_condition(service, f"{spec.name}-migrate") == "service_completed_successfully", (
        f"{spec.name} must wait for its migration to complete"
    )
    env = compose_env(f"{spec.name}-migrate")
    assert_migration_env(spec, env, where)
    owner = database_owners().get(spec.name)
    assert owner, f"{PG_INIT.name} creates no database {spec.name}"
    url = urlsplit(env[migration_variable(spec)])
    assert (url.scheme, url.hostname, url.path) == ("postgresql", "postgres", f"/{spec.name}")
    assert user_of(env[migration_variable(spec)]) == owner, f"{where} must connect as {owner}"
    assert not compose_mounted_secrets(migrate), f"{where} needs no other secret"


@by_name
def test_a_migration_needs_only_its_database_url(
    spec: ServiceSpec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The migration container's environment on top of the image's (production, so any settings
    built on the way would refuse the dev defaults), with SQLite in place of PostgreSQL, runs
    the real migrations to head from the image's working directory."""
    for name in list(os.environ):
        if any(name.startswith(s.env_prefix) for s in SERVICES):
            monkeypatch.delenv(name)
    database = f"sqlite:///{tmp_path / 'migrated.db'}"
    for name, value in {**image_for(spec.name).env, migration_variable(spec): database}.items():
        monkeypatch.setenv(name, value)
    service_dir = ROOT / "services" / spec.name
    monkeypatch.chdir(service_dir)
    monkeypatch.setattr(sys, "path", list(sys.path))  # alembic.ini's prepend_sys_path
    command.upgrade(Config(str(service_dir / "alembic.ini")), "head")
    engine = make_engine(database)
    try:
        assert at_head(engine, service_dir), f"{spec.name}: not at head after the migration"
    finally:
        engine.dispose()


def test_compose_secrets_come_from_the_environment() -> None:
    example = set(re.findall(r"^([A-Z]\w*)=", ENV_EXAMPLE.read_text(), re.M))
    for name, service in compose()["services"].items():
        for key, value in raw_env(service).items():
            if is_secret(key):
                assert is_required_placeholder(value), (
                    f"compose {name}: {key} must be a required ${{VAR}} placeholder, not {value!r}"
                )
            if key.endswith("DATABASE_URL"):
                assert re.match(rf"postgresql://\w+:{REQUIRED_VAR}@", value), (
                    f"compose {name}: the password in {key} must be a required ${{VAR}} placeholder"
                )
            for match in COMPOSE_VAR.finditer(value):
                if match["op"] in (None, "?", ":?"):
                    assert match["name"] in example, (
                        f"{match['name']} is missing from {ENV_EXAMPLE.name}"
                    )


def test_postgres_init_creates_every_database() -> None:
    postgres = compose_service("postgres")
    assert any(
        str(v).startswith("./infra/postgres/init-databases.sh:/docker-entrypoint-initdb.d/")
        for v in postgres.get("volumes", [])
    ), "the init script must be mounted into /docker-entrypoint-initdb.d"
    assert set(database_owners()) == {spec.name for spec in SERVICES}
    for spec in SERVICES:
        if spec.name != "randomisation":
            user = user_of(compose_env(spec.name)[spec.env_prefix + "DATABASE_URL"])
            assert user == database_owners()[spec.name], f"compose {spec.name} connects as {user}"
    script = PG_INIT.read_text()
    passwords = set(re.findall(r"\$(RLC_\w+_PASSWORD)", script))
    assert passwords and passwords <= set(raw_env(postgres)), (
        f"postgres lacks {passwords - set(raw_env(postgres))}"
    )
    assert f"role={APP_ROLE}" in script, f"{PG_INIT.name} must create the login role {APP_ROLE}"


def test_compose_randomisation_runs_as_the_app_role() -> None:
    service_url = compose_env("randomisation")["RANDOMISATION_DATABASE_URL"]
    migrate_url = compose_env("randomisation-migrate")["RANDOMISATION_DATABASE_URL"]
    owner = database_owners()["randomisation"]
    assert user_of(service_url) == APP_ROLE, f"randomisation must connect as {APP_ROLE}"
    assert user_of(migrate_url) == owner != APP_ROLE, (
        f"randomisation-migrate must connect as {owner}"
    )
    # The app role's grants, applied after each migration, before the service starts.
    assert APP_ROLE_SQL.is_file(), f"{APP_ROLE_SQL} is missing"
    grants = compose_service("randomisation-app-role")
    mount = f"./{APP_ROLE_SQL.relative_to(ROOT)}:"
    target = next(
        (v.split(":")[1] for v in grants.get("volumes", []) if str(v).startswith(mount)), None
    )
    assert target, f"randomisation-app-role must mount {APP_ROLE_SQL.name}"
    assert grants["command"][0] == "psql" and grants["command"][-2:] == ["-f", target]
    assert compose_env("randomisation-app-role").get("PGDATABASE") == "randomisation"
    assert depends_condition(grants, "randomisation-migrate") == "service_completed_successfully"
    assert (
        depends_condition(compose_service("randomisation"), "randomisation-app-role")
        == "service_completed_successfully"
    )


def test_proxy_routes_every_service_with_the_prefix_stripped() -> None:
    proxy = compose_service("proxy")
    assert any(str(v).startswith("./infra/proxy/Caddyfile:") for v in proxy.get("volumes", []))
    assert proxy.get("ports"), "the proxy is the one published entry point"
    text = re.sub(r"#.*", "", CADDYFILE.read_text())
    routes = {
        m["prefix"]: (m["host"], int(m["port"]))
        for m in re.finditer(
            r"handle_path\s+/(?P<prefix>[\w-]+)/\*\s*\{\s*reverse_proxy\s+(?P<host>[\w.-]+):(?P<port>\d+)\s*\}",
            text,
        )
    }
    expected = {spec.name: (spec.name, spec.port) for spec in SERVICES}
    assert routes == expected, f"Caddyfile routes {routes}, expected {expected}"


# ---------------------------------------------------------------------------------- kubernetes


@cache
def k8s_docs() -> tuple[tuple[Path, dict[str, Any]], ...]:
    docs = []
    for path in sorted(K8S_DIR.rglob("*.y*ml")):
        docs += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert docs, f"no manifests under {K8S_DIR}"
    return tuple(docs)


def k8s_objects(*, templates: bool = False) -> list[dict[str, Any]]:
    return [
        doc
        for path, doc in k8s_docs()
        if doc.get("kind") != "Kustomization" and (SECRET_TEMPLATES in path.parents) == templates
    ]


def k8s_object(kind: str, name: str, *, templates: bool = False) -> dict[str, Any]:
    found = [
        o
        for o in k8s_objects(templates=templates)
        if o["kind"] == kind and o["metadata"]["name"] == name
    ]
    where = SECRET_TEMPLATES if templates else K8S_DIR
    assert len(found) == 1, f"{where}: expected one {kind} {name!r}, found {len(found)}"
    return found[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def pod_containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    pod = pod_spec(obj)
    return pod.get("initContainers", []) + pod["containers"]


def k8s_env(container: dict[str, Any], where: str) -> dict[str, str]:
    """A container's environment: its ConfigMaps, Secret templates and ``env`` entries."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(k8s_object("ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            secret = k8s_object("Secret", source["secretRef"]["name"], templates=True)
            env.update(secret.get("stringData", {}))
    for item in container.get("env", []):
        assert "value" in item, f"{where}: {item['name']} — use envFrom a ConfigMap or Secret"
        env[item["name"]] = str(item["value"])
    return env


def secret_mounts(pod: dict[str, Any], container: dict[str, Any]) -> set[str]:
    secret_volumes = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
    return {
        m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] in secret_volumes
    }


def service_container(obj: dict[str, Any], spec: ServiceSpec) -> dict[str, Any]:
    mine = [c for c in pod_containers(obj) if c["image"].split(":")[0] == f"rlc/{spec.name}"]
    assert len(mine) == 1, f"{obj['kind']} {obj['metadata']['name']}: one rlc/{spec.name} container"
    return mine[0]


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    assert port in named, f"port {port!r} is not a named port of {container['name']}"
    return named[port]


def assert_restricted(
    pod: dict[str, Any], container: dict[str, Any], spec: ServiceSpec, where: str
) -> None:
    context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    assert context.get("runAsNonRoot") is True, f"{where}: runAsNonRoot"
    uid, gid = image_user(spec)
    assert (context.get("runAsUser"), context.get("runAsGroup")) == (uid, gid), (
        f"{where}: runAsUser/runAsGroup are the image's {uid}:{gid}"
    )
    assert context.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation"
    assert context.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: drop ALL capabilities"
    resources = container.get("resources", {})
    assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{where}: resource requests"
    assert "memory" in resources.get("limits", {}), f"{where}: a memory limit"


def test_k8s_manifests_are_namespaced_and_listed() -> None:
    k8s_object("Namespace", NAMESPACE)
    for obj in k8s_objects() + k8s_objects(templates=True):
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, (
                f"{obj['kind']} {obj['metadata']['name']}"
            )
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    files = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files, "kustomization.yaml must list every manifest"
    assert not [o for o in k8s_objects() if o["kind"] == "Secret"], (
        f"Secrets belong in {SECRET_TEMPLATES.name}/ (templates, applied by hand), not in the manifests"
    )
    images = {i["name"] for i in kustomization.get("images", [])}
    assert images == {f"rlc/{spec.name}" for spec in SERVICES}


@by_name
def test_k8s_deployment_and_service(spec: ServiceSpec) -> None:
    deployment = k8s_object("Deployment", spec.name)
    pod, container = pod_spec(deployment), service_container(deployment, spec)
    where = f"Deployment {spec.name}"
    assert [p["containerPort"] for p in container["ports"]] == [spec.port], (
        f"{where}: containerPort"
    )
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path, f"{where}: {probe} must GET {path}"
        assert port_number(container, get["port"]) == spec.port, f"{where}: {probe} port"
    assert_restricted(pod, container, spec, where)
    assert container["securityContext"].get("readOnlyRootFilesystem") is True, where

    service = k8s_object("Service", spec.name)
    (port,) = service["spec"]["ports"]
    assert port["port"] == spec.port, f"Service {spec.name}: port"
    assert port_number(container, port["targetPort"]) == spec.port, (
        f"Service {spec.name}: targetPort"
    )
    selector = service["spec"]["selector"].items()
    assert selector <= deployment["spec"]["template"]["metadata"]["labels"].items()
    job_labels = k8s_object("Job", f"{spec.name}-migrate")["spec"]["template"]["metadata"]["labels"]
    assert not selector <= job_labels.items(), (
        f"Service {spec.name} must not select the migration pod"
    )


@by_name
def test_k8s_deployment_env(
    spec: ServiceSpec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployment = k8s_object("Deployment", spec.name)
    container = service_container(deployment, spec)
    where = f"Deployment {spec.name}"
    env = k8s_env(container, where)
    assert_settings_names(spec, set(env), where)
    p = spec.env_prefix
    assert env.get(p + "ENVIRONMENT") == "production", where
    assert env.get(p + "STORAGE_BACKEND") == "s3" and env.get(p + "S3_BUCKET"), where
    assert env.get(p + "JWKS_URL", "").startswith("https://"), (
        f"{where}: the real issuer's JWKS_URL"
    )
    for var, url in inter_service_urls(spec).items():
        assert env.get(var) == url, f"{where}: {var} must be {url}, not {env.get(var)}"
    settings = load_settings(
        spec,
        env,
        where=where,
        monkeypatch=monkeypatch,
        tmp_path=tmp_path,
        mounted=secret_mounts(pod_spec(deployment), container),
    )
    assert settings.is_production and settings.port == spec.port, where


@by_name
def test_k8s_migration_job(spec: ServiceSpec) -> None:
    job = k8s_object("Job", f"{spec.name}-migrate")
    pod, container = pod_spec(job), service_container(job, spec)
    deployment_container = service_container(k8s_object("Deployment", spec.name), spec)
    where = f"Job {spec.name}-migrate"
    assert container["image"] == deployment_container["image"], f"{where}: the service's own image"
    assert container.get("command") == ALEMBIC_UPGRADE, f"{where}: {container.get('command')}"
    workdir = container.get("workingDir", image_for(spec.name).workdir)
    assert workdir == f"/app/services/{spec.name}", f"{where}: runs in {workdir}"
    assert pod["restartPolicy"] in ("Never", "OnFailure"), where
    assert_restricted(pod, container, spec, where)
    assert container["securityContext"].get("readOnlyRootFilesystem") is True, where
    assert container.get("envFrom") == [{"secretRef": {"name": f"{spec.name}-migrations"}}], (
        f"{where}: the owner's credentials Secret only, no ConfigMap: {container.get('envFrom')}"
    )
    assert not secret_mounts(pod, container), f"{where}: no other secret mounted"
    env = k8s_env(container, where)
    assert_migration_env(spec, env, where)
    owner = database_owners()[spec.name]
    assert user_of(env[migration_variable(spec)]) == owner, f"{where}: connects as {owner}"
    app_user = user_of(k8s_env(deployment_container, spec.name)[spec.env_prefix + "DATABASE_URL"])
    assert app_user == (APP_ROLE if spec.name == "randomisation" else owner), (
        f"{spec.name} connects as {app_user}"
    )


def test_k8s_randomisation_grants_the_app_role_after_migrating() -> None:
    pod = pod_spec(k8s_object("Job", "randomisation-migrate"))
    assert [c["command"] for c in pod["initContainers"]] == [ALEMBIC_UPGRADE], "migrate first"
    (grants,) = pod["containers"]
    mount = {m["name"]: m["mountPath"] for m in grants["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if v["name"] in mount and "configMap" in v)
    assert grants["command"][-1] == f"{mount[volume['name']]}/{APP_ROLE_SQL.name}", grants[
        "command"
    ]
    assert grants["command"][0] == "psql" and "ON_ERROR_STOP=1" in grants["command"]
    readme = (ROOT / "infra" / "README.md").read_text()
    assert f"create configmap {volume['configMap']['name']}" in readme, "README: how to create it"


def test_k8s_config_maps_hold_no_secrets_and_are_all_used() -> None:
    used: set[str] = set()
    for obj in k8s_objects():
        if obj["kind"] in ("Deployment", "Job"):
            where = f"{obj['kind']} {obj['metadata']['name']}"
            used |= {
                v["configMap"]["name"] for v in pod_spec(obj).get("volumes", []) if "configMap" in v
            }
            for container in pod_containers(obj):
                used |= {
                    s["configMapRef"]["name"]
                    for s in container.get("envFrom", [])
                    if "configMapRef" in s
                }
                literal = [e["name"] for e in container.get("env", []) if is_secret(e["name"])]
                assert not literal, f"{where}: {literal} belong in a Secret, not in env"
    for config in (o for o in k8s_objects() if o["kind"] == "ConfigMap"):
        name = config["metadata"]["name"]
        assert name in used, f"ConfigMap {name} is used by no container"
        secrets = [k for k in config["data"] if is_secret(k) or k.endswith("DATABASE_URL")]
        assert not secrets, f"ConfigMap {name}: {secrets} belong in a Secret template"


def test_k8s_secret_templates_hold_no_values() -> None:
    secrets = k8s_objects(templates=True)
    for spec in SERVICES:
        for name in (f"{spec.name}-secrets", f"{spec.name}-migrations"):
            k8s_object("Secret", name, templates=True)
    for secret in secrets:
        name = secret["metadata"]["name"]
        assert secret["kind"] == "Secret" and "data" not in secret, f"{name}: stringData only"
        for key, value in secret["stringData"].items():
            if is_secret(key) or key.endswith("DATABASE_URL"):
                assert CHANGE_ME in str(value), (
                    f"template {name}: {key} must be {CHANGE_ME}, not a value"
                )


def test_ingress_routes_every_service_with_the_prefix_stripped() -> None:
    (ingress,) = [o for o in k8s_objects() if o["kind"] == "Ingress"]
    routes = {}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            routes[path["path"]] = (backend["name"], backend["port"]["number"])
    expected = {f"/{spec.name}(/|$)(.*)": (spec.name, spec.port) for spec in SERVICES}
    assert routes == expected, f"Ingress routes {routes}, expected {expected}"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"] == "/$2"
