"""Baseline balance: the SMD against hand computations, and the table's rows and missing values."""

import json
import math

import pytest

from analytics.balance import balance_table, parse_percentage, standardised_mean_difference
from analytics.records import AllocationRecord, SchoolRecord, TeacherPreScores


def test_smd_of_continuous_values_matches_a_hand_computation() -> None:
    # Treated 1..4: mean 2.5, s² = 5/3. Control 2, 4, 6: mean 4, s² = 4.
    result = standardised_mean_difference([1, 2, 3, 4], [2, 4, 6])
    assert result.treated.mean == 2.5 and result.control.mean == 4.0
    assert result.treated.sd == pytest.approx(math.sqrt(5 / 3))
    assert result.control.sd == pytest.approx(2.0)
    assert result.pooled_sd == pytest.approx(math.sqrt((5 / 3 + 4) / 2))
    assert result.smd == pytest.approx(-1.5 / math.sqrt((5 / 3 + 4) / 2))
    assert result.smd == pytest.approx(-0.891, abs=5e-4)
    assert (result.treated.n, result.control.n) == (4, 3)


def test_missing_values_are_counted_not_used() -> None:
    with_gaps = standardised_mean_difference([1, None, 2, float("nan"), 3, 4], [2, 4, None, 6])
    without = standardised_mean_difference([1, 2, 3, 4], [2, 4, 6])
    assert with_gaps.smd == pytest.approx(without.smd)
    assert (with_gaps.treated.n, with_gaps.treated.missing) == (4, 2)
    assert (with_gaps.control.n, with_gaps.control.missing) == (3, 1)


def test_smd_of_proportions_uses_p_one_minus_p() -> None:
    # p_t = 0.5, p_c = 0.25: (0.25) / sqrt((0.25 + 0.1875) / 2).
    result = standardised_mean_difference([1, 1, 0, 0], [True, False, False, False], binary=True)
    assert (result.treated.count, result.control.count) == (2, 1)
    assert result.treated.percent == 50.0 and result.control.percent == 25.0
    assert result.smd == pytest.approx(0.25 / math.sqrt(0.21875))
    with pytest.raises(ValueError, match="0/1"):
        standardised_mean_difference([0.5], [1], binary=True)


def test_undefined_smds_are_nan_and_identical_constants_are_balanced() -> None:
    assert math.isnan(standardised_mean_difference([1.0], [1.0, 2.0]).smd)  # one value: no SD
    assert math.isnan(standardised_mean_difference([], [1.0, 2.0]).smd)
    assert math.isnan(standardised_mean_difference([3, 3], [4, 4]).smd)  # SD 0, a difference
    assert standardised_mean_difference([3, 3], [3, 3, 3]).smd == 0.0
    assert standardised_mean_difference([1, 1], [1], binary=True).smd == 0.0


@pytest.mark.parametrize(
    ("text", "value"),
    [("12.5", 12.5), (" 3.4% ", 3.4), ("0", 0.0), ("SUPP", None), ("", None), (None, None)],
)
def test_gias_percentages(text: str | None, value: float | None) -> None:
    assert parse_percentage(text) == value


def schools() -> list[SchoolRecord]:
    return [
        SchoolRecord(1, "randomised", la_code="201", la_name="Leeds", pupils=200,
                     percentage_fsm="10.0", year56_social_worker_pupils=2,
                     year56_looked_after_pupils=1),
        SchoolRecord(2, "randomised", la_code="201", pupils=300, percentage_fsm="SUPP",
                     year56_social_worker_pupils=4, year56_looked_after_pupils=None),
        SchoolRecord(3, "randomised", la_code="202", pupils=400, percentage_fsm="30.0",
                     year56_social_worker_pupils=6, year56_looked_after_pupils=0),
        SchoolRecord(4, "randomised", la_code="201", pupils=100, percentage_fsm="20.0",
                     year56_social_worker_pupils=1, year56_looked_after_pupils=2),
        SchoolRecord(5, "randomised", la_code="202", pupils=None, percentage_fsm="40.0",
                     year56_social_worker_pupils=3, year56_looked_after_pupils=1),
        SchoolRecord(6, "randomised", la_code="202", pupils=999, percentage_fsm="99.0"),
    ]  # fmt: skip


ALLOCATIONS = [
    AllocationRecord(1, "intervention", "201"),
    AllocationRecord(2, "intervention", "201"),
    AllocationRecord(3, "intervention", "202"),
    AllocationRecord(4, "control", "201"),
    AllocationRecord(5, "control", "202"),
    AllocationRecord(6, "control", "202", in_error=True),
    AllocationRecord(7, "control", "202"),  # recruitment has no record of it
]


