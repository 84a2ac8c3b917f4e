"""The randomisation service's API, as the other services call it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from rlc_shared.errors import UpstreamError
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


class LiveAllocations:
    """Every executed live allocation, as the randomisation service lists them, reused for at
    most ``ttl`` seconds: they change only when a run is executed or an allocation is marked in
    error, and a service that counts per randomised school (response rates) asks for all of them
    on every request. In its second half-life one request renews it while the others go on with
    it. A failure is never cached: once the list is older than ``ttl``, a randomisation service
    that cannot answer is an error again."""

    def __init__(
        self,
        client: RandomisationClient,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._fetched_at = 0.0
        self._allocations: list[dict[str, Any]] | None = None

    def all(self) -> list[dict[str, Any]]:
        now = self._clock()
        cached, age = self._allocations, now - self._fetched_at
        if cached is not None and age < self.ttl:
            if age >= self.ttl / 2 and self._lock.acquire(blocking=False):
                try:
                    self._fetch()
                except UpstreamError:
                    pass  # still within its ttl: the next request tries again
                finally:
                    self._lock.release()
            return list(self._allocations or cached)
        with self._lock:  # stale or missing: every caller waits for the same answer
            if self._allocations is None or self._clock() - self._fetched_at >= self.ttl:
                self._allocations = None
                self._fetch()
            assert self._allocations is not None
            return list(self._allocations)

    def _fetch(self) -> None:
        fetched = list(self.client.iter_allocations())
        self._allocations, self._fetched_at = fetched, self._clock()
