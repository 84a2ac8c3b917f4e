"""Whole-log verification: every check of docs/randomisation.md section 8, in one streaming pass.

``LogVerifier`` is fed one entry at a time and keeps only what later entries can refer to: the
previous ``entry_hash`` and the Merkle tree as a compact range here, the runs in a ``RunLedger``
(``runs.py``).  Each check is one method, run in the order below.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .canonical import (
    ENTRY_FIELDS,
    GENESIS_PREV_HASH,
    CanonicalJSONError,
    canonical_json,
    compute_entry_hash,
    is_hex64,
    is_int,
    is_rfc3339_utc,
    type_label,
)
from .checkpoints import CheckpointError, verify_checkpoint
from .report import Problem, Report, plural
from .runs import RUN_ENTRY_TYPES, RunLedger
from .tree import EMPTY_ROOT, MerkleAccumulator, leaf_hash


class LogVerifier:
    """Incremental verifier: feed entries in log order, then call ``finish()``.

    ``add_line`` takes exported lines (bytes, with or without the trailing LF) and also checks
    they are canonical; ``add_entry`` takes already-parsed entries, whose leaf is their canonical
    encoding.  Memory stays bounded apart from the frozen lists of runs not yet executed and the
    set of allocated URNs; the Merkle tree is kept as a compact range.
    """

    def __init__(
        self, jwks: Mapping[str, Any] | None = None, checkpoints: Sequence[str] = ()
    ) -> None:
        self._problems: list[Problem] = []
        self._tree = MerkleAccumulator()
        self._prev_hash: str | None = GENESIS_PREV_HASH  # None: unknowable after a broken line
        self._runs = RunLedger(self._problems)
        self._checkpoint_count = len(checkpoints)
        self._checkpoints = self._check_signatures(jwks, checkpoints)
        # The roots the checkpoints need, taken as the tree grows past each of their sizes.
        self._wanted = {payload["tree_size"] for _, payload in self._checkpoints}
        self._roots: dict[int, bytes] = {0: EMPTY_ROOT}

    # -- feeding -------------------------------------------------------------------------

    def add_line(self, line: bytes) -> None:
        """Check one exported line (the LF terminator, if any, is not part of the entry)."""
        raw = line[:-1] if line.endswith(b"\n") else line
        position = self._tree.size
        self._absorb(raw)
        entry = self._check_line(raw, position)
        if entry is not None:
            self._check_entry(entry, position)

    def add_entry(self, entry: Mapping[str, Any]) -> None:
        """Check one already-parsed entry; its leaf is its canonical encoding."""
        position = self._tree.size
        try:
            raw = canonical_json(entry)
        except CanonicalJSONError as exc:
            self._absorb(b"")
            self._fail(position, type_label(entry), str(exc))
            self._prev_hash = None
            return
        self._absorb(raw)
        self._check_entry(entry, position)

    def finish(self) -> Report:
        """Compare the checkpoints with the log and return the report."""
        problems = list(self._problems)
        verified = 0
        for position, payload in self._checkpoints:
            problem = self._check_checkpoint(position, payload)
            if problem is None:
                verified += 1
            else:
                problems.append(problem)
        return Report(
            entries=self._tree.size,
            root_hash=self._tree.root().hex(),
            checkpoints=self._checkpoint_count,
            checkpoints_verified=verified,
            runs_rederived=self._runs.rederived,
            problems=problems,
        )

    # -- bookkeeping ---------------------------------------------------------------------

    def _absorb(self, raw: bytes) -> None:
        self._tree.append(leaf_hash(raw))
        size = self._tree.size
        if size in self._wanted:
            self._roots[size] = self._tree.root()

    def _fail(self, index: int, entry_type: str | None, message: str) -> None:
        self._problems.append(Problem(message, index=index, entry_type=entry_type))

    # -- checks on every entry -----------------------------------------------------------

    def _check_line(self, raw: bytes, position: int) -> dict[str, Any] | None:
        """Check 1: the line is JSON, an object, and exactly its canonical encoding."""
        try:
            entry = json.loads(raw)
        except ValueError:
            self._fail(position, None, "line is not valid UTF-8 JSON")
            self._prev_hash = None  # the chain cannot be followed through an unreadable line
            return None
        if not isinstance(entry, dict):
            self._fail(position, None, "line is not a JSON object")
            self._prev_hash = None
            return None
        entry_type = type_label(entry)
        try:
            canonical = canonical_json(entry)
        except CanonicalJSONError as exc:
            self._fail(position, entry_type, str(exc))
        else:
            if canonical != raw:
                message = "line is not the canonical JSON encoding of its entry"
                self._fail(position, entry_type, message)
        return entry

    def _check_entry(self, entry: Mapping[str, Any], position: int) -> None:
        entry_type = type_label(entry)
        self._check_shape(entry, position, entry_type)
        self._check_chain_link(entry, position, entry_type)
        if entry_type in RUN_ENTRY_TYPES:
            payload = entry.get("payload")
            if isinstance(payload, dict):
                self._runs.follow(position, entry_type, payload, test=entry.get("test") is True)

    def _check_shape(self, entry: Mapping[str, Any], position: int, entry_type: str | None) -> None:
        """Checks 2 and 3: the fields of section 3.1 with their types; ``index`` in line order."""
        missing = [name for name in ENTRY_FIELDS if name not in entry]
        if missing:
            self._fail(position, entry_type, f"missing field(s): {', '.join(missing)}")
        index = entry.get("index")
        if "index" in entry and (not is_int(index) or index != position):
            self._fail(position, entry_type, f"index field is {index!r}, expected {position}")
        if "timestamp" in entry and not is_rfc3339_utc(entry["timestamp"]):
            self._fail(position, entry_type, "timestamp is not an RFC 3339 UTC date-time")
        if "actor" in entry and not isinstance(entry["actor"], str):
            self._fail(position, entry_type, "actor is not a string")
        if "type" in entry and entry_type is None:
            self._fail(position, None, "type is not a non-empty string")
        if "payload" in entry and not isinstance(entry["payload"], dict):
            self._fail(position, entry_type, "payload is not a JSON object")
        if "test" in entry and not isinstance(entry["test"], bool):
            self._fail(position, entry_type, "test is not true or false")

    def _check_chain_link(
        self, entry: Mapping[str, Any], position: int, entry_type: str | None
    ) -> None:
        """Checks 4 and 5: ``prev_hash`` links to the previous entry; ``entry_hash`` is right."""
        prev_hash = entry.get("prev_hash")
        if "prev_hash" in entry:
            if not is_hex64(prev_hash):
                self._fail(position, entry_type, "prev_hash is not 64 lowercase hex digits")
            elif self._prev_hash is not None and prev_hash != self._prev_hash:
                expected = "the genesis value 0...0" if position == 0 else self._prev_hash
                what = "" if position == 0 else f"entry {position - 1}'s entry_hash "
                message = f"prev_hash {prev_hash} is not {what}{expected}"
                self._fail(position, entry_type, message)
        stored = entry.get("entry_hash")
        if "entry_hash" in entry:
            if not is_hex64(stored):
                self._fail(position, entry_type, "entry_hash is not 64 lowercase hex digits")
            else:
                try:
                    computed = compute_entry_hash(entry)
                except CanonicalJSONError:
                    computed = None  # already reported
                if computed is not None and computed != stored:
                    message = (
                        f"entry_hash {stored} does not match the entry's content "
                        f"(computed {computed}): the entry was altered"
                    )
                    self._fail(position, entry_type, message)
        # Chain on the stored hash, so one altered entry is reported once, not at every successor.
        self._prev_hash = stored if is_hex64(stored) else None

    # -- checkpoints ---------------------------------------------------------------------

    def _check_signatures(
        self, jwks: Mapping[str, Any] | None, checkpoints: Sequence[str]
    ) -> list[tuple[int, dict[str, Any]]]:
        """Check 6, first half: the signed payloads of the checkpoints whose signature holds."""
        verified: list[tuple[int, dict[str, Any]]] = []
        for position, token in enumerate(checkpoints):
            try:
                if jwks is None:
                    raise CheckpointError("no JWKS given to check its signature")
                verified.append((position, verify_checkpoint(token, jwks)))
            except CheckpointError as exc:
                self._problems.append(Problem(str(exc), checkpoint=position))
        return verified

    def _check_checkpoint(self, position: int, payload: Mapping[str, Any]) -> Problem | None:
        """Check 6, second half: the signed root is the root of the first ``tree_size`` lines."""
        size = self._tree.size
        tree_size = payload["tree_size"]
        if tree_size > size:
            message = f"tree_size {tree_size} exceeds the log's {plural(size, 'entry', 'entries')}"
            return Problem(message, checkpoint=position)
        root = self._roots[tree_size]
        if root.hex() != payload["root_hash"]:
            message = (
                f"root_hash {payload['root_hash']} (tree_size {tree_size}) does not match "
                f"the Merkle root of entries 0..{tree_size - 1}, {root.hex()}: an entry "
                f"below index {tree_size} was altered, removed or inserted"
            )
            return Problem(message, checkpoint=position)
        return None


def verify_log(
    lines: Iterable[bytes], jwks: Mapping[str, Any] | None, checkpoints: Sequence[str] = ()
) -> Report:
    """Verify an exported log (JSON Lines, one entry per line) and its checkpoints.

    Checks that every line is the canonical JSON of an entry, the indexes run 0..n-1, the
    ``prev_hash`` chain and every ``entry_hash``; every checkpoint's signature and that its root
    is the Merkle root of the first ``tree_size`` lines; and that every ``run.executed`` follows
    from its ``run.frozen`` and that no URN is allocated twice (once among live runs, once per
    test scheme).
    Streams: ``lines`` may be an open binary file.
    """
    verifier = LogVerifier(jwks, checkpoints)
    for line in lines:
        verifier.add_line(line)
    return verifier.finish()


def verify_log_entries(
    entries: Iterable[Mapping[str, Any]],
    jwks: Mapping[str, Any] | None = None,
    checkpoints: Sequence[str] = (),
) -> Report:
    """Like ``verify_log`` for already-parsed entries (each leaf is the entry's canonical JSON)."""
    verifier = LogVerifier(jwks, checkpoints)
    for entry in entries:
        verifier.add_entry(entry)
    return verifier.finish()
