"""GIAS imports: the establishment extract and the URN,email register (trial managers)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, File, UploadFile
from sqlmodel import select

from recruitment.deps import CurrentPrincipal, SessionDep, SettingsDep, StorageDep
from recruitment.emails import EmailRegisterFormatError, parse_email_register
from recruitment.errors import ImportNotFound, InvalidUpload
from recruitment.gias import service
from recruitment.gias.parser import GiasFormatError, iter_gias_rows
from recruitment.models import GiasImport
from recruitment.schemas import ImportPublic
from rlc_shared.auth import Role, require_roles
from rlc_shared.pagination import Page, PageDep, paginate
from rlc_shared.storage import ObjectStorage

router = APIRouter(prefix="/gias", tags=["GIAS"])

#: The upload endpoints that get the larger body limit.
UPLOAD_PATHS = ("/gias/imports", "/gias/email-imports")

CHUNK = 1024 * 1024


def _digest(stream: BinaryIO) -> tuple[str, int]:
    stream.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest.hexdigest(), size


@contextmanager
def _kept_upload(
    upload: UploadFile, storage: ObjectStorage, kind: str, check: Callable[[BinaryIO], object]
) -> Iterator[dict[str, Any]]:
    """Hash the spooled upload, check its header, keep the file in object storage (under its
    SHA-256) while it is imported; if the import fails, a copy stored just now is removed."""
    sha256, size = _digest(upload.file)
    if size == 0:
        raise InvalidUpload("The file is empty; upload the CSV file itself.")
    try:
        check(upload.file)  # reads the header only: a bad file is refused before anything is kept
    except (GiasFormatError, EmailRegisterFormatError) as exc:
        raise InvalidUpload(str(exc)) from None
    key = f"gias/{kind}/{sha256}.csv"
    existed = storage.exists(key)  # the same file imported before: keep its copy whatever happens
    upload.file.seek(0)
    stored = storage.put(key, upload.file, content_type="text/csv")
    upload.file.seek(0)
    try:
        yield {
            "stream": upload.file,
            "file_name": (upload.filename or "upload.csv")[:255],
            "sha256": sha256,
            "size_bytes": size,
            "storage_key": stored.key,
        }
    except BaseException:
        if not existed:
            storage.delete(key)
        raise


@router.post(
    "/imports",
    status_code=201,
    response_model=ImportPublic,
    dependencies=[require_roles(Role.trial_manager)],
)
def import_gias_extract(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    storage: StorageDep,
    file: Annotated[UploadFile, File(description="edubasealldata*.csv as downloaded from GIAS")],
) -> GiasImport:
    """Import the GIAS establishment extract: upsert schools by URN and report the counts."""
    with _kept_upload(file, storage, service.ESTABLISHMENTS, iter_gias_rows) as args:
        return service.import_establishments(
            session,
            actor=principal,
            batch_size=settings.gias_batch_size,
            keep_rejections=settings.import_rejections_kept,
            **args,
        )


@router.post(
    "/email-imports",
    status_code=201,
    response_model=ImportPublic,
    dependencies=[require_roles(Role.trial_manager)],
)
def import_gias_emails(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    storage: StorageDep,
    file: Annotated[UploadFile, File(description="a CSV with URN and email columns")],
) -> GiasImport:
    """Import schools' GIAS emails from a URN,email file; unknown URNs are rejected by line."""
    with _kept_upload(file, storage, service.EMAILS, parse_email_register) as args:
        return service.import_emails(
            session,
            actor=principal,
            batch_size=settings.gias_batch_size,
            keep_rejections=settings.import_rejections_kept,
            **args,
        )


@router.get(
    "/imports",
    response_model=Page[ImportPublic],
    dependencies=[require_roles(Role.trial_manager, Role.auditor)],
)
def list_imports(session: SessionDep, page: PageDep) -> Page[ImportPublic]:
    """Every GIAS import (extracts and email registers), oldest first."""
    rows, count, cursor = paginate(session, select(GiasImport), key=GiasImport.id, params=page)
    return Page(
        data=[ImportPublic.model_validate(r) for r in rows], count=count, next_cursor=cursor
    )


@router.get(
    "/imports/{import_id}",
    response_model=ImportPublic,
    dependencies=[require_roles(Role.trial_manager, Role.auditor)],
)
def get_import(session: SessionDep, import_id: int) -> GiasImport:
    """One import record with its counts and first rejections."""
    found = session.get(GiasImport, import_id)
    if found is None:
        raise ImportNotFound(f"There is no GIAS import {import_id}.")
    return found
