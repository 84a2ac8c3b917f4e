"""``LiveAllocations``: the list of live allocations reused for a few seconds (renewed in its
second half-life by one request, never used past its ttl), over an httpx transport that plays the
randomisation service's ``/allocations`` contract (two pages)."""

from __future__ import annotations

import httpx
import pytest

from rlc_clients.randomisation import LiveAllocations, RandomisationClient
from rlc_shared.errors import UpstreamError
from rlc_shared.http import TokenProvider

PAGES = {
    None: {"data": [{"urn": 100001, "arm": "control"}], "count": 2, "next_cursor": "c2"},
    "c2": {"data": [{"urn": 100002, "arm": "intervention"}], "count": 2, "next_cursor": None},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_list_is_reused_within_its_ttl_and_failures_are_not_cached() -> None:
    calls: list[str | None] = []
    down = False

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/allocations"
        if down:
            return httpx.Response(503, json={"detail": "down"})
        cursor = request.url.params.get("cursor")
        calls.append(cursor)
        return httpx.Response(200, json=PAGES[cursor])

    client = RandomisationClient(
        "http://randomisation.test",
        tokens=TokenProvider(token="service-token"),
        retries=0,
        transport=httpx.MockTransport(handler),
    )
    clock = Clock()
    live = LiveAllocations(client, ttl=10, clock=clock)
    expected = [{"urn": 100001, "arm": "control"}, {"urn": 100002, "arm": "intervention"}]
    assert live.all() == expected and calls == [None, "c2"]
    first = live.all()
    first.clear()  # a caller's copy: changing it changes nothing cached
    clock.now += 4.9
    assert live.all() == expected and calls == [None, "c2"]  # reused
    clock.now += 0.1  # its second half-life: renewed by the request that notices
    assert live.all() == expected and calls == [None, "c2", None, "c2"]
    down = True
    clock.now += 5  # half-way again: the renewal fails, the list is still good
    assert live.all() == expected
    clock.now += 5  # older than its ttl: never answered from the old list
    with pytest.raises(UpstreamError):
        live.all()
    with pytest.raises(UpstreamError):
        live.all()  # and the failure is not remembered either
    down = False
    assert live.all() == expected
    renewals = calls.count(None)
    never = LiveAllocations(client, ttl=0, clock=clock)
    never.all()
    never.all()
    assert calls.count(None) == renewals + 2  # ttl 0: every call asks
    client.close()
