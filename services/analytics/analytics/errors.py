"""The analytics service's domain errors; each becomes one problem+json response."""

from __future__ import annotations

from rlc_shared.errors import Conflict, NotFound, Unprocessable, UnsupportedMediaType


class PlanNotFound(NotFound):
    code = "plan-not-found"


class PlanFrozen(Conflict):
    """A frozen plan never changes: a change is a new version."""

    code = "plan-frozen"


class NoFrozenPlan(Conflict):
    """Outcomes are imported, and analyses run, only under a frozen plan."""

    code = "no-frozen-plan"


class PlanNotFrozen(Conflict):
    code = "plan-not-frozen"


class PlanChanged(Conflict):
    """The draft changed while its freeze was checking it against the workshops service."""

    code = "plan-changed"


class ComplianceRuleNotFrozen(Conflict):
    """The plan names a compliance rule version the workshops service does not have frozen."""

    code = "compliance-rule-not-frozen"


class OutcomeImportNotFound(NotFound):
    code = "outcome-import-not-found"


class OutcomeImportForOtherPlan(Conflict):
    code = "outcome-import-for-other-plan"


class OutcomeFileUnreadable(Unprocessable):
    """The file is not a pupil outcomes CSV or Parquet file, or lacks a required column."""

    code = "outcome-file-unreadable"


class OutcomeFileType(UnsupportedMediaType):
    code = "outcome-file-type"


class AnalysisNotFound(NotFound):
    code = "analysis-not-found"


class SnapshotNotFound(NotFound):
    code = "snapshot-not-found"


class ReportNotReady(NotFound):
    """No finished analysis yet (or the one named has not finished)."""

    code = "report-not-ready"


class ArtefactNotFound(NotFound):
    code = "artefact-not-found"


class InfeasibleDesign(Unprocessable):
    code = "infeasible-design"


def continuing(detail: str | None, *, otherwise: str) -> str:
    """Another error's detail to go on a sentence of ours ("... and {it}"): its first letter
    lowered; ``otherwise`` when it says nothing (an empty detail must never become a 500)."""
    text = (detail or "").strip()
    if not text:
        return otherwise
    return text[0].lower() + text[1:]
