"""The power calculator over HTTP: ``POST /design/mdes`` takes ``mdes_crt``'s fields as JSON and
answers ``{"mdes", ...}`` with the library's number; its inverse gives the schools needed."""

from __future__ import annotations

import pytest

from analytics.stats import mdes_crt, schools_for_mdes
from rlc_testkit.recruitment import assert_problem

DESIGN = {
    "schools": 150,
    "pupils_per_school": 8,
    "icc": 0.1,
    "r2_school": 0.3,
    "r2_pupil": 0.4,
    "p_treated": 0.5,
    "school_covariates": 5,
    "alpha": 0.05,
    "power": 0.8,
    "two_tailed": True,
}


@pytest.mark.parametrize("role", ["evaluator", "trial_manager", "auditor"])
def test_mdes_is_the_librarys(api, role) -> None:
    resp = api.client.post("/design/mdes", json=DESIGN, headers=api.headers(role))
    body = api.ok(resp)
    assert body["mdes"] == mdes_crt(**DESIGN)
    assert body["degrees_of_freedom"] == 150 - 5 - 2
    assert body["inputs"] == DESIGN


def test_defaults_are_mdes_crts(api) -> None:
    minimal = {"schools": 40, "pupils_per_school": 20.5, "icc": 0.15}
    body = api.ok(api.client.post("/design/mdes", json=minimal, headers=api.evaluator()))
    assert body["mdes"] == mdes_crt(**minimal)
    one_tailed = minimal | {"two_tailed": False, "power": 0.9, "alpha": 0.1}
    body = api.ok(api.client.post("/design/mdes", json=one_tailed, headers=api.evaluator()))
    assert body["mdes"] == mdes_crt(**one_tailed)


def test_schools_needed_reach_the_target(api) -> None:
    ask = {k: v for k, v in DESIGN.items() if k != "schools"} | {"target_mdes": 0.25}
    body = api.ok(api.client.post("/design/schools", json=ask, headers=api.evaluator()))
    parameters = {k: v for k, v in ask.items() if k != "target_mdes"}
    assert body["schools"] == schools_for_mdes(**ask)
    assert body["mdes"] <= 0.25 < mdes_crt(schools=body["schools"] - 1, **parameters)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"icc": 1.5}, "icc"),
        ({"p_treated": 1.0}, "p_treated"),
        ({"two_tailed": "yes"}, "two_tailed"),
        ({"schools": 12.5}, "schools"),
        ({"schools": "150"}, "schools"),
        ({"r2_school": 1.0}, "r2_school"),
        ({"effect": 0.2}, "effect"),
    ],
)
def test_bad_designs_are_422_naming_the_field(api, change, field) -> None:
    resp = api.client.post("/design/mdes", json=DESIGN | change, headers=api.evaluator())
    body = assert_problem(resp, 422)
    assert field in {e["field"] for e in body["errors"]}


def test_an_infeasible_design_says_why(api) -> None:
    resp = api.client.post(
        "/design/mdes",
        json=DESIGN | {"schools": 6, "school_covariates": 5},
        headers=api.evaluator(),
    )
    assert_problem(resp, 422, "cannot be calculated", "degrees of freedom")
