"""The published 2021/22 schedule as data: eight sessions in order, and what the loader refuses."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

import pytest
from pydantic import ValidationError

from workshops.programme_defaults import (
    SESSION_KEYS,
    WORKSHOP_KEYS,
    default_programme,
    parse_programme,
)


def _data() -> dict[str, Any]:
    text = resources.files("workshops").joinpath("programme_2021_22.json").read_text("utf-8")
    return json.loads(text)


def test_eight_sessions_in_order_with_six_numbered_workshops() -> None:
    programme = default_programme()
    assert len(programme.sessions) == 8
    assert [s.kind for s in programme.sessions] == ["intro", *["workshop"] * 6, "moving_forward"]
    assert [s.number for s in programme.sessions] == [None, 1, 2, 3, 4, 5, 6, None]
    assert tuple(s.key for s in programme.sessions) == SESSION_KEYS
    assert tuple(s.key for s in programme.workshops) == WORKSHOP_KEYS


def test_the_documents_dates_durations_modes_and_audiences() -> None:
    programme = default_programme()
    intro = programme.session("intro")
    assert (intro.mode, intro.duration_minutes, intro.week_commencing) == (
        "face_to_face",
        90,
        date(2021, 10, 18),
    )
    assert set(intro.audience) == {
        "head_teacher",
        "english_subject_lead",
        "maths_subject_lead",
        "designated_teacher",
        "virtual_school_head",
    }
    weeks = [s.week_commencing for s in programme.workshops]
    assert weeks == [
        date(2021, 11, 15),
        date(2021, 12, 13),
        date(2022, 1, 10),
        date(2022, 2, 7),
        date(2022, 3, 7),
        date(2022, 4, 11),
    ]
    for workshop in programme.workshops:
        assert (workshop.mode, workshop.duration_minutes) == ("virtual", 150)
        assert set(workshop.audience) == {
            "english_subject_lead",
            "maths_subject_lead",
            "designated_teacher",
        }
    last = programme.session("moving_forward")
    assert last.week_commencing == date(2022, 5, 2)
    assert last.planned_date == date(2022, 5, 3)  # Monday 2 May 2022 was a bank holiday
    assert programme.sessions[0].planned_date >= date(2021, 10, 1)
    assert programme.sessions[-1].planned_date <= date(2022, 5, 31)


def test_what_the_documents_do_not_say_is_marked_in_the_data() -> None:
    last = default_programme().session("moving_forward")
    assert last.source.duration.startswith("NOT GIVEN")
    assert last.source.mode.startswith("NOT GIVEN") and last.source.audience.startswith("NOT GIVEN")
    for session in default_programme().sessions:
        assert "No day is given" in session.source.date or "bank holiday" in session.source.date
    with pytest.raises(KeyError):
        default_programme().session("workshop_7")


def test_the_case_study_numbers_come_from_the_documents() -> None:
    plan = default_programme().case_studies
    assert (plan.target, plan.control_with_incentive) == (14, 2)
    assert "'14 schools* (*pending recruitment*)" in plan.source.target
    assert "(2 in total)" in plan.source.control_with_incentive


def test_the_schedule_is_loaded_once_and_cannot_be_changed() -> None:
    programme = default_programme()
    assert default_programme() is programme
    with pytest.raises(ValidationError):
        programme.sessions[0].duration_minutes = 60  # type: ignore[misc]


def test_the_data_file_parses_as_text_and_as_data() -> None:
    assert parse_programme(json.dumps(_data())) == default_programme()
    assert parse_programme(_data()) == default_programme()


def _broken(change) -> dict[str, Any]:
    data = _data()
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["sessions"].pop(3), "must be intro, workshop_1"),
        (lambda d: d["sessions"].insert(1, d["sessions"].pop(2)), "in that order"),
        (
            lambda d: d["sessions"][1].update(number=None),
            "workshops, and only workshops, have a number",
        ),
        (
            lambda d: d["sessions"][0].update(number=1),
            "workshops, and only workshops, have a number",
        ),
        (lambda d: d["sessions"][2].update(number=9), "less than or equal to 6"),
        (
            lambda d: d["sessions"][2].update(
                week_commencing="2021-12-14", planned_date="2021-12-14"
            ),
            "must be a Monday",
        ),
        (lambda d: d["sessions"][2].update(planned_date="2021-12-20"), "must fall in the week"),
        (lambda d: d["sessions"][2].update(mode="hybrid"), "face_to_face"),
        (lambda d: d["sessions"][2].update(duration_minutes=0), "greater than 0"),
        (lambda d: d["sessions"][2].update(audience=["year5_teacher"]), "head_teacher"),
        (
            lambda d: d["sessions"][2].update(
                audience=["designated_teacher", "designated_teacher"]
            ),
            "listed twice",
        ),
        (lambda d: d["sessions"][2]["source"].pop("duration"), "duration"),
        (lambda d: d["sessions"][2].update(room="B12"), "Extra inputs are not permitted"),
        (lambda d: d["case_studies"].update(target=0), "greater than or equal to 1"),
        (
            lambda d: d["case_studies"].update(control_with_incentive=15),
            "cannot exceed the target",
        ),
        (lambda d: d["case_studies"]["source"].pop("target"), "target"),
        (
            lambda d: d["sessions"][7].update(
                week_commencing="2022-04-11", planned_date="2022-04-11"
            ),
            "one per date",
        ),
    ],
)
def test_a_malformed_schedule_is_refused(change, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_programme(_broken(change))


def test_before_migration_the_programme_is_not_ready_then_readiness_creates_it(
    database_factory, keys, tmp_path
) -> None:
    """A read never creates the programme: started on a database not migrated yet, the service
    is not ready and GET /programme is a 503 problem; once migrated, readiness sets it up."""
    from fastapi.testclient import TestClient

    from rlc_cli import services
    from rlc_shared.migrations import upgrade
    from workshops.config import Settings
    from workshops.main import create_app

    url = database_factory.create("workshops_unmigrated")
    settings = Settings(database_url=url, jwks_file=str(keys.jwks_file), storage_dir=str(tmp_path))
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 503
        early = client.get("/programme", headers=keys.headers("delivery"))
        assert early.status_code == 503
        assert early.headers["content-type"] == "application/problem+json"
        upgrade(services.get("workshops").directory, url)
        assert client.get("/readyz").json() == {"status": "ready"}
        programme = client.get("/programme", headers=keys.headers("delivery"))
        assert programme.status_code == 200 and len(programme.json()["sessions"]) == 8
