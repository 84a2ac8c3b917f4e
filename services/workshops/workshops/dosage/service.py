"""The compliance rule's versions, and each enrolled school's dosage under one of them.

A rule is set by the evaluator as a draft, then frozen: timestamped, audited, its fingerprint
recorded, never changed again (a change is a new version). Dosage is computed on request from
the attendance recorded, under the latest frozen rule or a named version; statuses that follow
the threshold are classified by the rule's own threshold, so a frozen rule's dosage does not move
when delivery staff change the threshold they work with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from rlc_shared.audit import utcnow
from rlc_shared.auth import Principal
from rlc_shared.pagination import Page, PageParams, paginate
from rlc_shared.policy import Target, Visibility, authorize, scope_filter, visibility
from workshops.attendance import service as attendance
from workshops.attendance_rules import classify
from workshops.auditing import audit
from workshops.compliance import AttendanceRecord, ComplianceRule, StandIn, evaluate
from workshops.computed import COMPUTED
from workshops.errors import (
    InvalidComplianceRule,
    NoFrozenRule,
    RuleFrozen,
    RuleNotFound,
    SchoolNotEnrolled,
)
from workshops.models import Attendance, Attendee, CohortSession, ComplianceRuleVersion, Enrolment
from workshops.schemas import ComplianceRuleIn, DosagePublic, RuleCreate, RulePublic

DRAFT, FROZEN = "draft", "frozen"

# The dosage reads are prebuilt Core statements with bound parameters: building a statement (the
# stand-in's alias above all) costs more than running it.
_ABSENT_FOR = aliased(Attendee)
_ATTENDANCE_OF = (
    sa.select(
        col(Attendee.id),
        col(Attendee.urn),
        col(Attendee.role),
        col(CohortSession.key),
        col(CohortSession.duration_minutes),
        col(CohortSession.actual_minutes),
        col(Attendance.status),
        col(Attendance.status_fixed),
        col(Attendance.minutes),
        col(Attendance.on_behalf_of_id),
        col(_ABSENT_FOR.role),
    )
    .join(Attendance, col(Attendance.attendee_id) == Attendee.id)
    .join(CohortSession, col(CohortSession.id) == Attendance.session_id)
    .outerjoin(_ABSENT_FOR, col(_ABSENT_FOR.id) == Attendance.on_behalf_of_id)
    .where(col(Attendee.urn).in_(sa.bindparam("urns", expanding=True)))
)
_ENROLMENT_OF = select(Enrolment).where(Enrolment.urn == sa.bindparam("urn"))
_LATEST_FROZEN = (
    select(ComplianceRuleVersion)
    .where(ComplianceRuleVersion.status == FROZEN)
    .order_by(col(ComplianceRuleVersion.version).desc())
    .limit(1)
)
_RULE_VERSION = select(ComplianceRuleVersion).where(
    ComplianceRuleVersion.version == sa.bindparam("version")
)


# --- the rule -----------------------------------------------------------------------------


def _rule_of(row: ComplianceRuleVersion) -> ComplianceRule:
    return ComplianceRule.model_validate(row.rule)


def rule_public(row: ComplianceRuleVersion) -> RulePublic:
    rule = _rule_of(row)
    return RulePublic(
        version=row.version,
        status=row.status,  # type: ignore[arg-type]
        rule=rule.model_dump(mode="json"),
        fingerprint=row.fingerprint,
        canonical_json=rule.canonical_json(),
        note=row.note,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        frozen_at=row.frozen_at,
        frozen_by=row.frozen_by,
    )


def _build(session: Session, data: ComplianceRuleIn) -> ComplianceRule:
    values: dict[str, Any] = data.model_dump(exclude_none=True)
    if "attendance_threshold" not in values:
        values["attendance_threshold"] = attendance.current_threshold(session)[0].model_dump()
    try:
        return ComplianceRule.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'rule'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidComplianceRule(f"The compliance rule is not valid: {problems}.") from None


def get_rule(session: Session, *, version: int, lock: bool = False) -> ComplianceRuleVersion:
    stmt = _RULE_VERSION.with_for_update() if lock else _RULE_VERSION
    row = session.exec(stmt, params={"version": version}).first()
    if row is None:
        raise RuleNotFound(
            f"There is no compliance rule version {version}; GET /compliance-rules lists them."
        )
    return row


def rule_by_version(session: Session, *, version: int) -> RulePublic:
    return rule_public(get_rule(session, version=version))


#: How often a new version is numbered again after a concurrent draft took its number.
VERSION_ATTEMPTS = 5


def create_rule(session: Session, *, data: RuleCreate, actor: Principal) -> RulePublic:
    """A new draft version (the next number).

    Two drafts made at the same moment both read the same latest version; the second insert then
    fires the unique constraint on ``version`` (on PostgreSQL once the first commits). Each try
    runs in a savepoint, so that one is undone alone and the number read again (it now sees the
    other draft). On SQLite writers are already serialised (``BEGIN IMMEDIATE``).
    """
    rule = _build(session, data.rule)
    for attempt in range(1, VERSION_ATTEMPTS + 1):
        latest = session.exec(select(func.max(ComplianceRuleVersion.version))).one()
        row = ComplianceRuleVersion(
            version=(latest or 0) + 1,
            rule=rule.model_dump(mode="json"),
            fingerprint=rule.fingerprint(),
            status=DRAFT,
            note=data.note,
            created_by=actor.sub,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            break
        except IntegrityError:
            if attempt == VERSION_ATTEMPTS:
                raise
    audit(
        session,
        actor=actor,
        action="compliance_rule.drafted",
        entity_type="compliance_rule",
        entity_id=row.version,
        new={"rule": row.rule, "fingerprint": row.fingerprint},
        reason=data.note,
    )
    return rule_public(row)


def update_rule(
    session: Session, *, version: int, data: RuleCreate, actor: Principal
) -> RulePublic:
    """Change a draft; a frozen rule is refused (409): a change is a new version."""
    row = get_rule(session, version=version, lock=True)
    if row.status == FROZEN:
        raise RuleFrozen(
            f"Compliance rule version {version} was frozen on {row.frozen_at:%Y-%m-%d %H:%M} UTC "
            "and is never changed; create a new version (POST /compliance-rules) instead.",
            fingerprint=row.fingerprint,
        )
    rule = _build(session, data.rule)
    old = {"rule": row.rule, "fingerprint": row.fingerprint, "note": row.note}
    row.rule, row.fingerprint = rule.model_dump(mode="json"), rule.fingerprint()
    row.note, row.updated_at = data.note, utcnow()
    session.add(row)
    audit(
        session,
        actor=actor,
        action="compliance_rule.updated",
        entity_type="compliance_rule",
        entity_id=version,
        old=old,
        new={"rule": row.rule, "fingerprint": row.fingerprint, "note": row.note},
        reason=data.note,
    )
    return rule_public(row)


def freeze_rule(
    session: Session, *, version: int, reason: str | None, actor: Principal
) -> RulePublic:
    """Freeze a draft: from now on it is never changed."""
    row = get_rule(session, version=version, lock=True)
    if row.status == FROZEN:
        raise RuleFrozen(
            f"Compliance rule version {version} is already frozen (since "
            f"{row.frozen_at:%Y-%m-%d %H:%M} UTC).",
            fingerprint=row.fingerprint,
        )
    row.status, row.frozen_at, row.frozen_by = FROZEN, utcnow(), actor.sub
    row.updated_at = row.frozen_at
    session.add(row)
    audit(
        session,
        actor=actor,
        action="compliance_rule.frozen",
        entity_type="compliance_rule",
        entity_id=version,
        old={"status": DRAFT},
        new={"status": FROZEN, "fingerprint": row.fingerprint, "frozen_at": row.frozen_at},
        reason=reason,
    )
    return rule_public(row)


def list_rules(session: Session, *, page: PageParams) -> Page[RulePublic]:
    rows, count, cursor = paginate(
        session, select(ComplianceRuleVersion), key=col(ComplianceRuleVersion.version), params=page
    )
    return Page(data=[rule_public(r) for r in rows], count=count, next_cursor=cursor)


def rule_for_dosage(session: Session, *, version: int | None) -> ComplianceRuleVersion:
    """The named version, else the latest frozen one."""
    if version is not None:
        return get_rule(session, version=version)
    row = session.exec(_LATEST_FROZEN).first()
    if row is None:
        raise NoFrozenRule(
            "No compliance rule is frozen yet, so there is no dosage to report under one: the "
            "evaluator sets it (POST /compliance-rules) and freezes it "
            "(POST /compliance-rules/{version}/freeze); a draft can be previewed with "
            "?rule_version=."
        )
    return row


# --- dosage -------------------------------------------------------------------------------


def compute(
    session: Session, *, rule_row: ComplianceRuleVersion, enrolments: Sequence[Enrolment]
) -> list[DosagePublic]:
    """The dosage of ``enrolments`` under the rule (one query for all their attendance)."""
    if not enrolments:
        return []
    rule = _rule_of(rule_row)
    urns = [e.urn for e in enrolments]
    rows = session.execute(_ATTENDANCE_OF, {"urns": urns}).all()
    threshold = rule.attendance_threshold
    records = []
    for (
        attendee_id,
        urn,
        role,
        key,
        planned,
        actual,
        status,
        fixed,
        minutes,
        for_id,
        for_role,
    ) in rows:
        if not fixed:
            status = classify(minutes, session_minutes=actual or planned, threshold=threshold)
        records.append(
            AttendanceRecord(
                urn=urn,
                staff_id=attendee_id,
                role=role,
                session=key,
                status=status,
                minutes=minutes,
                stands_in_for=StandIn(for_id, for_role) if for_id is not None else None,
            )
        )
    verdicts = evaluate(rule, records, schools=urns)
    out = []
    for enrolment in enrolments:
        v = verdicts[enrolment.urn]
        out.append(
            DosagePublic(
                urn=v.urn,
                workshops_attended=v.workshops_attended,
                sessions_attended=v.sessions_attended,
                minutes=round(v.minutes, 2),
                complier=v.complier,
                rule_version=rule_row.version,
                rule_fingerprint=rule_row.fingerprint,
                rule_frozen=rule_row.status == FROZEN,
                reason=v.reason,
                la_code=enrolment.la_code,
                cohort_id=enrolment.cohort_id,
                sessions_by_role=v.sessions_by_role,
                minutes_by_session={k: round(m, 2) for k, m in v.minutes_by_session.items()},
                best_person_sessions=v.best_person_sessions,
                best_person_role=v.best_person_role,
                school_sessions=v.school_sessions,
                stand_in_sessions=v.stand_in_sessions,
            )
        )
    return out


def dosage_page(
    session: Session,
    *,
    principal: Principal,
    page: PageParams,
    rule_version: int | None,
    la_code: str | None,
    cohort_id: int | None,
) -> Page[DosagePublic]:
    """Every enrolled school the caller may see, by URN, with its dosage."""
    vis = visibility(principal, "workshop.read_attendance")
    key = ("page", vis, rule_version, la_code, cohort_id, page.limit, page.after)
    return COMPUTED.get_or_compute(
        session,
        key,
        lambda: _dosage_page(
            session,
            vis=vis,
            page=page,
            rule_version=rule_version,
            la_code=la_code,
            cohort_id=cohort_id,
        ),
    )


def _dosage_page(
    session: Session,
    *,
    vis: Visibility,
    page: PageParams,
    rule_version: int | None,
    la_code: str | None,
    cohort_id: int | None,
) -> Page[DosagePublic]:
    rule_row = rule_for_dosage(session, version=rule_version)
    stmt = select(Enrolment)
    condition = scope_filter(vis, la_code=col(Enrolment.la_code), urn=col(Enrolment.urn))
    if condition is not None:
        stmt = stmt.where(condition)
    if la_code:
        stmt = stmt.where(Enrolment.la_code == la_code)
    if cohort_id is not None:
        stmt = stmt.where(Enrolment.cohort_id == cohort_id)
    rows, count, cursor = paginate(session, stmt, key=col(Enrolment.urn), params=page)
    return Page(
        data=compute(session, rule_row=rule_row, enrolments=rows), count=count, next_cursor=cursor
    )


def _not_enrolled(urn: int) -> SchoolNotEnrolled:
    return SchoolNotEnrolled(
        f"School {urn} is not enrolled in any cohort (only intervention schools take the "
        "programme, so only they have a dosage)."
    )


def _enrolment(session: Session, urn: int) -> Enrolment | None:
    """The school's enrolment as a detached copy, safe to keep beyond this session (a session's
    rollback expires the objects it loaded)."""
    found = session.exec(_ENROLMENT_OF, params={"urn": urn}).first()
    return None if found is None else Enrolment(**found.model_dump())


def dosage_of(
    session: Session, *, principal: Principal, urn: int, rule_version: int | None
) -> DosagePublic:
    computed = COMPUTED.at(session)  # one version for both: a single query for its token
    enrolment = computed.get_or_compute(("enrolment", urn), lambda: _enrolment(session, urn))
    if enrolment is None:
        raise _not_enrolled(urn)
    authorize(
        principal,
        "workshop.read_attendance",
        Target(la_code=enrolment.la_code, urn=urn),
        hidden=lambda: _not_enrolled(urn),
    )
    return computed.get_or_compute(
        ("school", urn, rule_version),
        lambda: compute(
            session,
            rule_row=rule_for_dosage(session, version=rule_version),
            enrolments=[enrolment],
        )[0],
    )
