"""A teacher's withdrawal from data collection: their parsed responses are deleted, on request.

The request names the teacher by the email their responses gave (or their respondent id); it
is turned into the teacher's pseudonym and discarded: neither the address nor the id is kept or
audited. The pseudonym is remembered (``teacher_withdrawal``) so that later exports leave the
teacher out too. Responses of teachers whose staff record in the recruitment service says they
withdrew from questionnaires or data processing are left out when an export is parsed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlmodel import Session, col, delete, select

from rlc_shared.audit import utcnow
from rlc_shared.emails import InvalidEmail
from surveys.auditing import audit
from surveys.errors import InvalidWithdrawal
from surveys.models import Export, SurveyResponse, TeacherWithdrawal
from surveys.pseudonyms import Pseudonymiser
from surveys.schemas import WithdrawalOut


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
    responses = session.exec(
        select(SurveyResponse.export_id, SurveyResponse.link_kind).where(
            SurveyResponse.teacher_key == key
        )
    ).all()
    for (export_id, kind), n in Counter(responses).items():
        export = session.get(Export, export_id, with_for_update=True)
        if export is None:
            continue
        export.withdrawn += n
        if kind is None:
            export.unmatched = max(0, export.unmatched - n)
        else:
            name = f"links_{kind}"
            setattr(export, name, max(0, getattr(export, name) - n))
            export.linked = max(0, export.linked - n)
        session.add(export)
    # The unmatched queue's items of these responses go with them (ON DELETE CASCADE).
    session.exec(delete(SurveyResponse).where(col(SurveyResponse.teacher_key) == key))
    deleted = len(responses)
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
        action="teacher.responses_deleted",
        entity_type="teacher",
        entity_id=key,
        new={"responses_deleted": deleted},
        reason=reason,
    )
    session.flush()
    return WithdrawalOut(
        teacher_key=key, responses_deleted=deleted, requested_at=record.requested_at
    )
