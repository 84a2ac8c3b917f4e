"""What is read from each of the other services, reduced to the fields the analysis uses.

Every function here makes HTTP calls through the typed clients and raises `UpstreamError` when
the service cannot give the input; `snapshots.service` turns that into a missing input. Names,
email addresses and free text about people never leave these functions: a school's record keeps
its trial fields, a member of staff only their role, consent and withdrawal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from analytics.upstreams import Upstreams
from rlc_clients.surveys import By, Round
from rlc_shared.errors import UpstreamError

SCHOOL_FIELDS = (
    "urn",
    "name",
    "status",
    "la_code",
    "la_name",
    "phase",
    "arm",
    "eligible",
    "eligibility_reasons",
    "withdrawn_from_status",
    "withdrawal_reason",
    "withdrawn_on",
    "pupils",
    "percentage_fsm",
    "year56_social_worker_pupils",
    "year56_looked_after_pupils",
    "randomisation_run_id",
    "randomised_at",
)
STAFF_FIELDS = ("id", "role", "data_collection_consent", "withdrawn_on", "withdrawal_covers")
ALLOCATION_FIELDS = ("urn", "arm", "run_id", "stratum", "la_code", "in_error", "allocated_at")
DOSAGE_FIELDS = (
    "urn",
    "workshops_attended",
    "sessions_attended",
    "minutes",
    "complier",
    "rule_version",
)
RESPONSE_RATE_FIELDS = (
    "arm",
    "la_code",
    "urn",
    "schools",
    "responding_schools",
    "responses",
    "rate",
)
SCALES = ("knowledge", "attitudes", "use")
#: The responses.csv column holding the teacher's pseudonym (the first one present is used).
TEACHER_COLUMNS = (
    "teacher",
    "teacher_key",
    "teacher_id",
    "respondent_key",
    "respondent",
    "pseudonym",
    "respondent_id",
)


def _keep(item: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    return {name: item.get(name) for name in fields}


def trial_schools(upstreams: Upstreams) -> list[dict[str, Any]]:
    """Every school recruitment has in the trial (nominated or further), URN order."""
    return [
        _keep(s, SCHOOL_FIELDS)
        for s in upstreams.recruitment.iter_schools(in_trial=True, page_size=upstreams.page_size)
    ]


def staff(upstreams: Upstreams, urns: Iterable[int]) -> dict[str, list[dict[str, Any]]]:
    """Each school's staff in the trial (role, consent, withdrawal), keyed by URN as text."""
    return {
        str(urn): [_keep(m, STAFF_FIELDS) for m in upstreams.recruitment.staff(urn)] for urn in urns
    }


def allocations(upstreams: Upstreams) -> list[dict[str, Any]]:
    """The live allocations of executed runs."""
    return [
        _keep(a, ALLOCATION_FIELDS)
        for a in upstreams.randomisation.iter_allocations(page_size=upstreams.page_size)
    ]


def _number(text: str | None) -> float | None:
    if text is None or not str(text).strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _teacher_column(header: list[str]) -> str | None:
    return next((c for c in TEACHER_COLUMNS if c in header), None)


def responses(upstreams: Upstreams, round: Round) -> list[dict[str, Any]]:
    """The round's scored, pseudonymised responses: ``urn``, ``teacher`` and the three scales.

    A file without a ``urn`` or teacher column cannot be analysed: `UpstreamError`.
    """
    rows: list[dict[str, Any]] = []
    stream: Iterator[dict[str, str]] = upstreams.surveys.iter_responses(round)
    teacher: str | None = None
    for position, row in enumerate(stream):
        if position == 0:
            header = list(row)
            teacher = _teacher_column(header)
            if "urn" not in header or teacher is None:
                raise UpstreamError(
                    f"The surveys service's {round} responses.csv has no "
                    f"{'urn' if 'urn' not in header else 'teacher pseudonym'} column "
                    f"(columns: {', '.join(header[:30])}).",
                    upstream="surveys",
                )
        assert teacher is not None
        urn = _number(row.get("urn"))
        rows.append(
            {
                "urn": int(urn) if urn is not None and urn.is_integer() else None,
                "teacher": (row.get(teacher) or "").strip() or None,
                **{scale: _number(row.get(scale, row.get(f"{scale}_score"))) for scale in SCALES},
            }
        )
    return rows


def response_rates(upstreams: Upstreams, round: Round, by: By) -> list[dict[str, Any]]:
    # Only the keys given: a row by arm has no urn, and saying "urn: null" would be noise.
    return [
        {k: r[k] for k in RESPONSE_RATE_FIELDS if k in r}
        for r in upstreams.surveys.response_rates(round, by=by)
    ]


def scales(upstreams: Upstreams, round: Round) -> list[dict[str, Any]]:
    return [
        _keep(s, ("scale", "n", "mean", "sd", "alpha")) for s in upstreams.surveys.scales(round)
    ]


def dosage(upstreams: Upstreams, rule_version: int | None) -> list[dict[str, Any]]:
    """Every school's dosage under the plan's compliance rule (the service's latest frozen one
    when the plan names none: enough for the attendance chart, never used for compliance)."""
    return [
        _keep(d, DOSAGE_FIELDS)
        for d in upstreams.workshops.iter_dosage(
            page_size=upstreams.page_size, rule_version=rule_version
        )
    ]


def costs(upstreams: Upstreams) -> list[dict[str, Any]]:
    """Cost items as the workshops service gives them (money kept as it was written)."""
    fields = ("id", "category", "recurrence", "amount", "hours", "rate", "urn", "description")
    return [_keep(c, fields) for c in upstreams.workshops.iter_costs(page_size=upstreams.page_size)]
