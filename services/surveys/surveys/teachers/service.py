"""A teacher's withdrawal from data collection: their parsed responses are deleted.

On request: the request names the teacher by the email their responses gave (or their
respondent id); it is turned into the teacher's pseudonym and discarded: neither the address
nor the id is kept or audited. The pseudonym is remembered (``teacher_withdrawal``) so that
later exports leave the teacher out too.

From the recruitment service: responses of teachers whose staff record says they withdrew from
questionnaires or data processing are left out when an export is parsed; a teacher who
withdraws there later is found by the withdrawal check (``surveys.teachers.check``), which
hands what it found to :func:`apply_staff_withdrawals`: the same deletion, audited with the
staff record's withdrawal as the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete as sa_delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from rlc_shared.audit import utcnow
from rlc_shared.emails import InvalidEmail
from surveys.auditing import WORKER_ACTOR, audit
from surveys.errors import InvalidWithdrawal
from surveys.models import Export, SurveyResponse, TeacherWithdrawal
from surveys.pseudonyms import Pseudonymiser
from surveys.schemas import WithdrawalOut
from surveys.teachers.staff import StaffWithdrawal

#: The audit action of every deletion of a teacher's responses (on request or found).
RESPONSES_DELETED = "teacher.responses_deleted"


def withdraw_teacher(
    session: Session,
    *,
    pseudonymiser: Pseudonymiser,
    email: str | None,
    respondent_id: str | None,
    reason: str,
    actor: Any,
) -> WithdrawalOut:
    if email is not None:
        try:
            key = pseudonymiser.teacher_from_raw_email(email)
        except InvalidEmail as exc:
            raise InvalidWithdrawal(f"email: {exc}") from None
    else:
        assert respondent_id is not None
        key = pseudonymiser.teacher_by_id(respondent_id.strip())
    deleted = delete_responses(session, teacher_keys=[key])[key]
    record = session.get(TeacherWithdrawal, key, with_for_update=True)
    if record is None:
        record = TeacherWithdrawal(
            teacher_key=key, requested_by=actor.sub, reason=reason, responses_deleted=deleted
        )
    else:
        record.responses_deleted += deleted
        record.requested_at = utcnow()
        record.requested_by = actor.sub
        record.reason = reason
    session.add(record)
    audit(
        session,
        actor=actor,
        action=RESPONSES_DELETED,
        entity_type="teacher",
        entity_id=key,
        new={"responses_deleted": deleted},
        reason=reason,
    )
    session.flush()
    return WithdrawalOut(
        teacher_key=key, responses_deleted=deleted, requested_at=record.requested_at
    )


def delete_responses(session: Session, *, teacher_keys: Collection[str]) -> Counter[str]:
    """Delete the teachers' parsed responses (every round) and take them out of their exports'
    counts (as ``withdrawn``); how many went, per teacher.

    The exports are locked before their responses are deleted, the order the parsing worker
    takes them in, so the two never wait on each other in a circle. A response written after
    the exports were read (an export parsed at this very moment) stays, and is found by the
    next withdrawal check (:func:`apply_staff_withdrawals`).
    """
    if not teacher_keys:
        return Counter()
    keys = sorted(set(teacher_keys))
    export_ids = session.exec(
        select(SurveyResponse.export_id).where(col(SurveyResponse.teacher_key).in_(keys)).distinct()
    ).all()
    exports: dict[int, Export] = {}
    for export_id in sorted(export_ids):
        export = session.get(Export, export_id, with_for_update=True, populate_existing=True)
        if export is not None:
            exports[export_id] = export
    if not exports:
        return Counter()
    # The unmatched queue's items of these responses go with them (ON DELETE CASCADE).
    gone = session.execute(
        sa_delete(SurveyResponse)
        .where(
            col(SurveyResponse.teacher_key).in_(keys),
            col(SurveyResponse.export_id).in_(list(exports)),
        )
        .returning(
            col(SurveyResponse.teacher_key),
            col(SurveyResponse.export_id),
            col(SurveyResponse.link_kind),
        )
    ).all()
    for (export_id, kind), n in Counter((e, k) for _, e, k in gone).items():
        export = exports[export_id]
        export.withdrawn += n
        if kind is None:
            export.unmatched = max(0, export.unmatched - n)
        else:
            name = f"links_{kind}"
            setattr(export, name, max(0, getattr(export, name) - n))
            export.linked = max(0, export.linked - n)
        session.add(export)
    return Counter(key for key, _, _ in gone)


@dataclass(frozen=True)
class Applied:
    """What one withdrawal check changed."""

    teachers: int = 0  # newly recorded as withdrawn
    responses: int = 0  # responses deleted (theirs, and any left of teachers withdrawn before)


def apply_staff_withdrawals(
    session: Session, *, found: Mapping[str, StaffWithdrawal], actor: Any = WORKER_ACTOR
) -> Applied:
    """Record the teachers whose staff record withdrew them (``found``: pseudonym → the
    record's withdrawal) and delete their responses, then any response still held of a teacher
    recorded as withdrawn before (written while that was being recorded); each teacher whose
    record or responses changed is audited. Idempotent: a second check, or another process's
    at the same time, changes nothing more.
    """
    now = utcnow()
    new: dict[str, StaffWithdrawal] = {}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for key, staff_withdrawal in sorted(found.items()):
        # On PostgreSQL a concurrent check's uncommitted row makes this wait, then do nothing.
        result = session.execute(
            insert(TeacherWithdrawal)
            .values(
                teacher_key=key,
                requested_at=now,
                requested_by=str(actor),
                reason=staff_withdrawal.describe(),
                responses_deleted=0,
            )
            .on_conflict_do_nothing(index_elements=["teacher_key"])
            .returning(col(TeacherWithdrawal.teacher_key))
        )
        if result.first() is not None:  # recorded now (not by a request or another check)
            new[key] = staff_withdrawal
    holding = session.exec(
        select(SurveyResponse.teacher_key)
        .where(col(SurveyResponse.teacher_key).in_(select(TeacherWithdrawal.teacher_key)))
        .distinct()
    ).all()
    deleted = delete_responses(session, teacher_keys=holding)
    for key in sorted(new.keys() | deleted.keys()):
        record = session.get(TeacherWithdrawal, key, with_for_update=True, populate_existing=True)
        assert record is not None
        n = deleted[key]
        record.responses_deleted += n
        session.add(record)
        withdrawal = new.get(key)
        audit(
            session,
            actor=actor,
            action=RESPONSES_DELETED,
            entity_type="teacher",
            entity_id=key,
            new={"responses_deleted": n}
            | (
                {"withdrawn_on": withdrawal.withdrawn_on, "withdrawal_covers": withdrawal.covers}
                if withdrawal
                else {}
            ),
            reason=(
                withdrawal.describe() + " Their parsed responses are left out of the scores, "
                "the response rates and the download; the raw export is not changed."
                if withdrawal
                else "The teacher was withdrawn before; these responses of theirs were written "
                "while that was being recorded."
            ),
        )
    session.flush()
    return Applied(teachers=len(new), responses=sum(deleted.values()))
