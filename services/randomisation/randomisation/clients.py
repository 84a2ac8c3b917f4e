"""Typed clients for the services the randomisation service calls."""

from __future__ import annotations

from typing import Any

from rlc_shared.http import ServiceClient


class RecruitmentClient(ServiceClient):
    service = "recruitment"

    def randomisable_schools(self, *, page_size: int = 500) -> list[dict[str, Any]]:
        """Every school recruitment says may be randomised now, following the cursor to the end."""
        schools: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            page = self.get_json("/schools/randomisable", params=params)
            schools.extend(page.get("data") or [])
            cursor = page.get("next_cursor")
            if not cursor:
                return schools

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
