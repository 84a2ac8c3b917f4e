"""Signed documents (data sharing agreements, consent forms) kept in object storage."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import BinaryIO

from fastapi.responses import StreamingResponse

from recruitment.errors import InvalidUpload, UnsupportedDocument
from rlc_shared.storage import ObjectStorage, StoredObject

#: What a signed form may be: a PDF or a scan/photo of the paper form.
DOCUMENT_TYPES = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


def store_document(
    storage: ObjectStorage, *, folder: str, stream: BinaryIO, content_type: str | None
) -> StoredObject:
    """Store a signed document under a fresh key in ``folder``; refuse other types and empties."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in DOCUMENT_TYPES:
        raise UnsupportedDocument(
            f"The document must be a PDF, PNG or JPEG file (got {kind or 'no content type'})."
        )
    head = stream.read(1)
    if not head:
        raise InvalidUpload("The document is empty; upload the signed form.")
    stream.seek(0)
    key = f"{folder}/{uuid.uuid4().hex}.{DOCUMENT_TYPES[kind]}"
    return storage.put(key, stream, content_type=kind)


def document_response(
    storage: ObjectStorage, *, key: str, content_type: str | None
) -> StreamingResponse:
    """Stream a stored document back in chunks (bounded memory), closing it when done."""
    body = storage.open(key)

    def chunks() -> Iterator[bytes]:
        with body:
            while chunk := body.read(64 * 1024):
                yield chunk

    return StreamingResponse(chunks(), media_type=content_type or "application/octet-stream")
