"""The append-only, hash-chained log and its Merkle tree.

Entries are built, hashed and verified by ``randomisation.verifier`` (the auditors' code); this
module only stores the exact bytes, serialises appends and serves proofs and checkpoints.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, func, select

from randomisation import verifier
from randomisation.errors import LogRangeError
from randomisation.models import Allocation, LogEntry
from randomisation.signing import Signer
from rlc_shared.audit import utcnow
from rlc_shared.db import Transactions
from rlc_shared.errors import Unprocessable
from rlc_shared.pagination import Page, PageParams, paginate
from rlc_shared.versions import VersionedCache

# Any fixed 64-bit number: every appending transaction holds this advisory lock (PostgreSQL).
LOG_LOCK_KEY = 0x524C_435F_4C4F_4721
BATCH = 2000


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lock_log(session: Session) -> None:
    """Serialise appenders until this transaction ends, so the chain never forks.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: every transaction already began with
    ``BEGIN IMMEDIATE`` (see ``rlc_shared.db.make_engine``), so this transaction is the only writer.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOG_LOCK_KEY})


def append(
    session: Session,
    *,
    entry_type: str,
    payload: Mapping[str, Any],
    actor: str,
    test: bool = False,
    run_id: str | None = None,
) -> LogEntry:
    """Append one entry (in the caller's transaction) and return its row."""
    lock_log(session)
    last = session.exec(
        select(LogEntry).order_by(col(LogEntry.entry_index).desc()).limit(1)
    ).first()
    index = 0 if last is None else last.entry_index + 1
    now = utcnow()
    try:
        entry = verifier.make_entry(
            index=index,
            prev_hash=verifier.GENESIS_PREV_HASH if last is None else last.entry_hash,
            timestamp=rfc3339(now),
            actor=actor,
            entry_type=entry_type,
            payload=payload,
            test=test,
        )
        raw = verifier.entry_line(entry)
    except verifier.CanonicalJSONError as exc:
        raise Unprocessable(f"The request holds text that cannot be logged: {exc}") from exc
    row = LogEntry(
        entry_index=index,
        entry_type=entry_type,
        run_id=run_id,
        test=test,
        logged_at=now,
        actor=actor,
        entry_hash=entry["entry_hash"],
        leaf_hash=verifier.leaf_hash(raw).hex(),
        canonical=raw.decode("utf-8"),
    )
    session.add(row)
    session.flush()
    return row


def parsed(row: LogEntry) -> dict[str, Any]:
    return json.loads(row.canonical)


#: Pages of the log as read, once per version of the log (an entry is only ever added).
PAGES = VersionedCache("log", size=64)


def list_entries(
    session: Session,
    *,
    page: PageParams,
    entry_type: str | None = None,
    run_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    test: bool | None = None,
) -> Page[dict[str, Any]]:
    """Log entries in index order, filtered by type, run, time or test mode."""
    filters = (entry_type, run_id, since, until, test)
    return PAGES.get_or_compute(
        session, (filters, page.limit, repr(page.after)), lambda: _entries(session, page, *filters)
    )


def _entries(
    session: Session,
    page: PageParams,
    entry_type: str | None,
    run_id: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    test: bool | None,
) -> Page[dict[str, Any]]:
    stmt = select(LogEntry)
    if entry_type:
        stmt = stmt.where(LogEntry.entry_type == entry_type)
    if run_id:
        stmt = stmt.where(LogEntry.run_id == run_id)
    if since:
        stmt = stmt.where(LogEntry.logged_at >= since)
    if until:
        stmt = stmt.where(LogEntry.logged_at < until)
    if test is not None:
        stmt = stmt.where(LogEntry.test == test)
    rows, count, cursor = paginate(session, stmt, key=col(LogEntry.entry_index), params=page)
    return Page(data=[parsed(r) for r in rows], count=count, next_cursor=cursor)


