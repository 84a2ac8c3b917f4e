"""The rules of docs/architecture.md that can be checked mechanically, over the source itself:
what each part may import, no import cycles (lazy imports included), thin routers."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ["recruitment", "randomisation", "surveys", "workshops", "analytics"]
PACKAGES: dict[str, Path] = {
    "rlc_shared": ROOT / "shared" / "rlc_shared",
    "rlc_clients": ROOT / "clients" / "rlc_clients",
    "rlc_cli": ROOT / "cli" / "rlc_cli",
    "rlc_testkit": ROOT / "testkit" / "rlc_testkit",
    **{name: ROOT / "services" / name / name for name in SERVICES},
}
TEST_TOOLS = {"pytest", "hypothesis", "schemathesis", "moto"}
#: What each part may import from the workspace (besides itself).
ALLOWED = {
    "rlc_shared": set(),
    "rlc_clients": {"rlc_shared"},
    **{name: {"rlc_shared", "rlc_clients"} for name in SERVICES},
    "rlc_cli": {"rlc_shared", "rlc_clients", *SERVICES},
    "rlc_testkit": {"rlc_shared", "rlc_clients", "rlc_cli", *SERVICES},
}


def modules(package: str) -> Iterator[tuple[str, Path]]:
    base = PACKAGES[package]
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(base.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def imports(path: Path, module: str) -> set[str]:
    """Every module imported anywhere in the file (functions included: a lazy import counts)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            # `from pkg import module`: the imported name may itself be a module.
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_each_part_imports_only_what_it_may(package: str) -> None:
    workspace = set(PACKAGES)
    wrong = []
    for module, path in modules(package):
        for name in imports(path, module):
            top = name.split(".")[0]
            if top in workspace and top != package and top not in ALLOWED[package]:
                wrong.append(f"{module} imports {name}")
            if package != "rlc_testkit" and top in TEST_TOOLS:
                wrong.append(f"{module} imports the test tool {name}")
    assert not wrong, "\n".join(wrong)


def test_importing_the_library_pulls_in_no_cli_and_no_test_kit() -> None:
    code = (
        "import importlib, pkgutil, sys, rlc_shared\n"
        "for m in pkgutil.walk_packages(rlc_shared.__path__, 'rlc_shared.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "{'rlc_cli', 'rlc_testkit', 'pytest', 'hypothesis', 'schemathesis', 'typer'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"import rlc_shared loaded: {out.stdout.strip()}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in list(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycles(package: str) -> None:
    known = dict(modules(package))
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = set()
        for name in imports(path, module):
            # The deepest known module the name refers to (a package's __init__ counts).
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                targets.add(name)
        graph[module] = targets
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


#: Calls a router may not make: queries, writes and transaction control belong to the services.
FORBIDDEN_METHODS = {"exec", "execute", "query", "commit", "flush", "rollback"}
#: ... and on a session: reading or writing rows.
SESSION_METHODS = {"get", "add", "add_all", "delete", "merge", "refresh", "scalar", "scalars"}
FORBIDDEN_FUNCTIONS = {"select", "insert", "update", "delete"}


def router_modules() -> Iterator[tuple[str, Path]]:
    for package in SERVICES + ["rlc_shared"]:
        for module, path in modules(package):
            text = path.read_text()
            if "APIRouter(" in text and (path.name == "router.py" or package == "rlc_shared"):
                yield module, path


@pytest.mark.parametrize("module", [m for m, _ in router_modules()])
def test_routers_hold_no_query_commit_or_flush(module: str) -> None:
    path = dict(router_modules())[module]
    tree = ast.parse(path.read_text(), str(path))
    wrong = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_METHODS:
            wrong.append(f"line {node.lineno}: .{func.attr}(...)")
        if isinstance(func, ast.Attribute) and func.attr in SESSION_METHODS:
            receiver = func.value
            if isinstance(receiver, ast.Name) and receiver.id in ("session", "db"):
                wrong.append(f"line {node.lineno}: {receiver.id}.{func.attr}(...)")
        if isinstance(func, ast.Name) and func.id in FORBIDDEN_FUNCTIONS:
            wrong.append(f"line {node.lineno}: {func.id}(...)")
    assert not wrong, f"{module}: " + "; ".join(wrong)


def test_the_rules_see_every_router() -> None:
    found = {m for m, _ in router_modules()}
    assert "recruitment.schools.router" in found and "randomisation.runs.router" in found
