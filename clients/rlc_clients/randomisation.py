"""The randomisation service's API, as the other services call it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rlc_shared.http import ServiceClient


class RandomisationClient(ServiceClient):
    service = "randomisation"

    def iter_allocations(self, *, page_size: int = 500, **filters: Any) -> Iterator[dict[str, Any]]:
        """Executed live allocations (``urn``, ``arm``, ``run_id``, ``stratum``, ``la_code``,
        ``in_error``...), filtered by ``run_id`` or ``la_code``."""
        return self.iter_pages("/allocations", params=filters, page_size=page_size)

    def allocation(self, urn: int) -> dict[str, Any] | None:
        """The school's live allocation once its run is executed, or None if it has none."""
        return self.get_or_none(f"/allocations/{urn}")
