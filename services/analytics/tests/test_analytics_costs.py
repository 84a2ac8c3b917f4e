"""Costs per school and per pupil against a hand computation, pennies included."""

import json
from decimal import Decimal as D

import pytest

from analytics.costs import CostItem, CostSchool, cost_summary, money
from analytics.records import SchoolRecord

SCHOOLS = [
    CostSchool(101, pupils=200, target_pupils=4),
    CostSchool(102, pupils=300, target_pupils=2),
    CostSchool(103, pupils=500, target_pupils=None),
]
ITEMS = [
    # Programme-wide: shared by the three schools.
    CostItem("programme_fees", "one_off", amount=D("3000.00")),
    CostItem("materials", "recurring", amount=D("100.00")),  # 33.34 + 33.33 + 33.33
    # Per school.
    CostItem("travel", "one_off", amount=D("45.50"), urn=101),
    CostItem("staff_time", "recurring", hours=D("10"), rate=D("25.125"), urn=102),  # 251.25
    CostItem("supply_cover", "one_off", hours=D("1.5"), rate=D("13.33"), urn=103),  # 19.995
]


def test_totals_and_per_category() -> None:
    summary = cost_summary(ITEMS, schools=SCHOOLS)
    assert summary.years == 3 and summary.schools == 3
    assert summary.one_off == D("3065.50")  # 3000 + 45.50 + 20.00 (19.995 rounds half up)
    assert summary.recurring == D("351.25")  # 100 + 251.25, per year
    assert summary.total_over_years == D("4119.25")  # 3065.50 + 3 × 351.25
    assert summary.average_per_year == D("1373.08")  # 4119.25 / 3 = 1373.083…
    assert summary.by_category["materials"].total_over_years == D("300.00")
    assert summary.by_category["staff_time"].recurring == D("251.25")
    assert summary.by_category["venue"].total_over_years == 0
    assert summary.staff_hours == {"one_off": D("0"), "recurring": D("10")}


def test_per_school_and_per_pupil_averaged_over_three_years() -> None:
    summary = cost_summary(ITEMS, schools=SCHOOLS)
    assert summary.per_school == D("457.69")  # 1373.083… / 3
    assert summary.pupils == 1000
    assert summary.per_pupil == D("1.37")  # 1373.083… / 1000
    by_urn = {s.urn: s for s in summary.school_costs}

    a = by_urn[101]  # 1000 + 45.50 one-off; 33.34 a year (it gets the leftover penny)
    assert (a.one_off, a.recurring) == (D("1045.50"), D("33.34"))
    assert a.total_over_years == D("1145.52")
    assert a.average_per_year == D("381.84")
    assert a.per_pupil == D("1.91")  # 381.84 / 200
    assert a.per_target_pupil == D("95.46")  # 381.84 / 4

    b = by_urn[102]  # 1000 one-off; 33.33 + 251.25 a year
    assert (b.one_off, b.recurring, b.total_over_years) == (D("1000.00"), D("284.58"), D("1853.74"))
    assert (b.average_per_year, b.per_pupil) == (D("617.91"), D("2.06"))

    c = by_urn[103]
    assert (c.one_off, c.recurring, c.total_over_years) == (D("1020.00"), D("33.33"), D("1119.99"))
    assert (c.per_pupil, c.per_target_pupil) == (D("0.75"), None)

    # The schools' shares add up to the totals exactly: no penny made or lost.
    assert sum(s.total_over_years for s in summary.school_costs) == summary.total_over_years
    assert sum(s.one_off for s in summary.school_costs) == summary.one_off


def test_per_target_pupil_over_the_schools_whose_counts_are_known() -> None:
    summary = cost_summary(ITEMS, schools=SCHOOLS)
    assert summary.target_pupils == 6 and summary.schools_without_target_pupils == [103]
    # (1145.52 + 1853.74) / 3 / 6 = 166.625…
    assert summary.per_target_pupil == D("166.63")


