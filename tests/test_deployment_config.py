"""The deployment files agree with the code.

``docker-compose.yml``, ``infra/k8s/`` and ``infra/proxy/Caddyfile`` are checked against
``rlc_cli.services.SERVICES``, each service's Dockerfile, its ``Settings`` class (read now, so a
setting added or renamed in the code is checked without editing this file) and its ``create_app()``.
No container runs here: the files are parsed, and every container's environment is loaded into
the service's real ``Settings`` to prove it validates.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import ValidationError

from rlc_cli.services import SERVICES, ServiceSpec

ROOT = Path(__file__).resolve().parents[1]
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
SECRET_KEY = re.compile(r"PASSWORD|SECRET|\.pem$")
REQUIRED_VAR = r"\$\{\w+(?::?\?[^}]*)?\}"
#: The marker every value of a Secret template carries instead of a real value.
CHANGE_ME = "CHANGE_ME"

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


@dataclass
class Dockerfile:
    path: Path
    expose: list[int] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = ""
    uid: int | None = None


@cache
def dockerfile(path: Path) -> Dockerfile:
    parsed = Dockerfile(path)
    text = re.sub(r"\\\n", " ", path.read_text())
    for line in text.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        match instruction.upper():
            case "EXPOSE":
                parsed.expose += [int(p.split("/")[0]) for p in rest.split()]
            case "ENV":
                parsed.env.update(item.split("=", 1) for item in shlex.split(rest))
            case "WORKDIR":
                parsed.workdir = rest.strip()
        if uid := re.search(r"--uid\s+(\d+)", line):
            parsed.uid = int(uid.group(1))
    return parsed


def service_dockerfile(spec: ServiceSpec) -> Dockerfile:
    return dockerfile(ROOT / "services" / spec.name / "Dockerfile")


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
    full = {**service_dockerfile(spec).env, **env}
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


@by_name
def test_the_code_agrees_on_the_port(spec: ServiceSpec) -> None:
    docker = service_dockerfile(spec)
    assert settings_class(spec).model_fields["port"].default == spec.port
    assert docker.expose == [spec.port], f"{docker.path}: EXPOSE {docker.expose}, not {spec.port}"
    assert docker.env.get(spec.env_prefix + "PORT") == str(spec.port), docker.path


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
    built = {
        s["build"]["dockerfile"].split("/")[1]
        for s in services.values()
        if isinstance(s.get("build"), dict)
    }
    assert built == {spec.name for spec in SERVICES}, "compose builds exactly the five services"
    for spec in SERVICES:
        compose_service(spec.name)
        compose_service(f"{spec.name}-migrate")


@by_name
def test_compose_builds_the_service_dockerfile(spec: ServiceSpec) -> None:
    service, migrate = compose_service(spec.name), compose_service(f"{spec.name}-migrate")
    build = service["build"]
    assert build["context"] == ".", (
        f"{spec.name}: the Dockerfiles are built from the repository root"
    )
    path = ROOT / build["dockerfile"]
    assert path.is_file(), f"{spec.name}: {build['dockerfile']} does not exist"
    assert path == service_dockerfile(spec).path
    assert dockerfile(path).expose == [spec.port], f"{path}: EXPOSE is not {spec.port}"
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
    for name in (spec.name, f"{spec.name}-migrate"):
        assert_settings_names(spec, set(compose_env(name)), f"docker-compose.yml {name}")


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
    for name in (spec.name, f"{spec.name}-migrate"):
        service = compose_service(name)
        settings = load_settings(
            spec,
            compose_env(name),
            where=f"docker-compose.yml {name}",
            monkeypatch=monkeypatch,
            tmp_path=tmp_path,
            mounted=compose_mounted_secrets(service),
        )
        assert settings.database_url.startswith("postgresql://"), name
        if name == spec.name:
            assert settings.is_production and settings.storage_backend == "s3", name
            assert settings.port == spec.port and settings.jwks_url, name


@by_name
def test_compose_inter_service_urls(spec: ServiceSpec) -> None:
    env = compose_env(spec.name)
    for other in SERVICES:
        var = f"{spec.env_prefix}{other.name.upper()}_URL"
        if var in setting_names(spec):
            assert env.get(var) == f"http://{other.name}:{other.port}", (
                f"compose {spec.name}: {var} must be http://{other.name}:{other.port}, not {env.get(var)}"
            )


@by_name
def test_compose_migration_one_shot(spec: ServiceSpec) -> None:
    service, migrate = compose_service(spec.name), compose_service(f"{spec.name}-migrate")
    assert migrate.get("command") == ALEMBIC_UPGRADE, (
        f"{spec.name}-migrate: {migrate.get('command')}"
    )
    assert (
        migrate.get("working_dir", service_dockerfile(spec).workdir) == f"/app/services/{spec.name}"
    )
    assert str(migrate.get("restart", "no")) == "no", f"{spec.name}-migrate is a one-shot"
    assert depends_condition(migrate, "postgres") == "service_healthy"
    assert depends_condition(service, f"{spec.name}-migrate") == "service_completed_successfully", (
        f"{spec.name} must wait for its migration to complete"
    )
    owner = database_owners().get(spec.name)
    assert owner, f"{PG_INIT.name} creates no database {spec.name}"
    assert (
        user_of(compose_env(f"{spec.name}-migrate")[spec.env_prefix + "DATABASE_URL"]) == owner
    ), f"{spec.name}-migrate must connect as the database owner {owner}"
    assert not compose_mounted_secrets(migrate), f"{spec.name}-migrate needs no other secret"


def test_compose_secrets_come_from_the_environment() -> None:
    example = set(re.findall(r"^([A-Z]\w*)=", ENV_EXAMPLE.read_text(), re.M))
    for name, service in compose()["services"].items():
        for key, value in raw_env(service).items():
            if SECRET_KEY.search(key):
                assert re.fullmatch(REQUIRED_VAR, value), (
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
    pod = pod_spec(obj)
    containers = pod.get("initContainers", []) + pod["containers"]
    mine = [c for c in containers if c["image"].split(":")[0] == f"rlc/{spec.name}"]
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
    assert context.get("runAsUser") == service_dockerfile(spec).uid, (
        f"{where}: runAsUser is the image's user"
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
    for other in SERVICES:
        var = f"{p}{other.name.upper()}_URL"
        if var in setting_names(spec):
            assert env.get(var) == f"http://{other.name}:{other.port}", f"{where}: {var}"
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
def test_k8s_migration_job(
    spec: ServiceSpec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    job = k8s_object("Job", f"{spec.name}-migrate")
    pod, container = pod_spec(job), service_container(job, spec)
    deployment_container = service_container(k8s_object("Deployment", spec.name), spec)
    where = f"Job {spec.name}-migrate"
    assert container["image"] == deployment_container["image"], f"{where}: the service's own image"
    assert container.get("command") == ALEMBIC_UPGRADE, f"{where}: {container.get('command')}"
    assert (
        container.get("workingDir", service_dockerfile(spec).workdir)
        == f"/app/services/{spec.name}"
    )
    assert pod["restartPolicy"] in ("Never", "OnFailure"), where
    assert_restricted(pod, container, spec, where)
    env = k8s_env(container, where)
    assert_settings_names(spec, set(env), where)
    secrets = [s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s]
    assert secrets == [f"{spec.name}-migrations"], f"{where}: the owner's credentials Secret only"
    load_settings(spec, env, where=where, monkeypatch=monkeypatch, tmp_path=tmp_path, mounted=set())
    owner = database_owners()[spec.name]
    assert user_of(env[spec.env_prefix + "DATABASE_URL"]) == owner, f"{where}: connects as {owner}"
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


def test_k8s_secret_templates_hold_no_values() -> None:
    secrets = k8s_objects(templates=True)
    for spec in SERVICES:
        for name in (f"{spec.name}-secrets", f"{spec.name}-migrations"):
            k8s_object("Secret", name, templates=True)
    for secret in secrets:
        name = secret["metadata"]["name"]
        assert secret["kind"] == "Secret" and "data" not in secret, f"{name}: stringData only"
        for key, value in secret["stringData"].items():
            if SECRET_KEY.search(key) or key.endswith("DATABASE_URL"):
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
