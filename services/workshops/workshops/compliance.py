"""Which intervention schools complied with the programme: the evaluator's rule, and its verdicts.

The protocol's wording is "the school's Designated Teacher or a Subject Lead attended at least 4
of the 6 workshops". :class:`ComplianceRule` makes every choice in that sentence explicit; the
evaluator sets it, the service freezes it (its :meth:`~ComplianceRule.fingerprint` is recorded)
and :func:`evaluate` applies it to the attendance records, one verdict per school, each with a
reason a person can read. Pure functions over plain values: no database.

Defaults read the sentence literally: ONE qualifying person (the Designated Teacher, the English
or the maths Subject Lead) must have attended at least 4 of the 6 workshops themselves
(``counted_per="person"``). ``counted_per="school"`` is the looser reading, in which a workshop
counts when any qualifying person from the school attended it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workshops.attendance_rules import AttendanceStatus, AttendanceThreshold
from workshops.programme_defaults import SESSION_KEYS, WORKSHOP_KEYS

__all__ = [
    "DEFAULT_QUALIFYING_ROLES",
    "AttendanceRecord",
    "ComplianceRule",
    "SchoolCompliance",
    "StandIn",
    "evaluate",
]

DEFAULT_QUALIFYING_ROLES: tuple[str, ...] = (
    "designated_teacher",
    "english_subject_lead",
    "maths_subject_lead",
)
_SESSION_ORDER = {key: index for index, key in enumerate(SESSION_KEYS)}
_WORKSHOPS = frozenset(WORKSHOP_KEYS)
_ROLE_WORDS = {
    "designated_teacher": "designated teacher",
    "english_subject_lead": "English subject lead",
    "maths_subject_lead": "maths subject lead",
    "head_teacher": "head teacher",
    "year5_teacher": "Year 5 teacher",
    "year6_teacher": "Year 6 teacher",
}


def _role_words(role: str) -> str:
    return _ROLE_WORDS.get(role, role.replace("_", " "))


def _article(words: str) -> str:
    return "an" if words[:1].casefold() in set("aeiou") else "a"


class ComplianceRule(BaseModel):
    """The compliance rule, as the evaluator sets it before it is frozen.

    - ``qualifying_roles``: whose attendance counts (default the Designated Teacher and the two
      Subject Leads).
    - ``counted_sessions``: which sessions count, by programme key (default the six workshops).
    - ``minimum``: how many of them (default 4).
    - ``counted_per``: ``"person"`` (default) if one qualifying person must reach the minimum,
      ``"school"`` if a session counts when any qualifying person attended it.
    - ``stand_ins_count``: whether attending on someone's behalf counts as that person's
      attendance, in their role (default yes). If not, it counts as the attendee's own.
    - ``counted_statuses``: which attendance statuses count (default ``present`` only).
    - ``attendance_threshold``: the threshold the attendance records' statuses were classified
      by. :func:`evaluate` reads the statuses, not the minutes; the threshold is part of the rule
      so that freezing the rule freezes what "present" means.

    Lists are stored sorted (sessions in programme order) without repeats, so two rules that say
    the same thing have the same canonical JSON and fingerprint.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    qualifying_roles: tuple[str, ...] = Field(DEFAULT_QUALIFYING_ROLES, min_length=1)
    counted_sessions: tuple[str, ...] = Field(WORKSHOP_KEYS, min_length=1)
    minimum: int = Field(4, ge=1)
    counted_per: Literal["person", "school"] = "person"
    stand_ins_count: bool = True
    counted_statuses: tuple[Literal["present", "partial"], ...] = ("present",)
    attendance_threshold: AttendanceThreshold = AttendanceThreshold()

    @field_validator("qualifying_roles")
    @classmethod
    def _roles(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(sorted({role.strip() for role in roles}))
        if "" in cleaned:
            raise ValueError("a qualifying role is empty")
        return cleaned

    @field_validator("counted_sessions")
    @classmethod
    def _sessions(cls, sessions: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(sessions) - set(SESSION_KEYS))
        if unknown:
            raise ValueError(
                f"unknown sessions {', '.join(unknown)}; the programme's are {', '.join(SESSION_KEYS)}"
            )
        return tuple(sorted(set(sessions), key=_SESSION_ORDER.__getitem__))

    @field_validator("counted_statuses")
    @classmethod
    def _statuses(
        cls, statuses: tuple[Literal["present", "partial"], ...]
    ) -> tuple[Literal["present", "partial"], ...]:
        if "present" not in statuses:
            raise ValueError("'present' always counts; add 'partial' to count partial attendance")
        return ("present", "partial") if "partial" in statuses else ("present",)

    @model_validator(mode="after")
    def _reachable(self) -> ComplianceRule:
        if self.minimum > len(self.counted_sessions):
            raise ValueError(
                f"the minimum ({self.minimum}) is more than the {len(self.counted_sessions)} "
                "counted sessions"
            )
        return self

    def canonical_json(self) -> str:
        """The rule as canonical JSON: sorted keys, no whitespace, UTF-8 characters as is."""
        return json.dumps(
            self.model_dump(mode="json"),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )

    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the canonical JSON: what the service records when it freezes."""
        return "sha256:" + hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StandIn:
    """The staff member someone attended on behalf of, and that person's role."""

    staff_id: int
    role: str


@dataclass(frozen=True, slots=True)
class AttendanceRecord:
    """One staff member at one session, as the service recorded it.

    ``session`` is the programme key (``workshop_3``), whichever cohort's sitting it was;
    ``status`` as :func:`~workshops.attendance_rules.classify` gave it, or as entered by hand.
    """

    urn: int
    staff_id: int
    role: str
    session: str
    status: AttendanceStatus
    minutes: float = 0.0
    stands_in_for: StandIn | None = None


@dataclass(frozen=True, slots=True)
class SchoolCompliance:
    """One school's verdict and the counts behind it.

    - ``workshops_attended``: of the six workshops, how many at least one of the school's staff
      (any role) attended with a counted status; ``sessions_attended`` the same over all eight.
    - ``minutes``: the staff's attended minutes summed over every record (two people at one
      session count twice); ``minutes_by_session`` the same per session.
    - ``sessions_by_role``: per role (after stand-ins), how many counted sessions someone in
      that role attended; non-qualifying roles are listed too, so a Year 5 teacher's attendance
      is visible even though it does not count.
    - ``best_person_sessions``: the most counted sessions one qualifying person attended (the
      per-person count); ``school_sessions``: counted sessions any qualifying person attended
      (the per-school count). Both are given whichever the rule uses.
    - ``stand_in_sessions``: counted sessions credited to a qualifying person only through a
      stand-in (they did not attend themselves); always 0 when stand-ins do not count.
    """

    urn: int
    complier: bool
    reason: str
    workshops_attended: int
    sessions_attended: int
    minutes: float
    minutes_by_session: dict[str, float]
    sessions_by_role: dict[str, int]
    best_person_sessions: int
    best_person_role: str | None
    school_sessions: int
    stand_in_sessions: int


@dataclass
class _Tally:
    minutes: float = 0.0
    minutes_by_session: dict[str, float] = field(default_factory=dict)
    attended: set[str] = field(default_factory=set)  # any staff, counted status, any session
    by_role: dict[str, set[str]] = field(default_factory=dict)
    by_person: dict[int, set[str]] = field(default_factory=dict)
    person_role: dict[int, str] = field(default_factory=dict)
    by_stand_in: dict[int, set[str]] = field(default_factory=dict)  # credited through others
    in_person: dict[int, set[str]] = field(default_factory=dict)  # attended themselves
    qualifying: set[str] = field(default_factory=set)

    def stand_in_only(self, person: int) -> set[str]:
        """Sessions credited to ``person`` only through a stand-in (they were not there)."""
        return self.by_stand_in.get(person, set()) - self.in_person.get(person, set())


def _tally(rule: ComplianceRule, records: Iterable[AttendanceRecord]) -> dict[int, _Tally]:
    counted_statuses = frozenset(rule.counted_statuses)
    counted_sessions = frozenset(rule.counted_sessions)
    qualifying_roles = frozenset(rule.qualifying_roles)
    known_sessions = _SESSION_ORDER.keys()
    tallies: dict[int, _Tally] = {}
    for number, record in enumerate(records, start=1):
        session = record.session
        if session not in known_sessions:
            raise ValueError(f"attendance record {number} is for an unknown session {session!r}")
        tally = tallies.get(record.urn)
        if tally is None:
            tally = tallies[record.urn] = _Tally()
        tally.minutes += record.minutes
        tally.minutes_by_session[session] = (
            tally.minutes_by_session.get(session, 0.0) + record.minutes
        )
        if record.status not in counted_statuses:
            continue
        tally.attended.add(session)
        if session not in counted_sessions:
            continue
        stand_in = record.stands_in_for if rule.stand_ins_count else None
        person, role = (
            (stand_in.staff_id, stand_in.role) if stand_in else (record.staff_id, record.role)
        )
        tally.by_role.setdefault(role, set()).add(session)
        if role in qualifying_roles:
            tally.by_person.setdefault(person, set()).add(session)
            tally.person_role[person] = role
            tally.qualifying.add(session)
            credited = tally.by_stand_in if stand_in is not None else tally.in_person
            credited.setdefault(person, set()).add(session)
    return tallies


def _verdict(rule: ComplianceRule, urn: int, tally: _Tally) -> SchoolCompliance:
    best_person, best = None, 0
    for person, sessions in tally.by_person.items():
        # Most sessions wins; on a tie, the lower staff id, so the verdict is reproducible.
        if len(sessions) > best or (
            len(sessions) == best and best_person is not None and person < best_person
        ):
            best_person, best = person, len(sessions)
    best_role = tally.person_role.get(best_person) if best_person is not None else None
    school = len(tally.qualifying)
    count = best if rule.counted_per == "person" else school
    complier = count >= rule.minimum
    return SchoolCompliance(
        urn=urn,
        complier=complier,
        reason=_reason(
            rule, tally, complier=complier, best=best, best_role=best_role, best_person=best_person
        ),
        workshops_attended=len(tally.attended & _WORKSHOPS),
        sessions_attended=len(tally.attended),
        minutes=tally.minutes,
        minutes_by_session=dict(
            sorted(tally.minutes_by_session.items(), key=lambda kv: _SESSION_ORDER[kv[0]])
        ),
        sessions_by_role={role: len(sessions) for role, sessions in sorted(tally.by_role.items())},
        best_person_sessions=best,
        best_person_role=best_role,
        school_sessions=school,
        stand_in_sessions=sum(len(tally.stand_in_only(person)) for person in tally.by_stand_in),
    )


def _reason(
    rule: ComplianceRule,
    tally: _Tally,
    *,
    complier: bool,
    best: int,
    best_role: str | None,
    best_person: int | None,
) -> str:
    """One sentence or two, in the evaluator's words; staff ids and names are never in it."""
    noun = "workshops" if set(rule.counted_sessions) <= _WORKSHOPS else "counted sessions"
    out_of = f"of the {len(rule.counted_sessions)} {noun}"
    partial = " (partial attendance counts)" if "partial" in rule.counted_statuses else ""
    needs = f"the rule needs {rule.minimum}"
    school = len(tally.qualifying)
    if not tally.qualifying:
        roles = ", ".join(_role_words(role) for role in rule.qualifying_roles)
        others = ", ".join(
            f"{_role_words(role)}: {len(sessions)}"
            for role, sessions in sorted(tally.by_role.items())
        )
        tail = f" Roles the rule does not count attended some ({others})." if others else ""
        return (
            f"Not a complier: no qualifying staff ({roles}) attended any {out_of}{partial}.{tail}"
        )
    if rule.counted_per == "school":
        stand_ins = sum(len(tally.stand_in_only(person)) for person in tally.by_stand_in)
        via = f", {stand_ins} of them only through stand-ins" if stand_ins else ""
        verdict = "Complier" if complier else "Not a complier"
        return (
            f"{verdict}: qualifying staff attended {school} {out_of} between them{partial}{via}; "
            f"{needs}, counted per school."
        )
    role = _role_words(best_role or "")
    stand_ins = len(tally.stand_in_only(best_person)) if best_person is not None else 0
    via = f", {stand_ins} of them through a stand-in" if stand_ins else ""
    if complier:
        return (
            f"Complier: one {role} attended {best} {out_of}{partial}{via}; {needs} by one person."
        )
    together = (
        f" Qualifying staff attended {school} between them, which would count only per school."
        if school >= rule.minimum
        else ""
    )
    return (
        f"Not a complier: the most {noun} one qualifying person attended is {best} "
        f"({_article(role)} {role}{via}){partial}; {needs} by one person.{together}"
    )


def evaluate(
    rule: ComplianceRule,
    attendance_records: Iterable[AttendanceRecord],
    *,
    schools: Iterable[int] = (),
) -> dict[int, SchoolCompliance]:
    """Every school's verdict under ``rule``, keyed by URN.

    ``schools`` adds schools that may have no records at all (an intervention school that never
    attended is a non-complier, not a missing row). Raises ``ValueError`` for a record whose
    session is not one of the programme's.
    """
    tallies = _tally(rule, attendance_records)
    for urn in schools:
        tallies.setdefault(urn, _Tally())
    return {urn: _verdict(rule, urn, tallies[urn]) for urn in sorted(tallies)}
