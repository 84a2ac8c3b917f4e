"""The surveys and workshops clients (rlc_clients) against their contracts, over an httpx
transport that plays the other service: the responses CSV read as a stream whatever its chunks,
errors and outages as `UpstreamError`, retries on 503, cost items as a page or a list."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pytest

from rlc_clients import SurveysClient, WorkshopsClient
from rlc_shared.errors import UpstreamError
from rlc_shared.http import TokenProvider

ROWS = [
    {"teacher_key": "t1", "urn": "100001", "knowledge": "3.5", "note": "line one\nline two"},
    {"teacher_key": "t2", "urn": "100002", "knowledge": "", "note": 'said "yes", then left'},
    {"teacher_key": "t3", "urn": "100003", "knowledge": "4", "note": "Zoë, café\r\nend"},
]


def _csv_bytes() -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(ROWS[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(ROWS)
    return "\ufeff".encode() + out.getvalue().encode()


def _client(kind, handler, *, retries: int = 0):
    return kind(
        "http://other.test",
        tokens=TokenProvider(token="service-token"),
        retries=retries,
        transport=httpx.MockTransport(handler),
    )


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 100_000])
def test_responses_are_streamed_whatever_the_chunks(chunk: int) -> None:
    data = _csv_bytes()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        assert request.url.path == "/rounds/pre/responses.csv"

        def pieces() -> Iterator[bytes]:
            for start in range(0, len(data), chunk):
                yield data[start : start + chunk]

        return httpx.Response(200, content=pieces(), headers={"content-type": "text/csv"})

    client = _client(SurveysClient, handler)
    assert list(client.iter_responses("pre")) == ROWS
    assert seen == ["Bearer service-token"]


def test_a_refused_or_unreachable_surveys_service_is_an_upstream_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404,
            json={"detail": "Round post has not been set up."},
            headers={"content-type": "application/problem+json"},
        )

    with pytest.raises(UpstreamError) as refused:
        list(_client(SurveysClient, refuse).iter_responses("post"))
    assert refused.value.status == 404 and "has not been set up" in refused.value.detail

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(UpstreamError) as down:
        list(_client(SurveysClient, unreachable).iter_responses("pre"))
    assert down.value.status == 503 and "could not be reached" in down.value.detail


def test_a_503_is_retried_before_the_stream_starts() -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, content=_csv_bytes())])
    client = _client(SurveysClient, lambda request: next(answers), retries=1)
    assert [r["teacher_key"] for r in client.iter_responses("pre")] == ["t1", "t2", "t3"]


def test_rates_and_scales_follow_the_contract() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/response-rates"):
            assert request.url.params["by"] == "school"
            return httpx.Response(200, json={"data": [{"urn": 100001, "rate": 1.0}]})
        return httpx.Response(200, json={"round": "pre", "data": [{"scale": "use", "n": 3}]})

    client = _client(SurveysClient, handler)
    assert client.response_rates("pre", by="school") == [{"urn": 100001, "rate": 1.0}]
    assert client.scales("pre") == [{"scale": "use", "n": 3}]


def test_dosage_pages_are_followed_with_the_rule_version() -> None:
    pages = {
        None: {"data": [{"urn": 100001}], "next_cursor": "c2"},
        "c2": {"data": [{"urn": 100002}], "next_cursor": None},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["rule_version"] == "3"
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    client = _client(WorkshopsClient, handler)
    assert [d["urn"] for d in client.iter_dosage(rule_version=3)] == [100001, 100002]


@pytest.mark.parametrize("paged", [True, False])
def test_costs_as_a_page_or_a_list(paged: bool) -> None:
    items = [{"id": 1, "category": "venue"}, {"id": 2, "category": "travel"}]

    def handler(request: httpx.Request) -> httpx.Response:
        if not paged:
            return httpx.Response(200, json=items)
        if request.url.params.get("cursor") is None:
            return httpx.Response(200, json={"data": items[:1], "next_cursor": "next"})
        return httpx.Response(200, json={"data": items[1:], "next_cursor": None})

    assert list(_client(WorkshopsClient, handler).iter_costs()) == items


def test_costs_in_another_shape_are_an_upstream_error() -> None:
    client = _client(WorkshopsClient, lambda request: httpx.Response(200, json={"items": []}))
    with pytest.raises(UpstreamError, match="neither a list nor a page"):
        list(client.iter_costs())
