"""From a parsed attendance report to who of the schools' staff attended, and how much.

Three steps, each a plain function over plain values (no database), so the service can run them
on an upload, store the outcome, and run them again after delivery staff resolve the review list:

1. :func:`match_attendees` finds each report participant among the schools' staff: by a stored
   alias, by email, by name; whoever cannot be placed goes to the unmatched list, never dropped.
2. :func:`merge_intervals` / :func:`attended_minutes` (and, per staff member,
   :func:`staff_attended_minutes`) count the time in the meeting, overlaps once.
3. :func:`classify` turns minutes into ``present`` / ``partial`` / ``absent`` by an
   :class:`AttendanceThreshold`.

Messages and reasons built here never contain a name or an address: they are shown in review
screens and may be logged.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rlc_shared.emails import InvalidEmail, extract_address, normalise_email

__all__ = [
    "Attendee",
    "AttendanceStatus",
    "AttendanceThreshold",
    "AttendeeMatch",
    "AttendeeMatching",
    "MatchMethod",
    "SchoolStaff",
    "UnmatchedAttendee",
    "alias_key",
    "attended_minutes",
    "classify",
    "email_key",
    "match_attendees",
    "merge_intervals",
    "name_key",
    "staff_attended_minutes",
    "staff_intervals",
]

Interval = tuple[datetime, datetime]
AttendanceStatus = Literal["present", "partial", "absent"]
#: How a participant was placed, strongest evidence first.
MatchMethod = Literal[
    "email_alias",  # a reviewer earlier tied this address to the staff member
    "email",  # the address is the staff member's (and nobody else's)
    "email_and_name",  # a shared address, and the name picks one of its holders
    "name_alias",  # a reviewer earlier tied this display name to the staff member
    "name",  # the same name, once normalised
    "name_any_order",  # the same words in another order ("Smith Jane")
    "first_and_last_name",  # same first and last word, a middle name on one side only
]


# --------------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------------


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """The intervals sorted, with overlapping or touching ones merged.

    One person on two devices, or rejoining the second they dropped out, is in the meeting once.
    Raises ``ValueError`` for an interval that ends before it starts.
    """
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if end < start:
            raise ValueError("an attendance interval ends before it starts")
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def attended_minutes(intervals: Iterable[Interval]) -> float:
    """Minutes covered by the intervals, overlaps counted once."""
    return sum((end - start).total_seconds() for start, end in merge_intervals(intervals)) / 60


# --------------------------------------------------------------------------------------------------
# Who is who
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchoolStaff:
    """A member of a school's staff as the matcher needs them (the service supplies these)."""

    staff_id: int
    urn: int
    role: str
    # Personal data: kept out of repr, so a staff record that reaches a log line shows no one.
    name: str = field(repr=False)
    email: str | None = field(default=None, repr=False)


class Attendee(Protocol):
    """What matching reads of a participant; :class:`ReportParticipant` is one."""

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str | None: ...

    @property
    def original_name(self) -> str | None: ...

    @property
    def intervals(self) -> list[Interval]: ...


A = TypeVar("A", bound=Attendee)


@dataclass(frozen=True, slots=True)
class AttendeeMatch(Generic[A]):
    """A participant placed as a staff member. ``outside_cohort``: the staff member's school is
    not in the session's cohort (an email or alias match only; worth a look, e.g. a control
    school's teacher)."""

    participant: A
    staff: SchoolStaff
    method: MatchMethod
    outside_cohort: bool = False


@dataclass(frozen=True, slots=True)
class UnmatchedAttendee(Generic[A]):
    """A participant for the review list: why they were not placed, and whom they could be."""

    participant: A
    reason: str
    candidate_staff_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class AttendeeMatching(Generic[A]):
    """Every participant, either matched or unmatched, in report order within each list."""

    matched: tuple[AttendeeMatch[A], ...]
    unmatched: tuple[UnmatchedAttendee[A], ...]


_TITLES = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "rev", "revd"}
)
_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_APOSTROPHES = re.compile(r"['\u2018\u2019`]")
_NOT_WORD = re.compile(r"[^\w]+|_")


def _name_tokens(raw: str) -> list[str]:
    text = unicodedata.normalize("NFKD", raw)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = _BRACKETED.sub(" ", text)  # "(she/her)", "(Guest)", "[Year 5]"
    if text.count(",") == 1:  # "Smith, Jane" as directories write it
        surname, first = text.split(",")
        text = f"{first} {surname}"
    text = _APOSTROPHES.sub("", text)  # O'Brien and OBrien alike
    tokens = _NOT_WORD.sub(" ", text).split()  # Smith-Jones and Smith Jones alike
    untitled = [t for t in tokens if t not in _TITLES]
    return untitled or tokens


def name_key(raw: str) -> str:
    """A name as matching compares it: no case, accents, titles, brackets or punctuation, and
    "Surname, First" turned round. ``"Mrs  Zoë O'Brien-Hall"`` -> ``"zoe obrien hall"``."""
    return " ".join(_name_tokens(raw))


