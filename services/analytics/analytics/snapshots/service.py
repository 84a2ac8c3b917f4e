"""Snapshots: every input of an analysis pulled over HTTP, stored once with its SHA-256.

An input the other service cannot give (down, not deployed yet, refusing, answering something
else than its contract) is recorded as missing with the reason, never guessed and never left
out silently; the analysis then reports which of its parts that input took away.

The stored document is the canonical JSON (sorted keys, no spaces) of the inputs, the frozen plan
and the outcome import it runs on, gzip-compressed without a timestamp; its SHA-256 is that of
the stored bytes, so anyone can download the snapshot and check it.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlmodel import Session

from analytics.auditing import audit
from analytics.errors import SnapshotNotFound
from analytics.models import AnalysisPlan, OutcomeImport, Snapshot
from analytics.schemas import SnapshotPublic
from analytics.snapshots import sources
from analytics.upstreams import Upstreams
from rlc_clients.surveys import Round
from rlc_shared.audit import utcnow
from rlc_shared.errors import UpstreamError
from rlc_shared.storage import ObjectStorage

log = logging.getLogger("analytics.snapshots")

FORMAT = "rlc-analytics-snapshot/1"
ROUNDS: tuple[Round, Round] = ("pre", "post")
Progress = Callable[[str, int], None]

#: Failures that mean "this input is not available", whatever the other service did.
UNAVAILABLE = (UpstreamError, httpx.HTTPError, ValueError, KeyError, TypeError)


@dataclass
class Pulled:
    source: str
    data: Any = None
    reason: str | None = None

    @property
    def present(self) -> bool:
        return self.reason is None

    def entry(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "status": "present" if self.present else "missing",
            "reason": self.reason,
            "count": _count(self.data) if self.present else None,
            "data": self.data if self.present else None,
        }


def _count(data: Any) -> int | None:
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        return sum(len(v) if isinstance(v, list) else 1 for v in data.values())
    return None


def _reason(exc: BaseException, source: str) -> str:
    if isinstance(exc, UpstreamError):
        return exc.detail
    return f"{source} answered with something other than its documented shape ({exc})."


def pull(source: str, read: Callable[[], Any]) -> Pulled:
    try:
        return Pulled(source=source, data=read())
    except UNAVAILABLE as exc:
        log.warning("snapshot input missing: %s", source)
        return Pulled(source=source, reason=_reason(exc, source))


def _randomised_urns(schools: Pulled, allocations: Pulled) -> list[int]:
    urns = {int(a["urn"]) for a in allocations.data or []} if allocations.present else set()
    for school in schools.data or []:
        if school.get("status") == "randomised" or school.get("withdrawn_from_status") == (
            "randomised"
        ):
            urns.add(int(school["urn"]))
    return sorted(urns)


def pull_inputs(
    upstreams: Upstreams, *, progress: Progress, rule_version: int | None
) -> dict[str, dict[str, Any]]:
    """Every input, in the order the analysis needs them; missing ones with their reason.
    ``rule_version``: the plan's compliance rule, under which dosage is asked for."""
    progress("snapshot: schools from recruitment", 5)
    schools = pull(
        "recruitment GET /schools?in_trial=true", lambda: sources.trial_schools(upstreams)
    )
    progress("snapshot: allocations from randomisation", 10)
    allocations = pull("randomisation GET /allocations", lambda: sources.allocations(upstreams))
    progress("snapshot: staff from recruitment", 15)
    if schools.present:
        urns = _randomised_urns(schools, allocations)
        staff = pull("recruitment GET /schools/{urn}/staff", lambda: sources.staff(upstreams, urns))
    else:
        staff = Pulled(
            source="recruitment GET /schools/{urn}/staff",
            reason="not read: the schools themselves are missing",
        )
    inputs: dict[str, Pulled] = {"schools": schools, "allocations": allocations, "staff": staff}
    rounds: tuple[Round, ...] = ROUNDS
    for round_ in rounds:
        progress(f"snapshot: {round_} questionnaire from surveys", 20 if round_ == "pre" else 25)
        inputs[f"responses_{round_}"] = pull(
            f"surveys GET /rounds/{round_}/responses.csv",
            functools.partial(sources.responses, upstreams, round_),
        )
        inputs[f"response_rates_{round_}"] = pull(
            f"surveys GET /rounds/{round_}/response-rates?by=arm",
            functools.partial(sources.response_rates, upstreams, round_, "arm"),
        )
        inputs[f"scales_{round_}"] = pull(
            f"surveys GET /rounds/{round_}/scales",
            functools.partial(sources.scales, upstreams, round_),
        )
    progress("snapshot: dosage and costs from workshops", 30)
    inputs["dosage"] = pull(
        "workshops GET /dosage"
        + (f"?rule_version={rule_version}" if rule_version is not None else ""),
        lambda: sources.dosage(upstreams, rule_version),
    )
    inputs["costs"] = pull("workshops GET /costs", lambda: sources.costs(upstreams))
    return {name: pulled.entry() for name, pulled in inputs.items()}


