"""The workshops service's domain errors; each becomes one problem+json response."""

from __future__ import annotations

from typing import Any

from rlc_shared.errors import Conflict, NotFound, PayloadTooLarge, ServiceUnavailable, Unprocessable


class CohortNotFound(NotFound):
    code = "cohort-not-found"


class SessionNotFound(NotFound):
    code = "session-not-found"


class ProgrammeSessionNotFound(NotFound):
    code = "programme-session-not-found"


class AttendeeNotFound(NotFound):
    code = "attendee-not-found"


class SchoolNotEnrolled(NotFound):
    code = "school-not-enrolled"


class ReportNotFound(NotFound):
    code = "attendance-report-not-found"


class ReportFileMissing(NotFound):
    """The report's record exists but its file is not in object storage (lost or deleted)."""

    code = "attendance-report-file-missing"


class ParticipantNotFound(NotFound):
    code = "participant-not-found"


class RuleNotFound(NotFound):
    code = "compliance-rule-not-found"


class ObservationNotFound(NotFound):
    code = "observation-not-found"


class CaseStudyNotFound(NotFound):
    code = "case-study-not-found"


class InterviewNotFound(NotFound):
    code = "interview-not-found"


class IncentiveNotFound(NotFound):
    code = "incentive-not-found"


class CostItemNotFound(NotFound):
    code = "cost-item-not-found"


class EnrolmentRefused(Conflict):
    """The contamination guard's refusal; ``reason`` says which rule refused (``control``,
    ``unallocated``, ``in_error``, ``withdrawn``, ``other_la``, ``unknown_school``,
    ``already_enrolled``)."""

    code = "enrolment-refused"

    def __init__(self, detail: str, *, urn: int, reason: str, **extensions: Any) -> None:
        super().__init__(detail, urn=urn, reason=reason, **extensions)


class UpstreamUnavailable(ServiceUnavailable):
    """Another service could not answer a question this request cannot go on without."""

    code = "upstream-unavailable"


class CohortNameTaken(Conflict):
    code = "cohort-name-taken"


class LocalAuthorityNotRegistered(Conflict):
    code = "local-authority-not-registered"


class InvalidAttendanceReport(Unprocessable):
    code = "invalid-attendance-report"


class ReportTooLarge(PayloadTooLarge):
    code = "attendance-report-too-large"


class ReportOfAnotherSession(Conflict):
    code = "report-of-another-session"


class ReportAlreadyRetracted(Conflict):
    code = "report-already-retracted"


class InvalidAttendance(Unprocessable):
    code = "invalid-attendance"


class ParticipantAlreadyResolved(Conflict):
    code = "participant-already-resolved"


class InvalidComplianceRule(Unprocessable):
    code = "invalid-compliance-rule"


class RuleFrozen(Conflict):
    code = "compliance-rule-frozen"


class NoFrozenRule(Conflict):
    code = "no-frozen-compliance-rule"


class InvalidChange(Unprocessable):
    code = "invalid-change"


class CaseStudyRefused(Conflict):
    code = "case-study-refused"


class CaseStudyTargetReached(Conflict):
    """As many case-study schools are selected as the protocol's target; ``target`` and
    ``selected`` say how many."""

    code = "case-study-target-reached"


class InterviewRefused(Conflict):
    code = "interview-refused"


class IncentiveChangeRefused(Conflict):
    code = "incentive-change-refused"


class CostRefused(Conflict):
    code = "cost-refused"


class ProgrammeNotReady(ServiceUnavailable):
    code = "programme-not-ready"
