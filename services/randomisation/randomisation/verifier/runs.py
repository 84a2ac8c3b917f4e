"""The runs in a log: checks 7 to 9 of docs/randomisation.md section 8.

``RunLedger`` follows ``run.frozen``, ``run.executed`` and ``run.abandoned`` entries in log order
and remembers only what later entries can refer to: each run's frozen list until it is executed,
the abandoned runs, and the URNs allocated so far in each namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from .allocation import (
    ALGORITHM,
    allocate,
    allocation_difference,
    allocation_namespace,
    effective_seed,
    frozen_list_problem,
    list_sha256,
)
from .canonical import is_hex64, is_int, is_unicode
from .report import Problem

RunKey = tuple[str, object]

# The entry types the ledger follows; every other type is checked only as an entry.
RUN_ENTRY_TYPES = frozenset({"run.frozen", "run.executed", "run.abandoned"})


@dataclass
class _Run:
    """What the ledger remembers of a frozen run."""

    frozen_at: int
    test: bool
    scheme_id: str | None  # test runs only: the scheme whose namespace the allocations are in
    schools: list[dict[str, Any]] | None  # None when the frozen list is unusable or spent
    executed_at: int | None = None


def _run_key(run_id: object) -> RunKey | None:
    # Keyed by JSON type as well, so run 1 and run "1" stay distinct.
    if isinstance(run_id, str):
        return ("s", run_id)
    if is_int(run_id):
        return ("i", run_id)
    return None


class RunLedger:
    """The runs seen so far; problems are appended to the ``problems`` list it is given.

    Sharing the verifier's list keeps every problem in log order, whichever check found it.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self._problems = problems
        self._runs: dict[RunKey, _Run] = {}
        self._abandoned: dict[RunKey, int] = {}  # run key -> first run.abandoned
        self._allocated: dict[tuple[str, int], tuple[Any, int]] = {}  # (namespace, urn)
        self._rederived = 0

    @property
    def rederived(self) -> int:
        """How many executed runs had their allocation re-derived exactly."""
        return self._rederived

    def _fail(self, index: int, entry_type: str | None, message: str) -> None:
        self._problems.append(Problem(message, index=index, entry_type=entry_type))

    def follow(
        self, position: int, entry_type: str | None, payload: Mapping[str, Any], *, test: bool
    ) -> None:
        """Checks 7 to 9 for the entries that freeze, execute or abandon a run."""
        try:
            if entry_type == "run.frozen":
                self._check_frozen(position, payload, test=test)
            elif entry_type == "run.executed":
                self._check_executed(position, payload, test=test)
        except (ValueError, TypeError, KeyError) as exc:  # hostile input must not stop the audit
            self._fail(position, entry_type, f"payload could not be checked: {exc}")
        if entry_type == "run.abandoned":
            key = _run_key(payload.get("run_id"))
            if key is not None:
                self._abandoned.setdefault(key, position)

    def _check_frozen(self, position: int, payload: Mapping[str, Any], *, test: bool) -> None:
        """Check 7: a new run, the right algorithm, a well-formed list; remember the list."""
        run_id = payload.get("run_id")
        key = _run_key(run_id)
        if key is None:
            message = f"run_id must be a string or an integer, not {run_id!r}"
            self._fail(position, "run.frozen", message)
            return
        if key in self._runs:
            message = f"run {run_id!r} was already frozen at entry {self._runs[key].frozen_at}"
            self._fail(position, "run.frozen", message)
            return
        usable = payload.get("algorithm") == ALGORITHM
        if not usable:
            message = f"algorithm {payload.get('algorithm')!r} is not {ALGORITHM!r}"
            self._fail(position, "run.frozen", message)
        attributes = payload.get("strata_attributes")
        if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
            self._fail(position, "run.frozen", "strata_attributes is not a list of strings")
        schools = self._check_frozen_list(position, payload)
        scheme_id = self._check_test_scheme(position, payload) if test else None
        self._runs[key] = _Run(
            frozen_at=position,
            test=test,
            scheme_id=scheme_id,
            schools=schools if usable else None,
        )

    def _check_frozen_list(
        self, position: int, payload: Mapping[str, Any]
    ) -> list[dict[str, Any]] | None:
        """The frozen list if it is well formed, sorted and matches ``list_sha256``; else None."""
        schools = payload.get("schools")
        problem = frozen_list_problem(schools)
        if problem is not None:
            self._fail(position, "run.frozen", problem)
            return None
        frozen = cast(list[dict[str, Any]], schools)  # checked by frozen_list_problem
        digest = list_sha256(frozen)
        if payload.get("list_sha256") != digest:
            message = (
                f"list_sha256 {payload.get('list_sha256')!r} does not match the frozen "
                f"schools (computed {digest})"
            )
            self._fail(position, "run.frozen", message)
            return None
        return frozen

    def _check_test_scheme(self, position: int, payload: Mapping[str, Any]) -> str | None:
        """A test run's scheme, which names its double-allocation namespace (section 6)."""
        scheme_id = payload.get("scheme_id")
        if isinstance(scheme_id, str) and scheme_id:
            return scheme_id
        message = (
            "a test-mode run.frozen must carry its scheme_id (a non-empty string), "
            f"not {scheme_id!r}"
        )
        self._fail(position, "run.frozen", message)
        return None

    def _check_executed(self, position: int, payload: Mapping[str, Any], *, test: bool) -> None:
        """Check 8, then check 9: the allocation follows from its run; no URN twice."""
        run_id = payload.get("run_id")
        key = _run_key(run_id)
        if key is None:
            message = f"run_id must be a string or an integer, not {run_id!r}"
            self._fail(position, "run.executed", message)
            return
        run = self._runs.get(key)
        frozen = self._check_run_lifecycle(position, run_id, key, run, test=test)
        seed = self._check_seed(position, payload)
        allocations = self._check_allocation_list(position, payload)
        given = {} if allocations is None else {a["urn"]: a.get("arm") for a in allocations}
        if frozen is not None and seed is not None and allocations is not None:
            self._check_executed_allocation(position, frozen, seed, allocations, given)
        if run is not None and run.executed_at is None:
            run.executed_at = position
            run.schools = None  # re-derived: the list is no longer needed
        self._check_double_allocation(position, run_id, run, given, test=test)

    def _check_run_lifecycle(
        self, position: int, run_id: object, key: RunKey, run: _Run | None, *, test: bool
    ) -> list[dict[str, Any]] | None:
        """Frozen earlier, executed once, not abandoned, same mode: the list to re-derive from."""
        if run is None:
            self._fail(position, "run.executed", f"no earlier run.frozen entry for run {run_id!r}")
            return None
        derivable = True
        if run.executed_at is not None:
            message = f"run {run_id!r} was already executed at entry {run.executed_at}"
            self._fail(position, "run.executed", message)
            derivable = False
        if key in self._abandoned:
            message = f"run {run_id!r} was abandoned at entry {self._abandoned[key]}"
            self._fail(position, "run.executed", message)
        if run.test != test:
            message = f"test flag differs from the run.frozen entry {run.frozen_at}"
            self._fail(position, "run.executed", message)
        if run.schools is None:
            message = f"the run.frozen entry {run.frozen_at} is unusable, so nothing can be checked"
            self._fail(position, "run.executed", message)
            derivable = False
        return run.schools if derivable else None

    def _check_seed(self, position: int, payload: Mapping[str, Any]) -> bytes | None:
        """The effective seed, if ``seed`` and ``witness`` are well formed; it must match."""
        seed_hex, witness = payload.get("seed"), payload.get("witness")
        if not is_hex64(seed_hex):
            self._fail(position, "run.executed", "seed is not 64 lowercase hex digits")
            return None
        if witness is not None and not isinstance(witness, str):
            self._fail(position, "run.executed", "witness is neither a string nor null")
            return None
        if witness is not None and not is_unicode(witness):
            self._fail(position, "run.executed", "witness is not valid Unicode")
            return None
        computed = effective_seed(bytes.fromhex(seed_hex), witness)
        if payload.get("effective_seed") != computed.hex():
            message = (
                f"effective_seed {payload.get('effective_seed')!r} does not follow from the "
                f"seed and witness (computed {computed.hex()})"
            )
            self._fail(position, "run.executed", message)
        return computed

    def _check_allocation_list(
        self, position: int, payload: Mapping[str, Any]
    ) -> list[dict[str, Any]] | None:
        """The logged allocations, if they are a list of objects with an integer URN."""
        allocations = payload.get("allocations")
        if isinstance(allocations, list) and all(
            isinstance(a, dict) and is_int(a.get("urn")) for a in allocations
        ):
            return allocations
        message = 'allocations is not a list of {"urn": int, "arm": str}'
        self._fail(position, "run.executed", message)
        return None

    def _check_executed_allocation(
        self,
        position: int,
        frozen: list[dict[str, Any]],
        seed: bytes,
        allocations: list[dict[str, Any]],
        given: Mapping[int, Any],
    ) -> None:
        """The logged allocations are exactly the algorithm's output on the frozen list."""
        expected = allocate(frozen, seed)
        if allocations == expected:
            self._rederived += 1
        else:
            message = allocation_difference(allocations, given, expected)
            self._fail(position, "run.executed", message)

    def _check_double_allocation(
        self,
        position: int,
        run_id: object,
        run: _Run | None,
        given: Mapping[int, Any],
        *,
        test: bool,
    ) -> None:
        """Check 9: no URN allocated twice in one namespace.

        Once among all live runs, and once among the runs of each test scheme (named by the test
        run's run.frozen); the two kinds never meet.
        """
        scheme_id = run.scheme_id if run is not None and run.test and test else None
        namespace = allocation_namespace(test, scheme_id)
        clashes: list[str] = []
        for urn in given:
            earlier = self._allocated.get((namespace, urn))
            if earlier is not None:
                clashes.append(f"URN {urn} (run {earlier[0]!r}, entry {earlier[1]})")
            else:
                self._allocated[(namespace, urn)] = (run_id, position)
        if not clashes:
            return
        if not test:
            where = "live run"
        elif scheme_id is not None:
            where = f"test run of scheme {scheme_id!r}"
        else:
            where = "test run"
        shown = ", ".join(clashes[:5]) + (f" and {len(clashes) - 5} more" if clashes[5:] else "")
        self._fail(position, "run.executed", f"already allocated in an earlier {where}: {shown}")
