"""The flow of schools through the RLC trial, as the CONSORT 2010 cluster extension draws it.

Pure counting: records in (`analytics.records`), a `ConsortFlow` out (`analytics.consort_boxes`,
both re-exported here); no database, no HTTP. The service layer fetches the recruitment service's
schools, the randomisation service's live allocations, the workshops service's compliance, the
surveys service's teachers and the pupil outcomes, and passes them here.

Decisions taken here (they follow the trial's own records, never a guess):
- The randomisation service's allocation is the authority on *whether* and *to which arm* a school
  was randomised; recruitment's record is checked against it and any disagreement is a warning.
  Without allocations (not yet randomised, or the input is missing) recruitment's record is used.
- Once randomised, a school stays in its arm (intention to treat): a withdrawal afterwards puts it
  in its arm's "withdrew / lost to follow-up" box, even if recruitment dates the withdrawal earlier.
- A school that withdrew while ineligible counts as ineligible: it had failed the criteria.
- Each randomised school lands in exactly one of: withdrew / lost to follow-up, excluded from
  analysis (allocation in error, or no pupil outcome), analysed (at least one pupil outcome), or
  analysis pending (no pupil outcomes supplied yet). A withdrawal outranks an allocation in error.
- Pupils are counted in the schools analysed; teachers in every school allocated to the arm.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from analytics.consort_boxes import (
    ArmFlow,
    Box,
    ConsortFlow,
    Excluded,
    FlowInconsistent,
    PupilCounts,
    Received,
    TeacherCounts,
    check_partition,
    ordered_arms,
    urn_list,
)
from analytics.records import (
    CONSENTED,
    CONTROL,
    ELIGIBLE,
    INELIGIBLE,
    INTERVENTION,
    NOMINATED,
    RANDOMISED,
    STATUSES,
    WITHDRAWN,
    AllocationRecord,
    ComplianceRecord,
    PupilOutcome,
    SchoolRecord,
    TeacherRecord,
    index_by_urn,
)

__all__ = [
    "CONTROL",
    "INTERVENTION",
    "UNKNOWN_ARM",
    "AllocationRecord",
    "ArmFlow",
    "Box",
    "ComplianceRecord",
    "ConsortFlow",
    "Excluded",
    "FlowInconsistent",
    "PupilCounts",
    "PupilOutcome",
    "Received",
    "SchoolRecord",
    "TeacherCounts",
    "TeacherRecord",
    "check_partition",
    "consort_flow",
    "ordered_arms",
]

#: The arm of a school recruitment calls randomised without saying to which arm (a data error).
UNKNOWN_ARM = "unknown"

NO_REASON = "no reason recorded"
NO_OUTCOME = "no pupil outcome data"
IN_ERROR = "allocation in error"
AWAITING_ASSESSMENT = "awaiting the eligibility decision"
AWAITING_CONSENT = "eligible, awaiting consent"
AWAITING_RANDOMISATION = "consented, awaiting randomisation"
NO_COMPLIANCE_DATA = "no compliance data"
NOT_COMPLIER = "did not meet the compliance rule"


class _Warnings:
    """Inconsistencies grouped by kind, so each warning names all the URNs it concerns."""

    def __init__(self) -> None:
        self._by_kind: dict[str, list[int]] = defaultdict(list)

    def add(self, kind: str, urn: int) -> None:
        self._by_kind[kind].append(urn)

    def render(self) -> list[str]:
        return [f"{kind}: URN {urn_list(set(urns))}." for kind, urns in self._by_kind.items()]


def _reason(text: str | None, default: str = NO_REASON) -> str:
    return " ".join(text.split()) if text and text.strip() else default


def _recruitment_randomised(school: SchoolRecord) -> bool:
    return school.status == RANDOMISED or (
        school.status == WITHDRAWN and school.withdrawn_from_status == RANDOMISED
    )


def _randomised_arm(
    urn: int,
    school: SchoolRecord | None,
    allocation: AllocationRecord | None,
    *,
    allocations_given: bool,
    warnings: _Warnings,
) -> str | None:
    """The arm the school was randomised to, or None if it was not randomised."""
    if allocation is not None:
        if school is None:
            warnings.add("Allocated by the randomisation service but unknown to recruitment", urn)
        elif school.status is None:
            warnings.add("Allocated although recruitment records no nomination", urn)
        elif school.status in (NOMINATED, ELIGIBLE, INELIGIBLE):
            warnings.add("Allocated although recruitment records no consent", urn)
        elif school.status == CONSENTED:
            warnings.add("Allocated, but recruitment has not recorded the randomisation", urn)
        elif school.status == WITHDRAWN and school.withdrawn_from_status != RANDOMISED:
            warnings.add(
                "Allocated although recruitment records a withdrawal before randomisation "
                "(counted in the allocated arm)",
                urn,
            )
        if school is not None and school.arm is not None and school.arm != allocation.arm:
            warnings.add(
                "Arm differs between recruitment and randomisation (randomisation's arm used)", urn
            )
        if school is not None and allocation.la_code and school.la_code != allocation.la_code:
            warnings.add("Local authority differs between recruitment and randomisation", urn)
        return allocation.arm
    if school is None or not _recruitment_randomised(school):
        return None
    if allocations_given:
        warnings.add(
            "Randomised according to recruitment, but the randomisation service has no "
            "allocation (recruitment's arm used)",
            urn,
        )
    if school.arm is None:
        warnings.add("Randomised according to recruitment, with no arm recorded", urn)
        return UNKNOWN_ARM
    return school.arm


def _exclude(excluded: Excluded, school: SchoolRecord, *, consent_closed: bool) -> None:
    """Put a school that was not randomised in its exclusion box."""
    urn, status = school.urn, school.status
    if status == INELIGIBLE or (status == WITHDRAWN and school.withdrawn_from_status == INELIGIBLE):
        reasons = [_reason(r) for r in school.eligibility_reasons] or [NO_REASON]
        excluded.ineligible.add(urn, *reasons)
    elif status == WITHDRAWN:
        excluded.withdrew.add(urn, _reason(school.withdrawal_reason))
    elif status == ELIGIBLE and consent_closed:
        excluded.did_not_consent.add(urn)
    elif status == ELIGIBLE:
        excluded.awaiting.add(urn, AWAITING_CONSENT)
    elif status == NOMINATED:
        excluded.awaiting.add(urn, AWAITING_ASSESSMENT)
    elif status == CONSENTED:
        excluded.awaiting.add(urn, AWAITING_RANDOMISATION)
    else:  # pragma: no cover - _randomised_arm takes every randomised school
        raise AssertionError(f"school {urn} with status {status!r} has no exclusion box")


def _new_arm(arm: str) -> ArmFlow:
    return ArmFlow(
        arm=arm,
        allocated=Box(f"Allocated to {arm}"),
        received=Received() if arm == INTERVENTION else None,
        lost_to_follow_up=Box("Withdrew / lost to follow-up"),
        analysed=Box("Analysed"),
        excluded_from_analysis=Box("Excluded from analysis"),
        analysis_pending=Box("Analysis pending (no outcome data supplied)"),
    )


def _count_receipt(
    arms: Mapping[str, ArmFlow],
    arm_of: Mapping[int, str],
    compliance: Iterable[ComplianceRecord] | None,
    warnings: _Warnings,
) -> None:
    records = None if compliance is None else index_by_urn(compliance, "compliance")
    receipt = arms[INTERVENTION].received
    assert receipt is not None  # _new_arm gives the intervention arm its receipt boxes
    for urn in arms[INTERVENTION].allocated.urns:
        record = None if records is None else records.get(urn)
        if record is None:
            receipt.unknown.add(urn, NO_COMPLIANCE_DATA)
        elif record.complier:
            receipt.received.add(urn)
        else:
            receipt.not_received.add(urn, _reason(record.reason, NOT_COMPLIER))
    for urn, record in (records or {}).items():
        arm = arm_of.get(urn)
        if arm is None:
            warnings.add("Compliance recorded for schools that were not randomised (ignored)", urn)
        elif arm != INTERVENTION and record.complier:
            warnings.add(f"Recorded as compliers although allocated to {arm}", urn)


def _count_teachers(
    arms: Mapping[str, ArmFlow],
    arm_of: Mapping[int, str],
    assessed: set[int],
    teachers: Iterable[TeacherRecord],
    warnings: _Warnings,
) -> None:
    counts = {arm: TeacherCounts() for arm in arms}
    for teacher in teachers:
        if teacher.urn not in assessed:
            warnings.add(
                "Teachers at schools never assessed for eligibility (not counted)", teacher.urn
            )
            continue
        if not teacher.consented:
            if teacher.responded_pre or teacher.responded_post:
                warnings.add(
                    "Questionnaire responses from teachers without data-collection consent "
                    "(not counted)",
                    teacher.urn,
                )
            continue
        arm = arm_of.get(teacher.urn)
        if arm is None:
            continue  # a school excluded before randomisation: no arm to count its staff in
        c = counts[arm]
        c.consented += 1
        c.responded_pre += teacher.responded_pre
        c.responded_post += teacher.responded_post
        c.responded_both += teacher.responded_pre and teacher.responded_post
    for arm, flow in arms.items():
        flow.teachers = counts[arm]


def _target_pupils(pupils: Iterable[PupilOutcome], warnings: _Warnings) -> list[PupilOutcome]:
    """The pupils the trial is about (CIN and/or LAC); anyone else is a data error."""
    kept = []
    for pupil in pupils:
        if pupil.cin or pupil.lac:
            kept.append(pupil)
        else:
            warnings.add("Pupil outcomes for children neither CIN nor LAC (not counted)", pupil.urn)
    return kept


def _count_pupils(
    arms: Mapping[str, ArmFlow],
    arm_of: Mapping[int, str],
    pupils: Sequence[PupilOutcome],
    warnings: _Warnings,
) -> None:
    analysed = {urn: arm for arm, flow in arms.items() for urn in flow.analysed.urns}
    lost = {urn for flow in arms.values() for urn in flow.lost_to_follow_up.urns}
    counts = {arm: PupilCounts() for arm in arms}
    for pupil in pupils:
        if not pupil.has_outcome:
            continue
        if pupil.urn not in arm_of:
            warnings.add(
                "Pupil outcomes at schools that were not randomised (not counted)", pupil.urn
            )
        elif pupil.urn in lost:
            warnings.add(
                "Pupil outcomes at schools that withdrew after randomisation (not counted as "
                "analysed)",
                pupil.urn,
            )
        if (arm := analysed.get(pupil.urn)) is None:
            continue
        c = counts[arm]
        c.with_outcomes += 1
        c.cin_only += pupil.cin and not pupil.lac
        c.lac_only += pupil.lac and not pupil.cin
        c.cin_and_lac += pupil.cin and pupil.lac
        c.with_reading += pupil.has_reading
        c.with_maths += pupil.has_maths
    for arm, flow in arms.items():
        flow.pupils = counts[arm]


def _checked_icc(icc: Mapping[str, float]) -> dict[str, float]:
    for outcome, value in icc.items():
        if not 0.0 <= value <= 1.0:  # False for NaN too
            raise ValueError(f"icc: the ICC for {outcome!r} must be between 0 and 1 (got {value}).")
    return {str(k): float(v) for k, v in icc.items()}


def consort_flow(
    *,
    schools: Iterable[SchoolRecord],
    allocations: Iterable[AllocationRecord] | None,
    compliance: Iterable[ComplianceRecord] | None = None,
    teachers: Iterable[TeacherRecord] | None = None,
    pupils: Iterable[PupilOutcome] | None = None,
    icc: Mapping[str, float] | None = None,
    consent_closed: bool = True,
) -> ConsortFlow:
    """Count the schools into the CONSORT boxes and check that they partition the assessed ones.

    ``schools``: every school recruitment knows (schools never nominated are simply not in the
    flow). ``allocations``: the live allocations, or None if not available. ``compliance``,
    ``teachers``, ``pupils``, ``icc`` (by outcome, e.g. ``{"reading": 0.08}``): None when not
    available; each missing input is named in ``missing_inputs`` and its boxes say "not known" or
    "pending". ``consent_closed``: once consent has closed (the default: the report's final flow)
    an eligible school that has not consented "did not consent"; before, it is still awaiting a
    decision.

    Inconsistent records become ``warnings`` naming the URNs; duplicate URNs in one input, an
    unknown status or an ICC outside [0, 1] raise ValueError; a flow that does not partition the
    schools (a bug here) raises `FlowInconsistent`.
    """
    missing = [
        name
        for name, given in (
            ("allocations", allocations),
            ("compliance", compliance),
            ("teachers", teachers),
            ("pupils", pupils),
            ("icc", icc),
        )
        if given is None
    ]
    school_by_urn = index_by_urn(schools, "schools")
    allocation_by_urn = index_by_urn(allocations or (), "allocations")
    for record in school_by_urn.values():
        if record.status is not None and record.status not in STATUSES:
            raise ValueError(f"schools: URN {record.urn} has an unknown status {record.status!r}.")
    warnings = _Warnings()

    # A school randomisation allocated was assessed in fact, whatever recruitment records.
    assessed = sorted(
        {urn for urn, s in school_by_urn.items() if s.status is not None} | allocation_by_urn.keys()
    )
    excluded = Excluded()
    arm_of: dict[int, str] = {}
    for urn in assessed:
        school = school_by_urn.get(urn)
        arm = _randomised_arm(
            urn,
            school,
            allocation_by_urn.get(urn),
            allocations_given=allocations is not None,
            warnings=warnings,
        )
        if arm is not None:
            arm_of[urn] = arm
        elif school is not None:
            _exclude(excluded, school, consent_closed=consent_closed)

    target_pupils = None if pupils is None else _target_pupils(pupils, warnings)
    with_outcomes = (
        None if target_pupils is None else {p.urn for p in target_pupils if p.has_outcome}
    )
    arms = {arm: _new_arm(arm) for arm in ordered_arms([INTERVENTION, CONTROL, *arm_of.values()])}
    for urn, arm in arm_of.items():
        flow, school, allocation = arms[arm], school_by_urn.get(urn), allocation_by_urn.get(urn)
        flow.allocated.add(urn)
        if school is not None and school.status == WITHDRAWN:
            flow.lost_to_follow_up.add(urn, _reason(school.withdrawal_reason))
        elif allocation is not None and allocation.in_error:
            flow.excluded_from_analysis.add(urn, IN_ERROR)
        elif with_outcomes is None:
            flow.analysis_pending.add(urn)
        elif urn in with_outcomes:
            flow.analysed.add(urn)
        else:
            flow.excluded_from_analysis.add(urn, NO_OUTCOME)

    _count_receipt(arms, arm_of, compliance, warnings)
    if teachers is not None:
        _count_teachers(arms, arm_of, set(assessed), teachers, warnings)
    if target_pupils is not None:
        _count_pupils(arms, arm_of, target_pupils, warnings)

    result = ConsortFlow(
        assessed=Box("Assessed for eligibility", list(assessed)),
        excluded=excluded,
        randomised=Box("Randomised", sorted(arm_of)),
        arms=arms,
        icc=None if icc is None else _checked_icc(icc),
        missing_inputs=missing,
        warnings=warnings.render(),
    )
    check_partition(result)
    return result
