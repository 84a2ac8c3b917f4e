"""Schemathesis against the surveys service's own OpenAPI, on a round with a parsed export and
an unmatched response, as the evaluator (every operation reachable) and as a school (scoped).
No 5xx, every status documented, every response as documented."""

from __future__ import annotations

from typing import Any

from rlc_testkit.fuzz import fuzz


def test_no_server_error_and_responses_as_documented(sv: Any) -> None:
    w = sv.world
    sv.put_round()
    sv.ingest(sv.fx.csv_export(sv.rows([w["hillside"].email, "who@unknown.sch.uk"] * 3)))
    school = sv.as_("school", urn=w["hillside"].urn, sub="fuzz-school")
    for headers in (sv.evaluator(), school):
        operations, failures = fuzz(sv.client.app, headers=headers)
        assert operations >= 15
        assert not failures, "\n\n".join(failures)