def test_a_school_without_a_pupil_count_is_left_out_of_per_pupil_only() -> None:
    schools = [CostSchool(1, pupils=100), CostSchool(2, pupils=None)]
    items = [CostItem("venue", "one_off", amount=D("600"))]
    summary = cost_summary(items, schools=schools)
    assert summary.schools_without_pupils == [2]
    assert summary.per_school == D("100.00")  # 600 / 3 years / 2 schools
    assert summary.per_pupil == D("1.00")  # school 1's 300 / 3 years / 100 pupils
    assert summary.per_target_pupil is None and summary.target_pupils == 0


def test_years_change_the_average() -> None:
    items = [
        CostItem("programme_fees", "one_off", amount=D("900")),
        CostItem("materials", "recurring", amount=D("30")),
    ]
    schools = [CostSchool(1, pupils=10)]
    assert cost_summary(items, schools=schools, years=1).average_per_year == D("930.00")
    assert cost_summary(items, schools=schools, years=3).average_per_year == D("330.00")
    with pytest.raises(ValueError, match="at least 1"):
        cost_summary(items, schools=schools, years=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"category": "catering", "recurrence": "one_off", "amount": D(1)}, "category"),
        ({"category": "venue", "recurrence": "monthly", "amount": D(1)}, "recurrence"),
        ({"category": "venue", "recurrence": "one_off"}, "either an amount"),
        (
            {"category": "venue", "recurrence": "one_off", "amount": D(1), "hours": D(1),
             "rate": D(1)},
            "either an amount",
        ),
        ({"category": "venue", "recurrence": "one_off", "hours": D(1)}, "either an amount"),
        ({"category": "venue", "recurrence": "one_off", "amount": D(-5)}, "negative"),
        ({"category": "venue", "recurrence": "one_off", "amount": 5.0}, "Decimal"),
        ({"category": "venue", "recurrence": "one_off", "amount": D("NaN")}, "finite"),
    ],
)  # fmt: skip
def test_malformed_items_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CostItem(**kwargs)


def test_items_that_do_not_fit_the_schools_raise() -> None:
    with pytest.raises(ValueError, match="URN 999"):
        cost_summary([CostItem("travel", "one_off", amount=D(1), urn=999)], schools=SCHOOLS)
    with pytest.raises(ValueError, match="at least one school"):
        cost_summary([CostItem("travel", "one_off", amount=D(1))], schools=[])


def test_items_from_the_workshops_services_json() -> None:
    item = CostItem.from_mapping(
        {"category": "travel", "recurrence": "recurring", "hours": 0.1, "rate": "12", "urn": "5"}
    )
    assert (item.hours, item.rate, item.urn, item.cost) == (D("0.1"), D("12"), 5, D("1.20"))
    assert money(0.1) == D("0.1") and money(3) == D(3)
    with pytest.raises(ValueError, match="not a number"):
        money("twelve")


def test_target_pupils_from_the_school_record() -> None:
    known = SchoolRecord(1, "randomised", pupils=250, year56_social_worker_pupils=3,
                         year56_looked_after_pupils=2)  # fmt: skip
    unknown = SchoolRecord(2, "randomised", pupils=90, year56_social_worker_pupils=3)
    assert CostSchool.from_school(known) == CostSchool(1, pupils=250, target_pupils=5)
    assert CostSchool.from_school(unknown).target_pupils is None


def test_to_dict_keeps_every_penny_as_text() -> None:
    data = json.loads(json.dumps(cost_summary(ITEMS, schools=SCHOOLS).to_dict()))
    assert data["currency"] == "GBP"
    assert data["total_over_years"] == "4119.25" and data["per_pupil"] == "1.37"
    assert data["by_category"]["venue"]["one_off"] == "0.00"
    assert data["school_costs"][0]["per_target_pupil"] == "95.46"
    assert data["school_costs"][2]["per_target_pupil"] is None
    assert data["staff_hours"]["recurring"] == "10"
