"""The workshops service's API, as the other services call it (issue 10's contract).

``GET /dosage`` is a page of ``{"urn", "workshops_attended", "sessions_attended", "minutes",
"complier", "rule_version"}``; ``GET /dosage/{urn}`` one school's; ``GET /costs`` the cost items
(category, one-off or recurring, an amount or hours × rate, a school's or programme-wide), as a
page or a plain list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rlc_shared.errors import UpstreamError
from rlc_shared.http import ServiceClient


class WorkshopsClient(ServiceClient):
    service = "workshops"

    def iter_dosage(self, *, page_size: int = 500, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every school's dosage and complier flag (``rule_version`` names the rule applied),
        following the cursor to the end; ``filters`` as the endpoint takes them."""
        return self.iter_pages("/dosage", params=filters, page_size=page_size)

    def dosage(self, urn: int) -> dict[str, Any] | None:
        """One school's dosage, or None if the service has none for it."""
        return self.get_or_none(f"/dosage/{urn}")

    def iter_costs(self, *, page_size: int = 500) -> Iterator[dict[str, Any]]:
        """Every cost item, whether ``GET /costs`` answers a page (``data``/``next_cursor``) or a
        plain list."""
        first = self.get_json("/costs", params={"limit": page_size})
        if isinstance(first, list):
            yield from first
            return
        if not isinstance(first, dict) or not isinstance(first.get("data"), list):
            raise UpstreamError(
                "The workshops service answered GET /costs with neither a list nor a page.",
                upstream=self.service,
            )
        yield from first["data"]
        cursor = first.get("next_cursor")
        if cursor:
            yield from self.iter_pages("/costs", params={"cursor": cursor}, page_size=page_size)
