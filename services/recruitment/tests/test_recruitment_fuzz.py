"""Schemathesis against the recruitment service's own OpenAPI, on a seeded database, as a trial
manager (everything reachable) and as a school (scoped: out-of-scope objects answered as missing).
No 5xx, every status documented, every response as documented."""

from __future__ import annotations

from rlc_testkit.fuzz import fuzz
from rlc_testkit.recruitment import OTHER_LA, Api


def test_no_server_error_and_responses_as_documented(api: Api) -> None:
    for urn, status, la_code in (
        (100001, "consented", "202"),
        (100002, "randomised", "202"),
        (200001, "nominated", OTHER_LA),
        (200002, None, OTHER_LA),
    ):
        api.school_at(status, urn, la_code=la_code)
    api.add_staff(100001, email="teacher@school.sch.uk")
    for headers in (api.tm(), api.school(100001)):
        operations, failures = fuzz(api.client.app, headers=headers)
        assert operations >= 30
        assert not failures, "\n\n".join(failures)
