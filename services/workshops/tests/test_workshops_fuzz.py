"""Schemathesis against the workshops service's own OpenAPI, on a seeded service (a cohort with
an enrolled school, a report with someone on the review list, a frozen rule, a case study, a
cost), with the real recruitment and randomisation services behind it: as delivery staff, as the
evaluator, and as a school (scoped). No 5xx, every status documented, every response as
documented."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from rlc_testkit.fuzz import fuzz

h = sys.modules["workshops_tests_helpers"]


def test_no_server_error_and_responses_as_documented(api: Any) -> None:
    world = api.world
    cohort, sessions, urns = api.enrolled("202", count=2)
    member = world.member(urns[0], "designated_teacher")
    day = dt.date(2021, 11, 15)
    joins = [
        h.Joined(member.name, member.email, h.at(day, 16), 150),
        h.Joined("Guest", None, h.at(day, 16), 30),
    ]
    assert api.upload(sessions["workshop_1"]["id"], h.zoom_file(joins, day=day)).status_code == 201
    api.frozen_rule()
    study = api.client.post(
        "/case-studies", headers=api.evaluator(), json={"urn": world.control("202")[0]}
    )
    assert study.status_code == 201
    cost = {"category": "venue", "recurrence": "one_off", "amount": "300", "urn": urns[0]}
    assert api.client.post("/costs", headers=api.evaluator(), json=cost).status_code == 201
    for headers in (api.delivery(), api.evaluator(), api.school(urns[0])):
        operations, failures = fuzz(api.client.app, headers=headers)
        assert operations >= 45
        assert not failures, "\n\n".join(failures)
