"""The API fuzzer every service's suite runs: schemathesis against the app's own OpenAPI.

Checks: no 5xx, every response's status documented for its operation, every response conforms
to its documented schema and content type. Not checked: that every schema-valid request is
accepted (domain rules refuse some, with a 409 or 422 problem, and that is right).

``RLC_FUZZ_EXAMPLES`` sets the examples per operation (default 15, so CI stays fast; raise it for
a deeper run, e.g. ``RLC_FUZZ_EXAMPLES=500 pytest -k fuzz``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err
from schemathesis.openapi import from_asgi

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


def examples_per_operation() -> int:
    return int(os.environ.get("RLC_FUZZ_EXAMPLES", "15"))


def fuzz(
    app: Any,
    *,
    headers: dict[str, str],
    max_examples: int | None = None,
    skip: Iterable[str] = (),
) -> tuple[int, list[str]]:
    """Fuzz every operation of a started app (inside ``TestClient(app)``); returns how many
    operations ran and a description of each failure (empty when all held)."""
    schema = from_asgi("/openapi.json", app)
    examples = max_examples or examples_per_operation()
    skipped = set(skip)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            # An operation the spec cannot describe is itself a failure worth reporting.
            failures.append(f"unreadable operation: {result.err()}")
            continue
        operation = result.ok()
        if operation.label in skipped:
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every failure is collected and reported
            failures.append(f"{operation.label}: {exc}"[:3000])
    return operations, failures
