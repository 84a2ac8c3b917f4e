"""A snapshot's inputs as the records the reports read, and what is missing and why.

Each reader returns None when its input is missing (and says why in `Inputs.missing`), never an
empty list that would read as "none": an unavailable survey round is not a round nobody answered.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from analytics.records import (
    CONTROL,
    INTERVENTION,
    AllocationRecord,
    ComplianceRecord,
    SchoolRecord,
    TeacherPreScores,
    TeacherRecord,
)

#: A teacher's withdrawal covering any of these ends their questionnaire data.
WITHDRAWAL_ENDS_RESPONSES = frozenset({"questionnaires", "data_processing", "all"})


@dataclass
class Missing:
    input: str
    reason: str
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "source": self.source, "reason": self.reason}


@dataclass
class Inputs:
    """The snapshot's inputs, each present (its data) or missing (with the reason)."""

    entries: dict[str, dict[str, Any]]
    missing: list[Missing] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, entry in self.entries.items():
            if entry.get("status") != "present":
                self.missing.append(
                    Missing(name, entry.get("reason") or "not available", entry.get("source"))
                )

    def present(self, name: str) -> bool:
        return self.entries.get(name, {}).get("status") == "present"

    def data(self, name: str) -> Any:
        return self.entries[name]["data"] if self.present(name) else None

    def why_missing(self, *names: str) -> str | None:
        """The reason the first missing of ``names`` is missing, or None if all are present."""
        for name in names:
            if not self.present(name):
                entry = self.entries.get(name, {})
                return f"{name} missing: {entry.get('reason') or 'not available'}"
        return None

    # --- records ---

    def schools(self) -> list[SchoolRecord] | None:
        data = self.data("schools")
        return None if data is None else [SchoolRecord.from_mapping(s) for s in data]

    def allocations(self) -> list[AllocationRecord] | None:
        data = self.data("allocations")
        return None if data is None else [AllocationRecord.from_mapping(a) for a in data]

    def compliance(
        self, rule_version: int | None
    ) -> tuple[list[ComplianceRecord] | None, str | None]:
        """The intervention schools' verdicts under the plan's rule; (None, why) if unknown."""
        if rule_version is None:
            return None, "the plan names no compliance rule"
        data = self.data("dosage")
        if data is None:
            return None, self.why_missing("dosage")
        versions = sorted({str(d.get("rule_version")) for d in data if d.get("rule_version")})
        chosen = [d for d in data if str(d.get("rule_version")) == str(rule_version)]
        if data and not chosen:
            return None, (
                f"dosage is given under compliance rule {', '.join(versions) or 'unnamed'}, "
                f"but the plan froze rule {rule_version}"
            )
        records: dict[int, ComplianceRecord] = {}
        for d in chosen:
            urn = int(d["urn"])
            if urn in records:
                return None, f"dosage lists URN {urn} twice under rule {rule_version}"
            if not isinstance(d.get("complier"), bool):
                return None, f"dosage for URN {urn} has no complier flag"
            sessions = d.get("sessions_attended")
            records[urn] = ComplianceRecord(
                urn=urn,
                complier=d["complier"],
                sessions_attended=sessions if isinstance(sessions, int) else None,
                reason=None
                if d["complier"]
                else (
                    f"attended {d.get('workshops_attended')} workshop(s)"
                    if d.get("workshops_attended") is not None
                    else None
                ),
            )
        return list(records.values()), None

    def teachers(self) -> tuple[list[TeacherRecord] | None, str | None]:
        """Consented staff per school with the rounds they answered (see `teacher_records`)."""
        why = self.why_missing("staff", "responses_pre", "responses_post")
        if why is not None:
            return None, why
        records, warnings = teacher_records(
            self.data("staff"), self.data("responses_pre"), self.data("responses_post")
        )
        self.warnings.extend(warnings)
        return records, None

    def pre_scores(self) -> list[TeacherPreScores] | None:
        data = self.data("responses_pre")
        if data is None:
            return None
        return [
            TeacherPreScores(
                urn=int(r["urn"]),
                knowledge=r.get("knowledge"),
                attitudes=r.get("attitudes"),
                use=r.get("use"),
            )
            for r in data
            if r.get("urn") is not None
        ]


def _consented(member: dict[str, Any]) -> bool:
    covers = set(member.get("withdrawal_covers") or ())
    if member.get("withdrawn_on") and covers & WITHDRAWAL_ENDS_RESPONSES:
        return False
    return bool(member.get("data_collection_consent"))


def teacher_records(
    staff: dict[str, list[dict[str, Any]]],
    pre: list[dict[str, Any]],
    post: list[dict[str, Any]],
) -> tuple[list[TeacherRecord], list[str]]:
    """One record per teacher: the pseudonymous respondents of either round, plus the school's
    consented staff who answered neither (recruitment's count less the respondents).

    Responses are pseudonymised, so they cannot be matched to a staff record: a school's
    respondents are its distinct pseudonyms; more respondents than consented staff is a warning
    (every respondent is still counted). A response without a pseudonym is its own teacher.
    """
    warnings: list[str] = []
    rounds: dict[int, dict[str, set[str]]] = defaultdict(lambda: {"pre": set(), "post": set()})
    unlinked = 0
    for name, responses in (("pre", pre), ("post", post)):
        for position, response in enumerate(responses):
            urn = response.get("urn")
            if urn is None:
                unlinked += 1
                continue
            key = response.get("teacher") or f"(no pseudonym: {name} row {position + 1})"
            rounds[int(urn)][name].add(key)
    if unlinked:
        warnings.append(f"Questionnaire responses linked to no school (not counted): {unlinked}.")
    records: list[TeacherRecord] = []
    more_than_staff: list[int] = []
    urns = sorted({int(u) for u in staff} | set(rounds))
    for urn in urns:
        consented = sum(_consented(m) for m in staff.get(str(urn), []))
        answered = rounds[urn]["pre"] | rounds[urn]["post"] if urn in rounds else set()
        for key in sorted(answered):
            records.append(
                TeacherRecord(
                    urn=urn,
                    consented=True,
                    responded_pre=key in rounds[urn]["pre"],
                    responded_post=key in rounds[urn]["post"],
                )
            )
        if len(answered) > consented:
            more_than_staff.append(urn)
        records.extend(TeacherRecord(urn=urn) for _ in range(max(consented - len(answered), 0)))
    if more_than_staff:
        warnings.append(
            "More questionnaire respondents than consented staff (respondents counted): URN "
            + ", ".join(str(u) for u in more_than_staff)
            + "."
        )
    return records, warnings


def arms_of(allocations: list[AllocationRecord]) -> dict[int, str]:
    """The arm of every valid allocation (in error ones left out)."""
    return {a.urn: a.arm for a in allocations if not a.in_error}


def intervention_urns(allocations: list[AllocationRecord]) -> list[int]:
    return sorted(urn for urn, arm in arms_of(allocations).items() if arm == INTERVENTION)


def stratum_of(
    allocations: list[AllocationRecord], schools: dict[int, SchoolRecord]
) -> dict[int, str | None]:
    """The LA each allocated school was randomised within (the stratum), else recruitment's."""
    out: dict[int, str | None] = {}
    for a in allocations:
        school = schools.get(a.urn)
        out[a.urn] = a.la_code or (school.la_code if school is not None else None)
    return out


__all__ = [
    "CONTROL",
    "INTERVENTION",
    "Inputs",
    "Missing",
    "arms_of",
    "intervention_urns",
    "stratum_of",
    "teacher_records",
]
