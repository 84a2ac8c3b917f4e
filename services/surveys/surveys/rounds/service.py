"""Rounds and their codebooks.

``PUT /rounds/{round}`` is idempotent: the same survey id, dates and codebook (compared by the
codebook's fingerprint) change nothing and record nothing. A codebook no export has used yet is
changed in place; once an export was parsed with it, it is frozen and a change makes a new
version. Existing scores stay as they were until the evaluator asks for the round's exports to
be scored again (``POST /rounds/{round}/rescore``, audited), which re-reads them from the raw
archive with the current codebook.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from rlc_shared.audit import utcnow
from rlc_shared.versions import VersionedCache
from surveys.auditing import audit
from surveys.errors import NotAllowedNow, RoundNotFound
from surveys.models import CodebookVersion, Export, RoundName, SurveyRound
from surveys.processing.state import reset_for_parsing
from surveys.schemas import CodebookVersionPublic, RescoreOut, RoundIn, RoundPublic, RoundsPublic
from surveys.scoring import Codebook

ROUND_FIELDS = ["survey_id", "opens_on", "closes_on", "codebook_version"]


def round_missing(name: str) -> RoundNotFound:
    return RoundNotFound(
        f"Round {name!r} is not set up yet: the evaluator sets it with PUT /rounds/{name}."
    )


def get_round(session: Session, *, name: str, lock: bool = False) -> SurveyRound:
    rnd = session.get(SurveyRound, name, with_for_update=lock or None)
    if rnd is None:
        raise round_missing(name)
    return rnd


def current_version(session: Session, *, rnd: SurveyRound, lock: bool = False) -> CodebookVersion:
    """The round's current codebook version; ``lock``: against a worker freezing it meanwhile
    (a claim locks it too), so a version is never changed in place once an export used it."""
    stmt = select(CodebookVersion).where(
        CodebookVersion.round == rnd.name, CodebookVersion.version == rnd.codebook_version
    )
    return session.exec(stmt.with_for_update() if lock else stmt).one()


def current_codebook(
    session: Session, *, name: str
) -> tuple[SurveyRound, CodebookVersion, Codebook]:
    rnd = get_round(session, name=name)
    version = current_version(session, rnd=rnd)
    return rnd, version, Codebook.model_validate(version.codebook)


def _state(rnd: SurveyRound, fingerprint: str) -> dict[str, Any]:
    return {
        "survey_id": rnd.survey_id,
        "opens_on": rnd.opens_on,
        "closes_on": rnd.closes_on,
        "codebook_version": rnd.codebook_version,
        "codebook_fingerprint": fingerprint,
    }


def put_round(
    session: Session, *, name: RoundName, data: RoundIn, actor: Any
) -> tuple[SurveyRound, bool]:
    """Set the round and its codebook; returns the round and whether anything changed."""
    who = actor.sub
    codebook = data.codebook.model_dump(mode="json")
    fingerprint = data.codebook.fingerprint()
    rnd = session.get(SurveyRound, name.value, with_for_update=True)
    if rnd is None:
        rnd = SurveyRound(
            name=name.value,
            survey_id=data.survey_id,
            opens_on=data.opens_on,
            closes_on=data.closes_on,
            codebook_version=1,
            updated_by=who,
        )
        session.add(rnd)
        try:
            session.flush()  # the round before its codebook (the codebook's foreign key)
        except IntegrityError:
            raise NotAllowedNow(
                f"Round {name.value!r} was created by another request at the same moment; "
                "send the PUT again."
            ) from None
        session.add(
            CodebookVersion(
                round=name.value,
                version=1,
                codebook=codebook,
                fingerprint=fingerprint,
                created_by=who,
            )
        )
        session.flush()
        audit(
            session,
            actor=actor,
            action="round.created",
            entity_type="round",
            entity_id=name.value,
            new=_state(rnd, fingerprint),
        )
        return rnd, True

    version = current_version(session, rnd=rnd, lock=True)
    before = _state(rnd, version.fingerprint)
    changed = False
    if version.fingerprint != fingerprint:
        changed = True
        old_version = {
            "codebook_version": version.version,
            "codebook_fingerprint": version.fingerprint,
        }
        if version.frozen_at is None:
            # No export was parsed with it: correct it in place.
            version.codebook = codebook
            version.fingerprint = fingerprint
            session.add(version)
            action = "codebook.changed"
        else:
            latest = session.exec(
                select(func.max(CodebookVersion.version)).where(CodebookVersion.round == name.value)
            ).one()
            rnd.codebook_version = int(latest or 0) + 1
            session.add(
                CodebookVersion(
                    round=name.value,
                    version=rnd.codebook_version,
                    codebook=codebook,
                    fingerprint=fingerprint,
                    created_by=who,
                )
            )
            action = "codebook.versioned"
        audit(
            session,
            actor=actor,
            action=action,
            entity_type="round",
            entity_id=name.value,
            old=old_version,
            new={"codebook_version": rnd.codebook_version, "codebook_fingerprint": fingerprint},
        )
    for field in ("survey_id", "opens_on", "closes_on"):
        value = getattr(data, field)
        if getattr(rnd, field) != value:
            setattr(rnd, field, value)
            changed = True
    if changed:
        rnd.updated_at = utcnow()
        rnd.updated_by = who
        session.add(rnd)
        after = _state(rnd, fingerprint)
        audit(
            session,
            actor=actor,
            action="round.updated",
            entity_type="round",
            entity_id=name.value,
            old={k: v for k, v in before.items() if k != "codebook_fingerprint"},
            new={k: v for k, v in after.items() if k != "codebook_fingerprint"},
        )
        session.flush()
    return rnd, changed


def round_public(session: Session, *, rnd: SurveyRound, changed: bool | None = None) -> RoundPublic:
    versions = session.exec(
        select(CodebookVersion)
        .where(CodebookVersion.round == rnd.name)
        .order_by(col(CodebookVersion.version))
    ).all()
    current = next(v for v in versions if v.version == rnd.codebook_version)
    return RoundPublic(
        round=RoundName(rnd.name),
        survey_id=rnd.survey_id,
        opens_on=rnd.opens_on,
        closes_on=rnd.closes_on,
        codebook=current.codebook,
        codebook_version=current.version,
        codebook_fingerprint=current.fingerprint,
        codebook_frozen=current.frozen_at is not None,
        codebook_versions=[
            CodebookVersionPublic(
                version=v.version,
                fingerprint=v.fingerprint,
                created_at=v.created_at,
                created_by=v.created_by,
                frozen_at=v.frozen_at,
            )
            for v in versions
        ],
        updated_at=rnd.updated_at,
        updated_by=rnd.updated_by,
        changed=changed,
    )


def set_round(session: Session, *, name: RoundName, data: RoundIn, actor: Any) -> RoundPublic:
    """``PUT /rounds/{round}``: set the round; the answer says whether anything changed."""
    rnd, changed = put_round(session, name=name, data=data, actor=actor)
    return round_public(session, rnd=rnd, changed=changed)


#: Rounds as read, once per version of the rounds and their codebooks (a round with its codebook
#: is the largest answer of the hot reads, and changes a few times a year).
ROUNDS = VersionedCache("rounds", size=16)


def read_round(session: Session, *, name: RoundName) -> RoundPublic:
    return ROUNDS.get_or_compute(
        session, name, lambda: round_public(session, rnd=get_round(session, name=name.value))
    )


def list_rounds(session: Session) -> RoundsPublic:
    rounds = session.exec(select(SurveyRound).order_by(col(SurveyRound.created_at))).all()
    data = [round_public(session, rnd=r) for r in rounds]
    return RoundsPublic(data=data, count=len(data))


def request_rescore(session: Session, *, name: RoundName, reason: str, actor: Any) -> RescoreOut:
    """Queue the round's exports to be parsed and scored again with its current codebook.

    Duplicates are not (their original is). An export being parsed is taken back from its
    worker, which notices at its next chunk and stops; it is then parsed again from the start.
    """
    rnd = get_round(session, name=name.value, lock=True)
    exports = session.exec(
        select(Export)
        .where(Export.round == name.value, col(Export.duplicate_of).is_(None))
        .order_by(col(Export.id))
        .with_for_update()
    ).all()
    queued = []
    for export in exports:
        before = {"status": export.status, "codebook_version_id": export.codebook_version_id}
        reset_for_parsing(export)
        session.add(export)
        queued.append(export.id or 0)
        audit(
            session,
            actor=actor,
            action="export.rescore_requested",
            entity_type="export",
            entity_id=export.id,
            old=before,
            new={"status": export.status, "codebook_version_id": None},
            reason=reason,
            diff=False,
        )
    audit(
        session,
        actor=actor,
        action="round.rescore_requested",
        entity_type="round",
        entity_id=name.value,
        new={"codebook_version": rnd.codebook_version, "exports": queued},
        reason=reason,
    )
    return RescoreOut(round=name, codebook_version=rnd.codebook_version, exports=queued)
