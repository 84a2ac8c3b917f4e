"""Receiving exports: the signed webhook and the authenticated upload.

The raw file is stored first, content-addressed (``exports/<sha256>``) in object storage, and
only then is the export recorded; the 202 answer means both are durable. Parsing is the worker's
(``surveys.processing``). Idempotency: the same ``webhook-id`` again answers the first export and
does nothing else; the same bytes under another id (or uploaded by hand) are recorded as a
duplicate of the first export with that content and not parsed again.

No database transaction is open while the body is verified, fetched from the evaluator bucket
or written to storage: those are network calls of unbounded length.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from rlc_shared.audit import utcnow
from rlc_shared.db import Transactions
from rlc_shared.errors import ServiceUnavailable
from rlc_shared.storage import ObjectStorage
from surveys.auditing import WEBHOOK_ACTOR, audit
from surveys.config import Settings
from surveys.errors import ExportNotRecorded, InvalidWebhookPayload
from surveys.exports import queries
from surveys.exports.bucket import EvaluatorBucket
from surveys.models import Export, ExportStatus
from surveys.schemas import ExportPublic, WebhookAccepted, WebhookEvent
from surveys.signatures import verify_webhook
from surveys.text import clean

logger = logging.getLogger(__name__)

__all__ = ["StoredRaw", "receive_upload", "receive_webhook", "store_raw"]

_SPOOL_IN_MEMORY = 16 * 1024 * 1024
_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class StoredRaw:
    key: str
    sha256: str
    size: int


def content_key(sha256: str) -> str:
    return f"exports/{sha256}"


def _hash_copy(source: BinaryIO, out: IO[bytes] | None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while block := source.read(_BLOCK):
        digest.update(block)
        size += len(block)
        if out is not None:
            out.write(block)
    return digest.hexdigest(), size


def store_raw(storage: ObjectStorage, *, stream: BinaryIO) -> StoredRaw:
    """Store the bytes of ``stream`` under their SHA-256 (once: the same bytes are never
    written twice, and a stored export is never overwritten)."""
    spool: IO[bytes] | None = None
    try:
        if stream.seekable():
            start = stream.tell()
            sha, size = _hash_copy(stream, None)
            stream.seek(start)
            source: BinaryIO = stream
        else:
            spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
            sha, size = _hash_copy(stream, spool)
            spool.seek(0)
            source = spool  # type: ignore[assignment]
        key = content_key(sha)
        if not storage.exists(key):
            storage.put(key, source, content_type="application/octet-stream")
        return StoredRaw(key=key, sha256=sha, size=size)
    finally:
        if spool is not None:
            spool.close()


@dataclass(frozen=True)
class Incoming:
    round: str
    survey_id: str | None
    file_name: str
    declared_format: str | None
    source: str
    webhook_id: str | None


def _original(session: Session, sha256: str) -> Export | None:
    return session.exec(
        select(Export)
        .where(Export.content_sha256 == sha256, col(Export.duplicate_of).is_(None))
        .order_by(col(Export.id))
        .limit(1)
    ).first()


def record_export(session: Session, *, incoming: Incoming, stored: StoredRaw, actor: Any) -> Export:
    """The export row for a stored file: received, or done at once as a duplicate."""
    original = _original(session, stored.sha256)
    export = Export(
        round=incoming.round,
        survey_id=incoming.survey_id,
        source=incoming.source,
        webhook_id=incoming.webhook_id,
        file_name=incoming.file_name[:255],
        declared_format=incoming.declared_format,
        content_sha256=stored.sha256,
        size_bytes=stored.size,
        storage_key=stored.key,
        status=ExportStatus.received,
        received_by=getattr(actor, "sub", None) or str(actor),
    )
    if original is not None:
        export.duplicate_of = original.id
        export.status = ExportStatus.done
        export.finished_at = utcnow()
        export.warnings = [
            f"The same file (SHA-256 {stored.sha256[:12]}…) arrived before as export "
            f"{original.id}, so it was not parsed again. To parse the round's exports again "
            "with its current codebook, use POST /rounds/{round}/rescore."
        ]
    session.add(export)
    session.flush()  # the id, and the unique webhook id / original-content checks, now
    audit(
        session,
        actor=actor,
        action="export.received",
        entity_type="export",
        entity_id=export.id,
        new={
            "round": export.round,
            "source": export.source,
            "webhook_id": export.webhook_id,
            "content_sha256": export.content_sha256,
            "size_bytes": export.size_bytes,
            "status": export.status,
            "duplicate_of": export.duplicate_of,
        },
    )
    return export


_RECORD_ATTEMPTS = 3


def _record(
    transactions: Transactions, *, incoming: Incoming, stored: StoredRaw, actor: Any
) -> Export:
    """Record the export; a concurrent delivery of the same webhook id, or of the same content,
    is settled by the unique indexes and the loser takes the winner's answer.

    Two attempts settle any race between two deliveries (the second sees the winner's row); a
    constraint that still fires on the third is not a race this function can settle, so the
    sender is told to send the same delivery again (a 503, which survey platforms retry).
    """
    last: IntegrityError | None = None
    for _ in range(_RECORD_ATTEMPTS):
        try:
            with transactions() as session:
                return record_export(session, incoming=incoming, stored=stored, actor=actor)
        except IntegrityError as exc:
            last = exc
            if incoming.webhook_id is not None:
                with transactions() as session:
                    existing = queries.by_webhook_id(session, webhook_id=incoming.webhook_id)
                if existing is not None:
                    return existing
            # Another original of the same content committed first: record as its duplicate.
    logger.error(
        "export %s… could not be recorded: a database constraint fired %d times",
        stored.sha256[:12],
        _RECORD_ATTEMPTS,
        exc_info=last,
    )
    raise ExportNotRecorded(
        f"The export's file was stored (SHA-256 {stored.sha256[:12]}…), but recording it "
        f"collided with other writes {_RECORD_ATTEMPTS} times, so it was not queued for "
        "parsing. Send the same delivery again in a few seconds: it is then recorded once, "
        "or answered with the export already recorded for it. If this persists, look at the "
        "service's log for the constraint that fires."
    )


def _accepted(export: Export) -> WebhookAccepted:
    assert export.id is not None
    return WebhookAccepted(
        id=export.id,
        status_url=queries.status_url(export.id),
        status=ExportStatus(export.status),
        duplicate_of=export.duplicate_of,
    )


def _invalid_payload(exc: ValidationError) -> InvalidWebhookPayload:
    items = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ())) or "(body)"
        items.append({"field": field, "message": err.get("msg", "invalid")})  # no value echoed
    first = f"{items[0]['field']}: {items[0]['message']}" if items else "invalid"
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return InvalidWebhookPayload(
        f"The webhook's payload is not a survey export notice: {first}{more}.", errors=items
    )


def parse_event(body: bytes) -> WebhookEvent:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidWebhookPayload(f"The webhook's body is not valid JSON ({exc}).") from None
    try:
        return WebhookEvent.model_validate(document)
    except ValidationError as exc:
        raise _invalid_payload(exc) from None


def _inline_content(encoded: str) -> bytes:
    try:
        return base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhookPayload(
            "data.file.content_base64 is not valid base64; encode the export's bytes with the "
            "standard alphabet."
        ) from None


def receive_webhook(
    transactions: Transactions,
    *,
    body: bytes,
    headers: Mapping[str, str],
    settings: Settings,
    storage: ObjectStorage,
    bucket: EvaluatorBucket | None,
) -> WebhookAccepted:
    """Verify a delivery, store its export, record it; the answer of ``POST /webhooks/ipsos``.

    Nothing of the body is parsed before its signature holds.
    """
    try:
        secrets = settings.webhook_secret_values()
    except ValueError as exc:
        # The mounted secret went missing or bad after start-up: the platform retries later.
        logger.error("webhook secrets unavailable: %s", exc)
        raise ServiceUnavailable(
            "The webhook secrets cannot be read right now, so nothing was verified or stored; "
            "the delivery can be retried."
        ) from None
    webhook_id = verify_webhook(
        body=body,
        headers=headers,
        secrets=secrets,
        tolerance_seconds=settings.webhook_tolerance_seconds,
    )
    event = parse_event(body)
    with transactions() as session:
        existing = queries.by_webhook_id(session, webhook_id=webhook_id)
    if existing is not None:
        return _accepted(existing)
    data = event.data
    key = data.object_key
    if key is None:
        assert data.file.content_base64 is not None
        content = _inline_content(data.file.content_base64)
        stored = store_raw(storage, stream=io.BytesIO(content))
    else:
        if bucket is None:
            raise InvalidWebhookPayload(
                "This service takes exports inline only (data.file.content_base64): no "
                "evaluator bucket is configured (SURVEYS_EVALUATOR_BUCKET)."
            )
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            bucket.copy_into(key, spool)  # type: ignore[arg-type]
            spool.seek(0)
            stored = store_raw(storage, stream=spool)  # type: ignore[arg-type]
    incoming = Incoming(
        round=data.round.value,
        survey_id=data.survey_id,
        file_name=data.file.name,
        declared_format=data.file.format,
        source="webhook",
        webhook_id=webhook_id,
    )
    return _accepted(_record(transactions, incoming=incoming, stored=stored, actor=WEBHOOK_ACTOR))


def receive_upload(
    transactions: Transactions,
    *,
    stream: BinaryIO,
    file_name: str | None,
    round: str,
    survey_id: str | None,
    declared_format: str | None,
    storage: ObjectStorage,
    actor: Any,
) -> ExportPublic:
    """``POST /exports``: an export uploaded by hand, treated exactly as a webhook's."""
    stored = store_raw(storage, stream=stream)
    incoming = Incoming(
        round=round,
        survey_id=survey_id,
        file_name=clean(file_name or "").strip() or "export",
        declared_format=declared_format,
        source="upload",
        webhook_id=None,
    )
    export = _record(transactions, incoming=incoming, stored=stored, actor=actor)
    with transactions() as session:
        return queries.public(session, queries.get_export(session, export_id=export.id or 0))
