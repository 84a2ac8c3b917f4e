"""``GET /audit-events``: every service exposes its own audit trail to trial managers and auditors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from rlc_shared.audit import AuditEventFields, list_events
from rlc_shared.db import SessionDep
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires


def audit_router(model: type[AuditEventFields]) -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.get(
        "/audit-events",
        response_model=Page[dict[str, Any]],
        dependencies=[requires("audit.read")],
    )
    async def list_audit_events(
        session: SessionDep,
        page: PageDep,
        entity_type: Annotated[str | None, Query(max_length=60)] = None,
        entity_id: Annotated[str | None, Query(max_length=100)] = None,
        action: Annotated[str | None, Query(max_length=100)] = None,
    ) -> Page[dict[str, Any]]:
        """The service's audit trail, oldest first."""
        return list_events(
            session, model, page=page, entity_type=entity_type, entity_id=entity_id, action=action
        )

    return router
