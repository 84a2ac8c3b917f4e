"""Signed documents (data sharing agreements, consent forms) kept in object storage.

A document is what its first bytes say, not only what the upload declares: an HTML page declared
as ``application/pdf`` is refused. It is stored before the row that names it is committed; if
that commit fails, the stored copy is deleted again (``on_rollback``), so nothing is orphaned.
Documents are served back as attachments, never rendered by the browser.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import BinaryIO

from fastapi.responses import StreamingResponse
from sqlmodel import Session

from recruitment.errors import DocumentNotFound, InvalidUpload, UnsupportedDocument
from rlc_shared.content import media_type
from rlc_shared.db import on_rollback
from rlc_shared.storage import ObjectStorage, StoredObject

#: What a signed form may be: a PDF or a scan/photo of the paper form, with its magic bytes.
DOCUMENT_TYPES = {
    "application/pdf": ("pdf", (b"%PDF-",)),
    "image/png": ("png", (b"\x89PNG\r\n\x1a\n",)),
    "image/jpeg": ("jpg", (b"\xff\xd8\xff",)),
}


def store_document(
    storage: ObjectStorage,
    *,
    session: Session,
    folder: str,
    stream: BinaryIO,
    content_type: str | None,
) -> StoredObject:
    """Store a signed document under a fresh key in ``folder``; refuse other types and empties."""
    kind = media_type(content_type)
    if kind not in DOCUMENT_TYPES:
        raise UnsupportedDocument(
            f"The document must be a PDF, PNG or JPEG file (got {kind or 'no content type'})."
        )
    extension, magics = DOCUMENT_TYPES[kind]
    head = stream.read(16)
    if not head:
        raise InvalidUpload("The document is empty; upload the signed form.")
    if not head.startswith(magics):
        raise UnsupportedDocument(
            f"The file is declared as {kind} but its content is not a {extension.upper()} file; "
            "upload the signed form itself (PDF, PNG or JPEG)."
        )
    stream.seek(0)
    key = f"{folder}/{uuid.uuid4().hex}.{extension}"
    stored = storage.put(key, stream, content_type=kind)
    on_rollback(session, lambda: storage.delete(stored.key))
    return stored


def require_document(key: str | None, missing: str) -> str:
    if not key:
        raise DocumentNotFound(missing)
    return key


def document_response(
    storage: ObjectStorage, *, key: str, content_type: str | None, filename: str
) -> StreamingResponse:
    """Stream a stored document back in chunks (bounded memory), closing it when done."""
    body = storage.open(key)

    def chunks() -> Iterator[bytes]:
        with body:
            while chunk := body.read(64 * 1024):
                yield chunk

    kind = media_type(content_type) or "application/octet-stream"
    extension = DOCUMENT_TYPES.get(kind, ("bin", ()))[0]
    return StreamingResponse(
        chunks(),
        media_type=kind,
        headers={"Content-Disposition": f'attachment; filename="{filename}.{extension}"'},
    )
