"""An export's parsing state: what is reset when it is parsed again from the start."""

from __future__ import annotations

from surveys.models import Export, ExportStatus

COUNTERS = (
    "rows",
    "linked",
    "unmatched",
    "withdrawn",
    "skipped",
    "links_exact",
    "links_historical",
    "links_domain",
    "links_manual",
    "rows_rejected",
    "error_count",
    "progress_row",
)


def reset_counts(export: Export) -> None:
    """Forget what an earlier parse found (it is parsed from the first row again)."""
    for name in COUNTERS:
        setattr(export, name, 0)
    export.errors = []
    export.warnings = []


def reset_for_parsing(export: Export) -> None:
    """Queue the export to be parsed again from the start with its round's current codebook."""
    reset_counts(export)
    export.status = ExportStatus.received
    export.codebook_version_id = None
    export.claimed_by = None
    export.heartbeat_at = None
    export.retry_at = None
    export.attempts = 0
    export.finished_at = None
    export.last_error = None