def test_school_rows_by_arm_with_missing_values_counted() -> None:
    table = balance_table(schools=schools(), allocations=ALLOCATIONS)
    assert table.schools == {"intervention": 3, "control": 3}
    assert table.excluded_in_error == [6] and table.schools_without_record == [7]
    assert table.missing_inputs == ["pre_scores"]

    size = table.row("pupils")
    assert (size.intervention.n, size.intervention.missing, size.intervention.mean) == (3, 0, 300)
    assert (size.control.n, size.control.missing, size.control.mean) == (1, 2, 100)
    assert math.isnan(size.smd)  # one control value: no SD

    fsm = table.row("percentage_fsm")
    assert (fsm.intervention.n, fsm.intervention.missing) == (2, 1)  # "SUPP" is missing
    assert fsm.intervention.mean == 20.0 and fsm.control.mean == 30.0
    # SDs: intervention {10, 30} -> sqrt(200); control {20, 40} -> sqrt(200).
    assert fsm.smd == pytest.approx(-10 / math.sqrt(200))

    lac = table.row("year56_looked_after_pupils")
    assert (lac.intervention.n, lac.intervention.missing, lac.intervention.mean) == (2, 1, 0.5)
    cin = table.row("year56_social_worker_pupils")
    assert cin.intervention.mean == 4.0 and cin.control.mean == 2.0
    assert cin.smd == pytest.approx(2.0 / math.sqrt((4.0 + 2.0) / 2))


def test_one_row_per_la_with_counts_and_percentages() -> None:
    table = balance_table(schools=schools(), allocations=ALLOCATIONS)
    la201, la202 = table.row("la:201"), table.row("la:202")
    assert la201.label == "LA 201 Leeds" and la202.label == "LA 202"
    assert (la201.intervention.count, la201.intervention.percent) == (2, pytest.approx(200 / 3))
    assert (la201.control.count, la201.control.percent) == (1, pytest.approx(100 / 3))
    assert (la202.control.count, la202.control.n) == (2, 3)  # 7 is in 202 by its allocation
    p_t, p_c = 2 / 3, 1 / 3
    expected = (p_t - p_c) / math.sqrt((p_t * (1 - p_t) + p_c * (1 - p_c)) / 2)
    assert la201.smd == pytest.approx(expected)


def test_allocations_in_error_can_be_kept() -> None:
    table = balance_table(schools=schools(), allocations=ALLOCATIONS, include_in_error=True)
    assert table.excluded_in_error == [] and table.schools["control"] == 4
    assert table.row("pupils").control.mean == pytest.approx((100 + 999) / 2)


def test_pre_round_teacher_scales_by_arm() -> None:
    scores = [
        TeacherPreScores(1, knowledge=3.0, attitudes=4.0, use=2.0),
        TeacherPreScores(1, knowledge=4.0, attitudes=None, use=3.0),
        TeacherPreScores(3, knowledge=5.0, attitudes=5.0, use=float("nan")),
        TeacherPreScores(4, knowledge=2.0, attitudes=3.0, use=2.0),
        TeacherPreScores(5, knowledge=4.0, attitudes=4.0, use=4.0),
        TeacherPreScores(6, knowledge=1.0),  # allocation in error: not in the table
        TeacherPreScores(8, knowledge=1.0),  # school never randomised
    ]
    table = balance_table(schools=schools(), allocations=ALLOCATIONS, pre_scores=scores)
    assert table.teachers_not_in_table == 2 and table.missing_inputs == []
    knowledge = table.row("pre_knowledge")
    assert knowledge.unit == "teacher"
    assert (knowledge.intervention.n, knowledge.intervention.mean) == (3, 4.0)
    assert (knowledge.control.n, knowledge.control.mean) == (2, 3.0)
    assert knowledge.smd == pytest.approx(1.0 / math.sqrt((1.0 + 2.0) / 2))
    use = table.row("pre_use")
    assert (use.intervention.n, use.intervention.missing) == (2, 1)
    attitudes = table.row("pre_attitudes")
    assert (attitudes.intervention.n, attitudes.intervention.missing) == (2, 1)


def test_to_dict_is_strict_json() -> None:
    table = balance_table(schools=schools(), allocations=ALLOCATIONS)
    data = json.loads(json.dumps(table.to_dict(), allow_nan=False))
    size = next(row for row in data["rows"] if row["key"] == "pupils")
    assert size["smd"] is None and size["control"]["sd"] is None  # NaN becomes null
    assert size["intervention"]["mean"] == 300
    la = next(row for row in data["rows"] if row["key"] == "la:201")
    assert la["intervention"]["count"] == 2


def test_an_unknown_arm_raises() -> None:
    with pytest.raises(ValueError, match="intervention with control"):
        balance_table(schools=[], allocations=[AllocationRecord(1, "waitlist")])
