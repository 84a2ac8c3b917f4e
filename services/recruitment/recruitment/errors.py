"""The recruitment service's domain errors; each becomes one problem+json response."""

from __future__ import annotations

from rlc_shared.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
    UnsupportedMediaType,
)


class SchoolNotFound(NotFound):
    code = "school-not-found"

    @classmethod
    def for_urn(cls, urn: int) -> SchoolNotFound:
        """The one wording of a missing school, also used for one the token may not see."""
        return cls(f"There is no school with URN {urn}; schools come from the GIAS import.")


class LocalAuthorityNotFound(NotFound):
    code = "local-authority-not-found"

    @classmethod
    def for_code(cls, la_code: str) -> LocalAuthorityNotFound:
        """The one wording of an unregistered LA, also used for one the token may not see."""
        return cls(f"Local authority {la_code} has not registered.")


class StaffMemberNotFound(NotFound):
    code = "staff-member-not-found"


class ImportNotFound(NotFound):
    code = "import-not-found"


class DocumentNotFound(NotFound):
    code = "document-not-found"


class LocalAuthorityAlreadyRegistered(Conflict):
    code = "local-authority-already-registered"


class LocalAuthorityNotRegistered(Conflict):
    code = "local-authority-not-registered"


class RegistrationAfterDeadline(Conflict):
    code = "registration-after-deadline"


class OverrideNotAllowed(Forbidden):
    code = "override-not-allowed"


class InvalidTransition(Conflict):
    """A status change the trial's lifecycle does not allow; names where the school can go."""

    code = "invalid-status-transition"

    def __init__(
        self, *, urn: int, current: str | None, requested: str, allowed: list[str]
    ) -> None:
        shown = current or "not_nominated"
        options = ", ".join(allowed) if allowed else "none (this is a final status)"
        super().__init__(
            f"School {urn} is '{shown}' and cannot become '{requested}'; "
            f"allowed next statuses: {options}.",
            current_status=shown,
            requested_status=requested,
            allowed=allowed,
        )


class RandomisationConflict(Conflict):
    code = "randomisation-conflict"


class ConsentIncomplete(Unprocessable):
    code = "consent-incomplete"


class WithdrawalAfterCutoff(Conflict):
    code = "withdrawal-after-cutoff"


class AlreadyWithdrawn(Conflict):
    code = "already-withdrawn"


class SchoolNotInTrial(Conflict):
    code = "school-not-in-trial"


class InvalidUpload(Unprocessable):
    code = "invalid-upload"


class UnsupportedDocument(UnsupportedMediaType):
    code = "unsupported-document"


class NoSchoolWithEmail(NotFound):
    code = "no-school-with-email"


class AllocationStatementInvalid(Forbidden):
    """A "randomised" notice whose signed statement is missing, forged or for something else."""

    code = "allocation-statement-invalid"


class RandomisationKeysUnavailable(ServiceUnavailable):
    """The randomisation service's public keys could not be fetched to check a statement."""

    code = "randomisation-keys-unavailable"