def export_size(transactions: Transactions, *, tree_size: int | None) -> int:
    with transactions() as session:
        size = tree_size_of(session)
    return size if tree_size is None else min(size, tree_size)


def export_lines(transactions: Transactions, *, size: int) -> Iterator[bytes]:
    """The first ``size`` entries as JSON Lines, the exact canonical bytes, in index order.

    A short transaction per batch: a long download must not hold one open.
    """
    after = -1
    while True:
        with transactions() as session:
            rows = session.exec(
                select(LogEntry.entry_index, LogEntry.canonical)
                .where(LogEntry.entry_index > after, LogEntry.entry_index < size)
                .order_by(col(LogEntry.entry_index))
                .limit(BATCH)
            ).all()
        if not rows:
            return
        yield b"".join(canonical.encode("utf-8") + b"\n" for _, canonical in rows)
        after = rows[-1][0]


def tree_size_of(session: Session) -> int:
    last = session.exec(select(func.max(LogEntry.entry_index))).one()
    return 0 if last is None else int(last) + 1


def leaf_hashes(session: Session, *, size: int | None = None) -> list[bytes]:
    stmt = select(LogEntry.leaf_hash).order_by(col(LogEntry.entry_index))
    if size is not None:
        stmt = stmt.where(LogEntry.entry_index < size)
    return [bytes.fromhex(h) for h in session.exec(stmt).all()]


def iter_rows(session: Session, *, size: int | None = None) -> Iterator[LogEntry]:
    """Every entry in index order, read in batches (keyset on the index)."""
    after = -1
    while True:
        stmt = select(LogEntry).where(LogEntry.entry_index > after)
        if size is not None:
            stmt = stmt.where(LogEntry.entry_index < size)
        rows = session.exec(stmt.order_by(col(LogEntry.entry_index)).limit(BATCH)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].entry_index
        session.expunge_all()


def _checked_size(requested: int | None, current: int) -> int:
    if requested is None:
        return current
    if not 0 <= requested <= current:
        raise LogRangeError(f"tree_size must be between 0 and the log's size, {current}.")
    return requested


def checkpoint(session: Session, *, signer: Signer, size: int | None = None) -> dict[str, Any]:
    """A freshly signed checkpoint of the first ``size`` entries (default: all)."""
    leaves = leaf_hashes(session)
    size = _checked_size(size, len(leaves))
    root = verifier.merkle_root(leaves[:size])
    payload = verifier.checkpoint_payload(size, root, rfc3339(utcnow()))
    return {
        "checkpoint": signer.sign(payload),
        "tree_size": size,
        "root_hash": root.hex(),
        "timestamp": payload["timestamp"],
        "kid": signer.kid,
    }


def inclusion(session: Session, *, index: int, size: int | None) -> dict[str, Any]:
    leaves = leaf_hashes(session)
    size = _checked_size(size, len(leaves))
    if not 0 <= index < size:
        raise LogRangeError(f"index must be between 0 and tree_size - 1 ({size - 1}).")
    proof = verifier.inclusion_proof(leaves, index, size)
    return {
        "index": index,
        "tree_size": size,
        "leaf_hash": leaves[index].hex(),
        "root_hash": verifier.merkle_root(leaves[:size]).hex(),
        "proof": [node.hex() for node in proof],
    }


def consistency(session: Session, *, first: int, second: int | None) -> dict[str, Any]:
    leaves = leaf_hashes(session)
    second = _checked_size(second, len(leaves))
    if not 0 <= first <= second:
        raise LogRangeError(f"first must be between 0 and second ({second}).")
    roots = verifier.roots_at_sizes(leaves, {first, second})
    return {
        "first": first,
        "second": second,
        "first_root": roots[first].hex(),
        "second_root": roots[second].hex(),
        "proof": [node.hex() for node in verifier.consistency_proof(leaves, first, second)],
    }


