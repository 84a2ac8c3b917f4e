"""What this service asks the recruitment and randomisation services, and how it copes when they
cannot answer.

Every call here is made outside any database transaction (the service functions that use them
work in short ``transactions()`` blocks around them). A failure of the other service is never
guessed around: it becomes a 503 problem saying which service and what could not be checked.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rlc_clients import RandomisationClient, RecruitmentClient
from rlc_shared.errors import UpstreamError
from workshops.errors import UpstreamUnavailable

T = TypeVar("T")


def ask(service: str, call: Callable[[], T], *, doing: str) -> T:
    """``call()``, or a 503 problem naming ``service`` and what could not be done."""
    try:
        return call()
    except UpstreamError as exc:
        status = exc.extensions.get("upstream_status")
        raise UpstreamUnavailable(
            f"The {service} service could not be asked {doing}, so nothing was changed: "
            f"{exc.detail}",
            upstream=service,
            upstream_status=status,
        ) from exc


class AllocationCache:
    """The randomisation service's answer for a school, reused for at most ``ttl`` seconds.

    Both answers are kept (an allocation, or None for a school without one); failures never
    are. The cache is bounded (the least recently used answers go first) and shared by the
    request threads.
    """

    def __init__(
        self,
        client: RandomisationClient,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._answers: OrderedDict[int, tuple[float, dict[str, Any] | None]] = OrderedDict()
        self._lock = threading.Lock()

    def allocation(self, urn: int) -> dict[str, Any] | None:
        """The school's executed live allocation, or None if it has none."""
        now = self._clock()
        if self.ttl > 0:
            with self._lock:
                cached = self._answers.get(urn)
                if cached is not None and now - cached[0] < self.ttl:
                    self._answers.move_to_end(urn)
                    return cached[1]
        answer = ask(
            "randomisation",
            lambda: self.client.allocation(urn),
            doing=f"for the allocation of school {urn}",
        )
        if self.ttl > 0:
            with self._lock:
                self._answers[urn] = (now, answer)
                self._answers.move_to_end(urn)
                while len(self._answers) > self._max:
                    self._answers.popitem(last=False)
        return answer


def school(recruitment: RecruitmentClient, urn: int) -> dict[str, Any] | None:
    """The school's record with its staff, or None if recruitment does not know it."""
    return ask("recruitment", lambda: recruitment.school(urn), doing=f"for school {urn}")


def local_authority(recruitment: RecruitmentClient, la_code: str) -> dict[str, Any] | None:
    """The registered local authority with its Virtual School, or None if not registered.

    (``RecruitmentClient`` has no method for one LA yet; this is the one place that asks.)
    """
    return ask(
        "recruitment",
        lambda: recruitment.get_or_none(f"/local-authorities/{la_code}"),
        doing=f"for local authority {la_code}",
    )


def staff_by_emails(recruitment: RecruitmentClient, emails: Sequence[str]) -> list[dict[str, Any]]:
    """For each address, the recruitment staff records holding it (none asked: none)."""
    if not emails:
        return []
    return ask(
        "recruitment",
        lambda: recruitment.staff_by_emails(list(emails)),
        doing="who of the schools' staff holds the report's addresses",
    )
