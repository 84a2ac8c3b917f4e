"""The programme's published 2021/22 schedule, as data: eight sessions from October to May, and
how many case-study schools the evaluation selects.

The schedule lives in ``programme_2021_22.json`` next to this module, with the source of every
date, duration, mode and audience, and of the case-study numbers (a quotation from the
programme's documents, or a note that they do not say and what was assumed). This module only
loads and checks it, so a change of date is a change of data, reviewed as such.

Each session has a stable key the rest of the service uses: ``intro``, ``workshop_1`` ...
``workshop_6``, ``moving_forward``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "AUDIENCE_ROLES",
    "INTRO",
    "MOVING_FORWARD",
    "SESSION_KEYS",
    "WORKSHOP_KEYS",
    "AudienceRole",
    "CaseStudyPlan",
    "DeliveryMode",
    "Programme",
    "ProgrammeDocument",
    "ProgrammeSession",
    "SessionKind",
    "SessionSources",
    "default_programme",
    "parse_programme",
    "session_key",
]

SessionKind = Literal["intro", "workshop", "moving_forward"]
DeliveryMode = Literal["face_to_face", "virtual"]
#: Who a session is for. The school roles are the platform's staff roles (recruitment's
#: ``StaffRole``); the Virtual School Head is the local authority's, not a school's.
AudienceRole = Literal[
    "head_teacher",
    "designated_teacher",
    "english_subject_lead",
    "maths_subject_lead",
    "virtual_school_head",
]
AUDIENCE_ROLES: tuple[AudienceRole, ...] = (
    "head_teacher",
    "designated_teacher",
    "english_subject_lead",
    "maths_subject_lead",
    "virtual_school_head",
)

INTRO = "intro"
MOVING_FORWARD = "moving_forward"
WORKSHOP_COUNT = 6
WORKSHOP_KEYS: tuple[str, ...] = tuple(f"workshop_{n}" for n in range(1, WORKSHOP_COUNT + 1))
#: The eight sessions in programme order.
SESSION_KEYS: tuple[str, ...] = (INTRO, *WORKSHOP_KEYS, MOVING_FORWARD)

_DATA_FILE = "programme_2021_22.json"


def session_key(kind: SessionKind, number: int | None = None) -> str:
    """``intro``, ``workshop_<number>`` or ``moving_forward``."""
    return f"workshop_{number}" if kind == "workshop" else kind


class SessionSources(BaseModel):
    """Where each fact of a session comes from; "NOT GIVEN" opens a note of what was assumed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: str = Field(min_length=1)
    duration: str = Field(min_length=1)
    mode: str = Field(min_length=1)
    audience: str = Field(min_length=1)


class ProgrammeSession(BaseModel):
    """One of the eight sessions as planned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: SessionKind
    number: int | None = Field(None, ge=1, le=WORKSHOP_COUNT)
    title: str = Field(min_length=1)
    mode: DeliveryMode
    week_commencing: date = Field(description="the week the documents give, a Monday")
    planned_date: date = Field(description="the day within that week this platform plans for")
    duration_minutes: int = Field(gt=0, le=8 * 60)
    audience: tuple[AudienceRole, ...] = Field(min_length=1)
    source: SessionSources

    @field_validator("audience")
    @classmethod
    def _no_repeats(cls, audience: tuple[AudienceRole, ...]) -> tuple[AudienceRole, ...]:
        if len(set(audience)) != len(audience):
            raise ValueError("a role is listed twice in the audience")
        return audience

    @model_validator(mode="after")
    def _consistent(self) -> ProgrammeSession:
        if (self.kind == "workshop") != (self.number is not None):
            raise ValueError("workshops, and only workshops, have a number")
        if self.week_commencing.weekday() != 0:
            raise ValueError("week_commencing must be a Monday")
        if not self.week_commencing <= self.planned_date < self.week_commencing + timedelta(7):
            raise ValueError("planned_date must fall in the week commencing week_commencing")
        return self

    @property
    def key(self) -> str:
        return session_key(self.kind, self.number)


class ProgrammeDocument(BaseModel):
    """A document the schedule was taken from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1)
    title: str = Field(min_length=1)
    file: str = Field(min_length=1)


class CaseStudySources(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str = Field(min_length=1)
    control_with_incentive: str = Field(min_length=1)


class CaseStudyPlan(BaseModel):
    """How many schools the evaluation selects for case studies (either arm), and how many of
    them the documents expect to be control schools (those owed the incentive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: int = Field(ge=1, le=1000)
    control_with_incentive: int = Field(ge=0, le=1000)
    source: CaseStudySources

    @model_validator(mode="after")
    def _within_target(self) -> CaseStudyPlan:
        if self.control_with_incentive > self.target:
            raise ValueError("control_with_incentive cannot exceed the target")
        return self


class Programme(BaseModel):
    """The whole schedule: the intro, workshops 1 to 6 and the moving forward session, in order;
    and the plan for case studies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    academic_year: str = Field(pattern=r"^\d{4}/\d{2}$")
    documents: tuple[ProgrammeDocument, ...]
    case_studies: CaseStudyPlan
    sessions: tuple[ProgrammeSession, ...]

    @model_validator(mode="after")
    def _eight_in_order(self) -> Programme:
        keys = tuple(session.key for session in self.sessions)
        if keys != SESSION_KEYS:
            raise ValueError(
                f"the sessions must be {', '.join(SESSION_KEYS)} in that order, not {', '.join(keys)}"
            )
        dates = [session.planned_date for session in self.sessions]
        if any(later <= earlier for earlier, later in zip(dates, dates[1:], strict=False)):
            raise ValueError("the sessions' planned dates must be in order, one per date")
        return self

    def session(self, key: str) -> ProgrammeSession:
        """The session with ``key``; ``KeyError`` for a key the programme does not have."""
        for session in self.sessions:
            if session.key == key:
                return session
        raise KeyError(key)

    @property
    def workshops(self) -> tuple[ProgrammeSession, ...]:
        return tuple(session for session in self.sessions if session.kind == "workshop")


def parse_programme(data: str | bytes | Mapping[str, Any]) -> Programme:
    """Validate a schedule given as JSON text or as already-parsed data (``ValidationError``)."""
    if isinstance(data, str | bytes):
        return Programme.model_validate_json(data)
    return Programme.model_validate(data)


@lru_cache(maxsize=1)
def default_programme() -> Programme:
    """The published 2021/22 schedule (read and checked once; the result is immutable)."""
    text = resources.files("workshops").joinpath(_DATA_FILE).read_text(encoding="utf-8")
    return parse_programme(text)
