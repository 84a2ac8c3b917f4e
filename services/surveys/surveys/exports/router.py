"""Exports: the signed webhook (public), the authenticated upload, and reading exports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import RowId
from surveys.deps import (
    CurrentPrincipal,
    EvaluatorBucketDep,
    SessionDep,
    SettingsDep,
    StorageDep,
    TransactionsDep,
)
from surveys.errors import WebhookBodyTooLarge
from surveys.exports import queries, service
from surveys.formats import ExportFormat, declared_format
from surveys.models import ExportStatus, RoundName
from surveys.schemas import WEBHOOK_BODY_SCHEMA, ExportPublic, WebhookAccepted

#: Paths whose bodies may be larger than MAX_BODY_BYTES (the webhook keeps its own limit).
UPLOAD_PATHS = ("/exports", "/webhooks/ipsos")

router = APIRouter(tags=["exports"])
public_router = APIRouter(tags=["webhooks"])


async def _raw_body(request: Request, *, limit: int) -> bytes:
    """The body exactly as sent, refused (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise WebhookBodyTooLarge(f"The webhook body is larger than {limit:,} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookBodyTooLarge(
                f"The webhook body is larger than {limit:,} bytes; put large exports in the "
                "evaluator bucket and send data.file.object.key instead."
            )
        chunks.append(chunk)
    return b"".join(chunks)


@public_router.post(
    "/webhooks/ipsos",
    status_code=202,
    response_model=WebhookAccepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": WEBHOOK_BODY_SCHEMA}},
        }
    },
)
async def receive_ipsos_webhook(
    request: Request,
    transactions: TransactionsDep,
    settings: SettingsDep,
    storage: StorageDep,
    bucket: EvaluatorBucketDep,
) -> WebhookAccepted:
    """The survey platform's signed export notice (Standard Webhooks; no bearer token).

    The raw body is read and its signature verified before anything in it is parsed; the
    export is stored and recorded, then parsed in the background: poll ``status_url``.
    """
    body = await _raw_body(request, limit=settings.webhook_max_body_bytes)
    return await run_in_threadpool(
        service.receive_webhook,
        transactions,
        body=body,
        headers=request.headers,
        settings=settings,
        storage=storage,
        bucket=bucket,
    )


@router.post(
    "/exports",
    status_code=202,
    response_model=ExportPublic,
    dependencies=[requires("survey.upload_export")],
)
def upload_export(
    transactions: TransactionsDep,
    storage: StorageDep,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="the survey platform's export")],
    round: Annotated[RoundName, Form()],
    survey_id: Annotated[str | None, Form(min_length=1, max_length=200)] = None,
    format: Annotated[ExportFormat | None, Form(description="csv, xlsx, sav or json")] = None,
) -> ExportPublic:
    """An export uploaded by hand; stored and parsed exactly as a webhook's."""
    return service.receive_upload(
        transactions,
        stream=file.file,
        file_name=file.filename,
        round=round.value,
        survey_id=survey_id,
        declared_format=format or declared_format(file.content_type),
        storage=storage,
        actor=principal,
    )


@router.get("/exports", response_model=Page[ExportPublic], dependencies=[requires("survey.read")])
async def list_exports(
    session: SessionDep,
    page: PageDep,
    round: RoundName | None = None,
    status: ExportStatus | None = None,
) -> Page[ExportPublic]:
    """Exports, oldest first, with their parsing status and counts."""
    return queries.list_exports(session, page=page, round=round, status=status)


@router.get(
    "/exports/{export_id}", response_model=ExportPublic, dependencies=[requires("survey.read")]
)
async def get_export(export_id: RowId, session: SessionDep) -> ExportPublic:
    """One export: status, counts, links by kind, errors."""
    return queries.export_public(session, export_id=export_id)
