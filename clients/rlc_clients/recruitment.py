"""The recruitment service's API, as the other services call it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from rlc_shared.http import ServiceClient

#: The most addresses one bulk lookup takes (the recruitment endpoint's limit).
LOOKUP_BATCH = 500


class RecruitmentClient(ServiceClient):
    service = "recruitment"

    def randomisable_schools(self, *, page_size: int = 500) -> list[dict[str, Any]]:
        """Every school recruitment says may be randomised now, following the cursor to the end."""
        return list(self.iter_pages("/schools/randomisable", page_size=page_size))

    def mark_randomised(
        self, urn: int, *, run_id: str, arm: str, test: bool, statement: str
    ) -> None:
        """Tell recruitment the school is randomised, with the signed allocation statement
        (idempotent for the same run)."""
        self.request(
            "POST",
            f"/schools/{urn}/randomised",
            json={"run_id": run_id, "arm": arm, "test": test, "statement": statement},
        )

    def iter_schools(self, *, page_size: int = 500, **filters: Any) -> Iterator[dict[str, Any]]:
        """Schools (``GET /schools``), filtered by ``la_code``, ``status``, ``in_trial``..."""
        return self.iter_pages("/schools", params=filters, page_size=page_size)

    def school(self, urn: int) -> dict[str, Any] | None:
        """A school's full record (with its staff and email history), or None if unknown."""
        return self.get_or_none(f"/schools/{urn}")

    def staff(self, urn: int) -> list[dict[str, Any]]:
        """The school's staff in the trial (no email addresses: only ``has_email``)."""
        return list(self.get_json(f"/schools/{urn}/staff"))

    def iter_local_authorities(self) -> Iterator[dict[str, Any]]:
        return self.iter_pages("/local-authorities")

    def local_authority(self, la_code: str) -> dict[str, Any] | None:
        """A registered LA with its Virtual School, or None if it has not registered."""
        return self.get_or_none(f"/local-authorities/{la_code}")

    def schools_by_emails(self, emails: Sequence[str]) -> list[dict[str, Any]]:
        """For each address, in order, the school whose current or earlier GIAS email it is:
        ``{"email", "urn" (None if no school), "match": "current" | "historical" | None,
        "la_code"}``. One request per 500 addresses."""
        return self._bulk("/schools/by-emails", emails)

    def staff_by_emails(self, emails: Sequence[str]) -> list[dict[str, Any]]:
        """For each address, in order, the staff records holding it: ``{"email", "staff": [{"id",
        "urn", "role", "data_collection_consent", "withdrawn_on", "withdrawal_covers"}]}``."""
        return self._bulk("/staff/by-emails", emails)

    def _bulk(self, path: str, emails: Sequence[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(emails), LOOKUP_BATCH):
            batch = list(emails[start : start + LOOKUP_BATCH])
            found.extend(self.request("POST", path, json={"emails": batch}).json()["data"])
        return found
