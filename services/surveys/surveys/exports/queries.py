"""Reading exports and shaping them as the API returns them (one query per page for the
related codebook versions and rounds, never one per export)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from rlc_shared.pagination import Page, PageParams, paginate
from surveys.errors import ExportNotFound
from surveys.models import CodebookVersion, Export, ExportStatus, RoundName, SurveyRound
from surveys.schemas import ExportProblem, ExportPublic, Links


def status_url(export_id: int) -> str:
    """Where an export's status is read (relative: the service may sit behind a path prefix)."""
    return f"/exports/{export_id}"


def by_webhook_id(session: Session, *, webhook_id: str) -> Export | None:
    return session.exec(select(Export).where(Export.webhook_id == webhook_id)).first()


def get_export(session: Session, *, export_id: int) -> Export:
    export = session.get(Export, export_id)
    if export is None:
        raise ExportNotFound(f"There is no export {export_id}.")
    return export


def _note(export: Export, *, round_ready: bool) -> str | None:
    if export.status == ExportStatus.received and not round_ready:
        return (
            f"Waiting for round {export.round!r} and its codebook: set them with "
            f"PUT /rounds/{export.round}; parsing starts then."
        )
    if export.last_error and export.status in (ExportStatus.received, ExportStatus.parsing):
        return f"The last attempt stopped ({export.last_error}); it is retried automatically."
    return None


def public_page(session: Session, exports: Sequence[Export]) -> list[ExportPublic]:
    version_ids = {e.codebook_version_id for e in exports if e.codebook_version_id is not None}
    versions = (
        dict(
            session.exec(
                select(CodebookVersion.id, CodebookVersion.version).where(
                    col(CodebookVersion.id).in_(version_ids)
                )
            ).all()
        )
        if version_ids
        else {}
    )
    rounds = set(session.exec(select(SurveyRound.name)).all())
    out = []
    for e in exports:
        assert e.id is not None
        out.append(
            ExportPublic(
                id=e.id,
                round=e.round,
                status=ExportStatus(e.status),
                rows=e.rows,
                linked=e.linked,
                unmatched=e.unmatched,
                duplicate_of=e.duplicate_of,
                links=Links(
                    exact=e.links_exact,
                    historical=e.links_historical,
                    domain=e.links_domain,
                    manual=e.links_manual,
                ),
                errors=[ExportProblem.model_validate(p) for p in e.errors],
                withdrawn=e.withdrawn,
                skipped=e.skipped,
                rows_rejected=e.rows_rejected,
                error_count=e.error_count,
                warnings=list(e.warnings),
                survey_id=e.survey_id,
                source="upload" if e.source == "upload" else "webhook",
                file_name=e.file_name,
                declared_format=e.declared_format,
                format=e.format,
                size_bytes=e.size_bytes,
                content_sha256=e.content_sha256,
                received_at=e.received_at,
                received_by=e.received_by,
                started_at=e.started_at,
                finished_at=e.finished_at,
                attempts=e.attempts,
                codebook_version=versions.get(e.codebook_version_id)
                if e.codebook_version_id is not None
                else None,
                note=_note(e, round_ready=e.round in rounds),
                status_url=status_url(e.id),
            )
        )
    return out


def public(session: Session, export: Export) -> ExportPublic:
    return public_page(session, [export])[0]


def export_public(session: Session, *, export_id: int) -> ExportPublic:
    return public(session, get_export(session, export_id=export_id))


def list_exports(
    session: Session,
    *,
    page: PageParams,
    round: RoundName | None,
    status: ExportStatus | None,
) -> Page[ExportPublic]:
    stmt = select(Export)
    if round is not None:
        stmt = stmt.where(Export.round == round.value)
    if status is not None:
        stmt = stmt.where(Export.status == status.value)
    rows, count, cursor = paginate(session, stmt, key=col(Export.id), params=page)
    return Page(data=public_page(session, rows), count=count, next_cursor=cursor)
