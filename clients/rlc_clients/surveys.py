"""The surveys service's API, as the other services call it (issue 9's contract).

Rounds are ``pre`` (October) and ``post`` (May). ``GET /rounds/{round}/scales`` →
``{"data": [{"scale", "n", "mean", "sd", "alpha"}]}``; ``GET /rounds/{round}/response-rates?by=``
``arm|la|school`` → ``{"data": [{"arm" | "la_code" | "urn", "schools", "responding_schools",
"responses", "rate"}]}``; ``GET /rounds/{round}/responses.csv`` the linked, scored,
pseudonymised responses, read here as a stream of rows (never the whole file in memory).
"""

from __future__ import annotations

import codecs
import csv
import time
from collections.abc import Iterator
from typing import Any, Literal

import httpx

from rlc_shared.errors import UpstreamError
from rlc_shared.http import RETRY_STATUSES, ServiceClient, _as_problem

Round = Literal["pre", "post"]
By = Literal["arm", "la", "school"]


class SurveysClient(ServiceClient):
    service = "surveys"

    def round(self, round: Round) -> dict[str, Any] | None:
        """The round (survey id, dates, codebook), or None if it has not been set up."""
        return self.get_or_none(f"/rounds/{round}")

    def scales(self, round: Round) -> list[dict[str, Any]]:
        """Per scale: ``scale``, ``n``, ``mean``, ``sd``, ``alpha`` (Cronbach's)."""
        return list(self.get_json(f"/rounds/{round}/scales")["data"])

    def response_rates(self, round: Round, *, by: By) -> list[dict[str, Any]]:
        """Responses and response rates per arm, LA or school (``by``)."""
        return list(self.get_json(f"/rounds/{round}/response-rates", params={"by": by})["data"])

    def iter_responses(self, round: Round) -> Iterator[dict[str, str]]:
        """The round's scored, pseudonymised responses, one CSV row at a time (column → text).

        Streamed: the file is read line by line as it arrives. A refused or failed request raises
        `UpstreamError` as every other call does (retried first when it is worth it).
        """
        with self._stream("GET", f"/rounds/{round}/responses.csv") as response:
            decoded = codecs.iterdecode(response.iter_bytes(), "utf-8-sig")
            yield from csv.DictReader(_lines(decoded))

    def _stream(self, method: str, path: str) -> Any:
        """A streamed response, opened with the same token, retries and errors as ``request``."""
        last_error: Exception | None = None
        for attempt in range(1 + self._retries):
            if attempt:
                time.sleep(min(0.2 * 2**attempt, 2.0))
            headers = {"Authorization": f"Bearer {self._tokens.token()}"}
            request = self._client.build_request(method, path, headers=headers)
            try:
                response = self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                last_error = exc
                continue
            if response.is_error:
                response.read()
                response.close()
                if response.status_code in RETRY_STATUSES and attempt < self._retries:
                    last_error = None
                    continue
                raise _as_problem(self.service, response)
            return _Closing(response)
        raise UpstreamError(
            f"The {self.service} service could not be reached"
            + (f" ({type(last_error).__name__})" if last_error else "")
            + "; try again shortly.",
            status=503,
            upstream=self.service,
        )


class _Closing:
    """``with`` support for a streamed response: always closed, however the reading ends."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    def __enter__(self) -> httpx.Response:
        return self.response

    def __exit__(self, *exc: object) -> None:
        self.response.close()


def _lines(chunks: Iterator[str]) -> Iterator[str]:
    """Text chunks as lines split at newlines only (kept), so the csv module sees each record's
    quoted line breaks and carriage returns as they were sent."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    if pending:
        yield pending
