"""The SPA-facing contract, checked from the other side: TypeScript types are generated from each
service's OpenAPI document (openapi-typescript, pinned in contracts/package-lock.json, which
records no registry address) and contracts/client.ts, a small typed client of the main endpoints
that handles problem+json errors, must type-check against them (tsc --noEmit). A breaking change
to a path, a response field or the error shape fails here."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rlc_cli import services

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "contracts"

pytestmark = pytest.mark.skipif(
    shutil.which("npm") is None, reason="Node.js and npm are needed for the TypeScript check"
)


def _npm(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", *args], cwd=CONTRACTS, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def node_modules() -> Path:
    installed = CONTRACTS / "node_modules" / ".package-lock.json"
    lock = CONTRACTS / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = _npm("ci", "--no-audit", "--no-fund")
        assert done.returncode == 0, done.stdout + done.stderr
    return CONTRACTS / "node_modules"


def test_the_lock_file_records_no_registry_address() -> None:
    text = (CONTRACTS / "package-lock.json").read_text()
    assert '"resolved"' not in text
    assert "registry.npmjs.org" not in text and "registry.yarnpkg.com" not in text
    pinned = json.loads((CONTRACTS / "package.json").read_text())["devDependencies"]
    assert all(v[0].isdigit() for v in pinned.values()), f"pin exact versions: {pinned}"


def _openapi(name: str, tmp: Path) -> dict:
    settings = importlib.import_module(f"{name}.config").Settings(
        database_url=f"sqlite:///{tmp / (name + '.db')}", storage_dir=str(tmp / name)
    )
    return importlib.import_module(f"{name}.main").create_app(settings).openapi()


def test_the_typed_client_type_checks_against_every_service(
    node_modules: Path, tmp_path: Path
) -> None:
    generated = CONTRACTS / "generated"
    generated.mkdir(exist_ok=True)
    for spec in services.SERVICES:
        doc = tmp_path / f"{spec.name}.json"
        doc.write_text(json.dumps(_openapi(spec.name, tmp_path)))
        out = generated / f"{spec.name}.ts"
        done = subprocess.run(
            [str(node_modules / ".bin" / "openapi-typescript"), str(doc), "-o", str(out)],
            cwd=CONTRACTS,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    checked = subprocess.run(
        [str(node_modules / ".bin" / "tsc"), "--noEmit", "-p", "tsconfig.json"],
        cwd=CONTRACTS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_breaking_change_is_caught(node_modules: Path, tmp_path: Path) -> None:
    """The check is not vacuous: renaming a field the client reads makes tsc fail."""
    doc = _openapi("recruitment", tmp_path)
    schema = doc["components"]["schemas"]["SchoolRecord"]["properties"]
    schema["urn_renamed"] = schema.pop("urn")
    broken = tmp_path / "broken"
    shutil.copytree(CONTRACTS, broken, ignore=shutil.ignore_patterns("node_modules"))
    (broken / "node_modules").symlink_to(node_modules)
    (broken / "generated").mkdir(exist_ok=True)
    for spec in services.SERVICES:
        source = doc if spec.name == "recruitment" else _openapi(spec.name, tmp_path)
        path = tmp_path / f"{spec.name}-broken.json"
        path.write_text(json.dumps(source))
        subprocess.run(
            [
                str(node_modules / ".bin" / "openapi-typescript"),
                str(path),
                "-o",
                str(broken / "generated" / f"{spec.name}.ts"),
            ],
            cwd=broken,
            capture_output=True,
            check=True,
            timeout=300,
        )
    checked = subprocess.run(
        [str(node_modules / ".bin" / "tsc"), "--noEmit", "-p", "tsconfig.json"],
        cwd=broken,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode != 0
    assert "urn" in checked.stdout