def email_key(raw: str | None) -> str | None:
    """An address as matching compares it, or None if there is no valid one.

    The shared normaliser keeps the local part's case, as mail servers may; for recognising a
    person, ``Jane.Smith@`` and ``jane.smith@`` are the same, so the whole address is folded.
    """
    if not raw or "@" not in raw:
        return None
    return _email_key(raw)


@lru_cache(maxsize=4096)
def _email_key(raw: str) -> str | None:
    # Validating an address is the slowest step of matching a report (each is seen several
    # times: the participant, the lookup, the staff index); the cache lives in memory only.
    try:
        return normalise_email(extract_address(raw)).casefold()
    except InvalidEmail:
        return None


def alias_key(value: str) -> str:
    """The key a stored alias (a display name or an address) is looked up by.

    The service can use it to keep one alias per key: ``"email:<address>"`` or
    ``"name:<normalised name>"``.
    """
    address = email_key(value)
    return f"email:{address}" if address is not None else f"name:{name_key(value)}"


def _name_keys(raw: str) -> list[tuple[MatchMethod, str]]:
    """The looser and looser keys one name is tried under."""
    tokens = _name_tokens(raw)
    if not tokens:
        return []
    keys: list[tuple[MatchMethod, str]] = [
        ("name", " ".join(tokens)),
        ("name_any_order", " ".join(sorted(tokens))),
    ]
    if len(tokens) >= 2:
        keys.append(("first_and_last_name", f"{tokens[0]} {tokens[-1]}"))
    return keys


class _NameIndex:
    """Staff by each of their name keys, built once per call."""

    def __init__(self, staff: Iterable[SchoolStaff]) -> None:
        self._index: dict[tuple[MatchMethod, str], dict[int, SchoolStaff]] = {}
        for member in staff:
            for method, key in _name_keys(member.name):
                self._index.setdefault((method, key), {})[member.staff_id] = member

    def find(self, raw: str) -> tuple[MatchMethod, list[SchoolStaff]] | None:
        """The strictest key with any staff: (method, those staff). An ambiguous strict key is
        not resolved by a looser one."""
        for method, key in _name_keys(raw):
            found = self._index.get((method, key))
            if found:
                return method, list(found.values())
        return None


def _names_of(participant: Attendee) -> list[str]:
    names = [participant.name]
    if participant.original_name and participant.original_name != participant.name:
        names.append(participant.original_name)  # Zoom: the name before a rename
    return [name for name in names if name.strip()]


def _find_by_name(
    index: _NameIndex, names: list[str]
) -> tuple[MatchMethod, SchoolStaff] | list[SchoolStaff]:
    """A unique match under one of the names, else every ambiguous candidate seen (maybe none)."""
    ambiguous: dict[int, SchoolStaff] = {}
    for name in names:
        found = index.find(name)
        if found is None:
            continue
        method, candidates = found
        if len(candidates) == 1:
            return method, candidates[0]
        ambiguous.update((member.staff_id, member) for member in candidates)
    return list(ambiguous.values())


class _Matcher:
    """The indexes one call of :func:`match_attendees` builds, and the placing of one person."""

    def __init__(
        self,
        *,
        staff: Iterable[SchoolStaff],
        cohort_staff: Iterable[SchoolStaff],
        aliases: Mapping[str, int],
    ) -> None:
        cohort = list(cohort_staff)
        self.cohort_ids = {member.staff_id for member in cohort}
        self.everyone = {member.staff_id: member for member in staff}
        self.everyone.update((member.staff_id, member) for member in cohort)
        self.by_email: dict[str, dict[int, SchoolStaff]] = {}
        for member in self.everyone.values():
            address = email_key(member.email)
            if address is not None:
                self.by_email.setdefault(address, {})[member.staff_id] = member
        self.cohort_names = _NameIndex(cohort)
        # Aliases to staff the service no longer knows are dropped here, once.
        self.aliases = {
            alias_key(raw): self.everyone[staff_id]
            for raw, staff_id in aliases.items()
            if staff_id in self.everyone
        }

    def place(self, participant: A) -> AttendeeMatch[A] | UnmatchedAttendee[A]:
        names = _names_of(participant)
        # A display name that is an address (people join as "jane.smith@...") is one too.
        addresses = [a for a in map(email_key, [participant.email, *names]) if a is not None]

        def matched(member: SchoolStaff, method: MatchMethod) -> AttendeeMatch[A]:
            outside = member.staff_id not in self.cohort_ids
            return AttendeeMatch(participant, member, method, outside_cohort=outside)

        for address in addresses:
            if (member := self.aliases.get(f"email:{address}")) is not None:
                return matched(member, "email_alias")
        holders = next((self.by_email[a] for a in addresses if a in self.by_email), None)
        if holders is not None and len(holders) == 1:
            return matched(next(iter(holders.values())), "email")
        if holders is not None:  # an office address several staff share: the name decides
            found = _find_by_name(_NameIndex(holders.values()), names)
            if isinstance(found, tuple):
                return matched(found[1], "email_and_name")
            reason = (
                f"the address belongs to {len(holders)} staff members and the name does not "
                "tell them apart"
            )
            return UnmatchedAttendee(participant, reason, tuple(sorted(holders)))
        for name in names:
            if (member := self.aliases.get(f"name:{name_key(name)}")) is not None:
                return matched(member, "name_alias")
        found = _find_by_name(self.cohort_names, names)
        if isinstance(found, tuple):
            return matched(found[1], found[0])
        if found:
            reason = f"the name fits {len(found)} staff members of the cohort's schools equally"
            return UnmatchedAttendee(
                participant, reason, tuple(sorted(member.staff_id for member in found))
            )
        return UnmatchedAttendee(participant, _no_match_reason(participant, addresses))


