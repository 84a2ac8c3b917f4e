"""The analytics reports' pictures, drawn with matplotlib (Agg, no display, no pyplot).

Every function takes plain results (a `ConsortFlow`, rows of numbers) and returns a `Picture`,
whose ``svg()`` and ``png()`` are rendered from the same figure and are the same bytes for the
same input.
"""

from analytics.charts.consort_diagram import consort_diagram
from analytics.charts.picture import Picture
from analytics.charts.plots import (
    Attendance,
    Effect,
    ResponseRate,
    attendance_chart,
    forest_plot,
    response_rates_chart,
)

__all__ = [
    "Attendance",
    "Effect",
    "Picture",
    "ResponseRate",
    "attendance_chart",
    "consort_diagram",
    "forest_plot",
    "response_rates_chart",
]