def plan_label(plan: AnalysisPlan) -> dict[str, Any]:
    return {
        "version": plan.version,
        "fingerprint": plan.fingerprint,
        "frozen_at": plan.frozen_at.isoformat() if plan.frozen_at else None,
        "content": plan.content,
    }


def import_label(row: OutcomeImport | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": row.id,
        "file_name": row.file_name,
        "sha256": row.sha256,
        "normalised_key": row.normalised_key,
        "normalised_sha256": row.normalised_sha256,
        "rows": row.rows,
        "usable_rows": row.usable_rows,
        "imported_at": row.imported_at.isoformat(),
        # What the import's checks found, counted (its examples, with pupil ids, stay in the
        # import's record, which only the evaluator reads).
        "problems": [
            {"kind": p["kind"], "count": p["count"], "effect": p["effect"]}
            for p in row.problems.get("items", [])
        ],
    }


def document(
    *,
    snapshot_id: str,
    plan: AnalysisPlan,
    outcome_import: OutcomeImport | None,
    inputs: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "id": snapshot_id,
        "taken_at": utcnow().isoformat(),
        "plan": plan_label(plan),
        "outcome_import": import_label(outcome_import),
        "inputs": inputs,
    }


def encode(doc: dict[str, Any]) -> bytes:
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode(), mtime=0)


def decode(raw: bytes) -> dict[str, Any]:
    return json.loads(gzip.decompress(raw))


def store(storage: ObjectStorage, doc: dict[str, Any]) -> tuple[str, str, int]:
    """Store the document; (key, SHA-256 of the stored bytes, size)."""
    stored = storage.put(
        f"snapshots/{doc['id']}.json.gz", io.BytesIO(encode(doc)), content_type="application/gzip"
    )
    return stored.key, stored.sha256, stored.size


def record(
    session: Session,
    *,
    doc: dict[str, Any],
    key: str,
    sha256: str,
    size: int,
    actor: str,
) -> Snapshot:
    summary = {
        name: {k: v for k, v in entry.items() if k != "data"}
        for name, entry in doc["inputs"].items()
    }
    outcome = doc["outcome_import"]
    snapshot = Snapshot(
        id=doc["id"],
        storage_key=key,
        sha256=sha256,
        size_bytes=size,
        plan_version=doc["plan"]["version"],
        outcome_import_id=outcome["id"] if outcome else None,
        inputs=summary,
    )
    session.add(snapshot)
    session.flush()  # before a row naming it: the tables have no ORM relationship to order them
    audit(
        session,
        actor=actor,
        action="snapshot.taken",
        entity_type="snapshot",
        entity_id=snapshot.id,
        new={
            "sha256": sha256,
            "plan_version": snapshot.plan_version,
            "outcome_import_id": snapshot.outcome_import_id,
            "missing": sorted(n for n, e in summary.items() if e["status"] == "missing"),
        },
    )
    return snapshot


def load(storage: ObjectStorage, snapshot: Snapshot) -> dict[str, Any]:
    with storage.open(snapshot.storage_key) as body:
        return decode(body.read())


def get_snapshot(session: Session, *, snapshot_id: str) -> Snapshot:
    snapshot = session.get(Snapshot, snapshot_id)
    if snapshot is None:
        raise SnapshotNotFound(f"There is no snapshot {snapshot_id}.")
    return snapshot


def public(snapshot: Snapshot) -> SnapshotPublic:
    return SnapshotPublic.model_validate(
        {**snapshot.model_dump(), "content_url": f"/snapshots/{snapshot.id}/content"}
    )
