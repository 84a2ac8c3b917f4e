"""The surveys service's domain errors; each becomes one problem+json response."""

from __future__ import annotations

from rlc_shared.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unprocessable,
)


class RoundNotFound(NotFound):
    code = "round-not-found"


class ExportNotFound(NotFound):
    code = "export-not-found"


class UnmatchedNotFound(NotFound):
    code = "unmatched-response-not-found"


class SchoolNotRandomised(NotFound):
    """A URN the response rates do not know: not randomised, or outside the token's scope."""

    code = "school-not-randomised"


class LocalAuthorityNotInTrial(NotFound):
    """An LA with no randomised school, or outside the token's scope."""

    code = "local-authority-not-in-trial"


class InvalidRound(Unprocessable):
    code = "invalid-round"


class InvalidWebhookPayload(Unprocessable):
    code = "invalid-webhook-payload"


class ExportObjectUnavailable(Unprocessable):
    """The webhook names an object the evaluator bucket does not hold (or may not be read)."""

    code = "export-object-unavailable"


class WebhookBodyTooLarge(PayloadTooLarge):
    code = "webhook-body-too-large"


class ExportTooLarge(PayloadTooLarge):
    code = "export-too-large"


class SchoolNotInTrial(Unprocessable):
    code = "school-not-in-trial"


class NotAllowedNow(Conflict):
    code = "not-allowed-now"


class DependencyUnavailable(ServiceUnavailable):
    """Another service this answer needs cannot answer now: never a guess instead."""

    code = "dependency-unavailable"


class InvalidWithdrawal(Unprocessable):
    code = "invalid-withdrawal"


class ExportNotRecorded(ServiceUnavailable):
    """The raw export is stored, but its row kept colliding with concurrent writes: the same
    delivery sent again is recorded (or answered with the export that won) without storing
    anything twice."""

    code = "export-not-recorded"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "5"})