def verify(session: Session, *, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Re-check the stored log with the auditors' verifier, and the tables against the log."""
    extra: list[dict[str, Any]] = []

    def problem(index: int | None, entry_type: str | None, message: str) -> None:
        extra.append({"index": index, "type": entry_type, "checkpoint": None, "message": message})

    # Keyed by (namespace, urn): "live", or "test:<scheme_id>" with the scheme named by the test
    # run's run.frozen entry, as the verifier's double-allocation check keys them.
    # (namespace, urn) -> (run_id, arm, index of the run.executed entry)
    logged: dict[tuple[str, Any], tuple[Any, Any, int]] = {}
    flagged: set[tuple[str, Any]] = set()
    test_schemes: dict[Any, Any] = {}  # run_id of a test run -> its scheme_id (from run.frozen)

    def namespace_of(entry: Mapping[str, Any], run_id: Any) -> str:
        if entry.get("test") is not True:
            return verifier.LIVE_NAMESPACE
        scheme_id = test_schemes.get(run_id) if isinstance(run_id, str | int) else None
        return verifier.allocation_namespace(True, scheme_id)

    def lines() -> Iterator[bytes]:
        for position, row in enumerate(iter_rows(session)):
            raw = row.canonical.encode("utf-8")
            if row.entry_index != position:
                problem(position, row.entry_type, f"stored index {row.entry_index} is out of place")
            if verifier.leaf_hash(raw).hex() != row.leaf_hash:
                problem(
                    row.entry_index, row.entry_type, "stored leaf_hash does not match the entry"
                )
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = None
            if isinstance(entry, dict):
                if entry.get("entry_hash") != row.entry_hash:
                    problem(
                        row.entry_index,
                        row.entry_type,
                        "stored entry_hash column differs from the entry's entry_hash",
                    )
                payload = entry.get("payload")
                if not isinstance(payload, dict):
                    payload = None
                run_id = payload.get("run_id") if payload is not None else None
                if (
                    entry.get("type") == "run.frozen"
                    and entry.get("test") is True
                    and payload is not None
                    and isinstance(run_id, str | int)
                ):
                    test_schemes.setdefault(run_id, payload.get("scheme_id"))
                if entry.get("type") == "allocation.marked_in_error" and payload is not None:
                    flagged.add((namespace_of(entry, run_id), payload.get("urn")))
                if entry.get("type") == "run.executed" and payload is not None:
                    for item in payload.get("allocations") or []:
                        if isinstance(item, dict):
                            key = (namespace_of(entry, run_id), item.get("urn"))
                            logged[key] = (run_id, item.get("arm"), position)
            yield raw

    report = verifier.verify_log(lines(), jwks).to_dict()

    # The allocation table must say exactly what the log says.
    for row in session.exec(select(Allocation).order_by(col(Allocation.id))).all():
        key = (row.namespace, row.urn)
        found = logged.pop(key, None)
        if row.test != (row.namespace != verifier.LIVE_NAMESPACE):
            problem(
                None,
                None,
                f"allocation of URN {row.urn} (run {row.run_id}) has test={row.test} "
                f"but namespace {row.namespace!r}",
            )
        if row.in_error != (key in flagged):
            problem(
                None,
                None,
                f"allocation of URN {row.urn} is {'' if row.in_error else 'not '}marked in error, "
                f"but the log {'has no' if row.in_error else 'has an'} allocation.marked_in_error "
                "entry for it",
            )
        if found is None:
            problem(None, None, f"allocation of URN {row.urn} (run {row.run_id}) is not in the log")
        elif found[:2] != (row.run_id, row.arm):
            problem(
                found[2],
                "run.executed",
                f"allocation of URN {row.urn} says {row.arm!r} in run {row.run_id}; the log says "
                f"{found[1]!r} in run {found[0]}",
            )
    for (namespace, urn), (run_id, _arm, index) in sorted(logged.items(), key=repr):
        problem(
            index,
            "run.executed",
            f"URN {urn} (run {run_id}, namespace {namespace}) is logged but has no allocation",
        )

    report["problems"].extend(extra)
    report["ok"] = not report["problems"]
    return report
