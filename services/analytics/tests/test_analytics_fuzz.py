"""Schemathesis against the analytics service's own OpenAPI, on a seeded service (a frozen plan,
an outcome import, a finished analysis of the trial in the live upstream services), as the
evaluator (everything reachable) and as an auditor (reads only). No 5xx, every status
documented, every response as documented."""

from __future__ import annotations

from rlc_testkit.fuzz import fuzz
from rlc_testkit.trial import pupil_rows, to_csv


def test_no_server_error_and_responses_as_documented(api, trial) -> None:
    api.frozen_plan()
    api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=4))), 201)
    api.analyse()
    api.register_plan(title="a draft")
    for headers in (api.evaluator(), api.headers("auditor")):
        operations, failures = fuzz(api.client.app, headers=headers)
        assert operations >= 18
        assert not failures, "\n\n".join(failures)