def match_attendees(
    participants: Iterable[A],
    *,
    staff: Iterable[SchoolStaff],
    cohort_staff: Iterable[SchoolStaff],
    aliases: Mapping[str, int] | None = None,
) -> AttendeeMatching[A]:
    """Place each participant as a member of staff, or on the unmatched list.

    ``cohort_staff`` are the staff of the schools the session was for; ``staff`` is everyone else
    the service knows (other cohorts, control schools; overlap with ``cohort_staff`` is fine).
    Name matching stays within the cohort, where a name is nearly always unique; an address
    identifies a person anywhere, so an email match outside the cohort counts, flagged
    ``outside_cohort``. ``aliases`` map a display name or address, as a reviewer resolved it, to
    a staff id (compared by :func:`alias_key`); an alias to an unknown staff id is ignored.

    Order of evidence: an email alias; the email (a display name that is an address counts as
    one); a name alias; the name, and Zoom's original name, under looser and looser keys
    (:data:`MatchMethod`). A tie at any step sends the participant to review with the
    candidates: it is never guessed.
    """
    matcher = _Matcher(staff=staff, cohort_staff=cohort_staff, aliases=aliases or {})
    matched: list[AttendeeMatch[A]] = []
    unmatched: list[UnmatchedAttendee[A]] = []
    for participant in participants:
        outcome = matcher.place(participant)
        if isinstance(outcome, AttendeeMatch):
            matched.append(outcome)
        else:
            unmatched.append(outcome)
    return AttendeeMatching(tuple(matched), tuple(unmatched))


def _no_match_reason(participant: Attendee, addresses: list[str]) -> str:
    if not _names_of(participant):
        if addresses:
            return "no staff member has this address, and there is no name to go by"
        return "neither an address nor a name to go by"
    if addresses:
        return "no staff member has this address, and nobody in the cohort's schools this name"
    return "no address, and nobody in the cohort's schools has this name"


def staff_intervals(matches: Iterable[AttendeeMatch[A]]) -> dict[int, list[Interval]]:
    """Each matched staff member's merged intervals, across all their participants (devices)."""
    gathered: dict[int, list[Interval]] = {}
    for match in matches:
        gathered.setdefault(match.staff.staff_id, []).extend(match.participant.intervals)
    return {staff_id: merge_intervals(spans) for staff_id, spans in gathered.items()}


def staff_attended_minutes(matches: Iterable[AttendeeMatch[A]]) -> dict[int, float]:
    """Minutes in the meeting per staff id, a person on two devices counted once."""
    return {
        staff_id: attended_minutes(spans) for staff_id, spans in staff_intervals(matches).items()
    }


# --------------------------------------------------------------------------------------------------
# Present, partial, absent
# --------------------------------------------------------------------------------------------------


class AttendanceThreshold(BaseModel):
    """When attendance counts as ``present``: a share of the session or a number of minutes.

    ``AttendanceThreshold()`` is 75% of the session; ``AttendanceThreshold(kind="minutes",
    value=120)`` is two hours. A minutes threshold longer than a session asks for all of it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["share", "minutes"] = "share"
    value: float = Field(0.75, gt=0, description="a share in (0, 1], or minutes")

    @model_validator(mode="after")
    def _share_at_most_one(self) -> AttendanceThreshold:
        if self.kind == "share" and self.value > 1:
            raise ValueError("a share of the session is at most 1 (100%)")
        return self

    def required_minutes(self, session_minutes: float) -> float:
        """The minutes needed to be present at a session of ``session_minutes``."""
        if self.kind == "share":
            return self.value * session_minutes
        return min(self.value, session_minutes)

    def describe(self) -> str:
        if self.kind == "share":
            return f"{self.value:.0%} of the session"
        return f"{self.value:g} minutes"


# Intervals are whole seconds and session lengths whole minutes; the slack only absorbs float
# arithmetic (0.75 * 150 is 112.5 exactly, 0.7 * 90 is not).
_EPSILON = 1e-6


def classify(
    minutes: float, *, session_minutes: float, threshold: AttendanceThreshold
) -> AttendanceStatus:
    """``present`` at or over the threshold, ``partial`` for any time short of it, else ``absent``."""
    if session_minutes <= 0:
        raise ValueError("a session lasts more than zero minutes")
    if minutes < 0:
        raise ValueError("attended minutes cannot be negative")
    if minutes + _EPSILON >= threshold.required_minutes(session_minutes):
        return "present"
    return "partial" if minutes > 0 else "absent"
