"""Attendance at a session: by hand, from the platform's report, the review list, the threshold."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile
from fastapi.responses import StreamingResponse

from rlc_shared.auth import CurrentPrincipal
from rlc_shared.db import SessionDep, TransactionsDep
from rlc_shared.policy import requires
from rlc_shared.types import RowId
from workshops.attendance import reports, review, service
from workshops.deps import (
    RecruitmentDep,
    SessionId,
    SettingsDep,
    StorageDep,
    TimezoneDep,
    session_for,
)
from workshops.models import CohortSession
from workshops.schemas import (
    AttendanceEntries,
    AttendanceList,
    ParticipantState,
    ReportPublic,
    ReportResult,
    Resolution,
    ResolutionResult,
    RetractionIn,
    ThresholdChange,
    ThresholdPublic,
    ThresholdResult,
    UnmatchedList,
)

router = APIRouter(tags=["attendance"])
READ, MANAGE = requires("workshop.read"), requires("workshop.manage")

AttendanceReadable = Annotated[CohortSession, session_for("workshop.read_attendance")]
Readable = Annotated[CohortSession, session_for("workshop.read")]
Manageable = Annotated[CohortSession, session_for("workshop.manage")]


@router.get(
    "/sessions/{session_id}/attendance",
    response_model=AttendanceList,
    dependencies=[requires("workshop.read_attendance")],
)
async def get_attendance(
    cohort_session: AttendanceReadable, session: SessionDep, principal: CurrentPrincipal
) -> AttendanceList:
    """One row per attendee (absent when nothing is recorded); a school sees its own staff, a
    Virtual School its local authority's."""
    return service.attendance_list(session, cohort_session=cohort_session, principal=principal)


@router.post(
    "/sessions/{session_id}/attendance", response_model=AttendanceList, dependencies=[MANAGE]
)
def enter_attendance(
    body: AttendanceEntries,
    cohort_session: Manageable,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> AttendanceList:
    """Enter attendance by hand: present, partial (minutes) or absent, and on whose behalf."""
    return service.record_manual(session, cohort_session=cohort_session, data=body, actor=principal)


@router.post(
    "/sessions/{session_id}/attendance-reports",
    status_code=201,
    response_model=ReportResult,
    dependencies=[MANAGE],
    responses={200: {"model": ReportResult, "description": "The same file again: no change."}},
)
def upload_attendance_report(
    session_id: SessionId,
    file: Annotated[
        UploadFile,
        File(description="the Zoom participant report or Teams attendance report, as exported"),
    ],
    transactions: TransactionsDep,
    storage: StorageDep,
    recruitment: RecruitmentDep,
    settings: SettingsDep,
    timezone: TimezoneDep,
    principal: CurrentPrincipal,
    response: Response,
) -> ReportResult:
    """Upload the platform's attendance report (Zoom or Teams, recognised from the content):
    attendees are matched by address, then by name within the cohort; the rest go to the
    review list. Returns the counts of matched and unmatched attendees."""
    result = reports.upload(
        transactions,
        session_id=session_id,
        stream=file.file,
        storage=storage,
        recruitment=recruitment,
        timezone=timezone,
        max_bytes=settings.max_report_bytes,
        actor=principal,
    )
    if result.duplicate:
        response.status_code = 200
    return result


@router.get(
    "/sessions/{session_id}/attendance-reports",
    response_model=list[ReportPublic],
    dependencies=[READ],
)
async def list_attendance_reports(
    cohort_session: Readable, session: SessionDep
) -> list[ReportPublic]:
    """The reports uploaded for the session, retracted ones included."""
    return reports.list_reports(session, cohort_session=cohort_session)


@router.get("/attendance-reports/{report_id}", response_model=ReportPublic, dependencies=[READ])
async def get_attendance_report(report_id: RowId, session: SessionDep) -> ReportPublic:
    """One uploaded report's record."""
    return reports.report_public(session, report_id=report_id)


@router.get(
    "/attendance-reports/{report_id}/file",
    response_class=StreamingResponse,
    dependencies=[READ],
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
def download_attendance_report(
    report_id: RowId, session: SessionDep, storage: StorageDep
) -> StreamingResponse:
    """The uploaded file exactly as received, as an attachment."""
    return reports.report_file(session, storage=storage, report_id=report_id)


@router.post(
    "/attendance-reports/{report_id}/retraction",
    response_model=ReportPublic,
    dependencies=[MANAGE],
)
def retract_attendance_report(
    report_id: RowId, body: RetractionIn, session: SessionDep, principal: CurrentPrincipal
) -> ReportPublic:
    """Take a report back: the session's attendance is recomputed without it."""
    return reports.retract(session, report_id=report_id, reason=body.reason, actor=principal)


@router.get(
    "/sessions/{session_id}/attendance/unmatched",
    response_model=UnmatchedList,
    dependencies=[READ],
)
async def list_unmatched(
    cohort_session: Readable,
    session: SessionDep,
    state: Annotated[ParticipantState, Query(description="unmatched: the review list")] = (
        "unmatched"
    ),
) -> UnmatchedList:
    """The review list: report participants nobody could place, with why and whom they could be."""
    return review.unmatched(session, cohort_session=cohort_session, state=state)


@router.post(
    "/sessions/{session_id}/attendance/unmatched/{participant_id}",
    response_model=ResolutionResult,
    dependencies=[MANAGE],
)
def resolve_unmatched(
    participant_id: RowId,
    body: Resolution,
    cohort_session: Manageable,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> ResolutionResult:
    """Resolve a participant of the review list: name the attendee, or dismiss them."""
    return review.resolve(
        session,
        cohort_session=cohort_session,
        participant_id=participant_id,
        data=body,
        actor=principal,
    )


@router.get("/attendance-threshold", response_model=ThresholdPublic, dependencies=[READ])
async def get_threshold(session: SessionDep) -> ThresholdPublic:
    """The threshold that turns minutes into present or partial."""
    return service.threshold_public(session)


@router.put("/attendance-threshold", response_model=ThresholdResult, dependencies=[MANAGE])
def set_threshold(
    body: ThresholdChange, session: SessionDep, principal: CurrentPrincipal
) -> ThresholdResult:
    """Set the threshold (a share of the session, or minutes); attendance is re-classified."""
    return service.set_threshold(session, data=body, actor=principal)
