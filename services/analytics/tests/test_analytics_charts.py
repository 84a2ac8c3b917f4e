"""The pictures: SVG that parses and says what the flow says, PNG of a sensible size, the same
bytes for the same input, no matplotlib state left behind, and a 500-school flow drawn quickly."""

import struct
import threading
import time
import xml.etree.ElementTree as ET

import matplotlib as mpl
import pytest
from matplotlib._pylab_helpers import Gcf

from analytics.charts import (
    Attendance,
    Effect,
    Picture,
    ResponseRate,
    attendance_chart,
    consort_diagram,
    forest_plot,
    response_rates_chart,
)
from analytics.consort import (
    AllocationRecord,
    ComplianceRecord,
    ConsortFlow,
    PupilOutcome,
    SchoolRecord,
    TeacherRecord,
    consort_flow,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"


def svg_text(picture: Picture) -> str:
    """All the text the SVG shows, one string per <text> element, joined by newlines."""
    root = ET.fromstring(picture.svg())
    return "\n".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def flow_of(n_schools: int) -> ConsortFlow:
    """A trial of ``n_schools``: a tenth ineligible, a tenth not consenting, the rest randomised
    alternately, with every twentieth withdrawing and every tenth without outcomes."""
    schools, allocations, compliance, teachers, pupils = [], [], [], [], []
    for i in range(n_schools):
        urn = 100000 + i
        if i % 10 == 0:
            reason = "The school is not open." if i % 20 else "No pupils with a social worker."
            schools.append(SchoolRecord(urn, "ineligible", eligibility_reasons=(reason,)))
            continue
        if i % 10 == 1:
            schools.append(SchoolRecord(urn, "eligible"))
            continue
        arm = "intervention" if i % 2 else "control"
        withdrawn = i % 20 == 3
        schools.append(
            SchoolRecord(
                urn,
                "withdrawn" if withdrawn else "randomised",
                arm=arm,
                withdrawn_from_status="randomised" if withdrawn else None,
                withdrawal_reason="Staffing" if withdrawn else None,
            )
        )
        allocations.append(AllocationRecord(urn, arm))
        if arm == "intervention":
            compliance.append(ComplianceRecord(urn, complier=i % 7 != 0))
        teachers.append(TeacherRecord(urn, responded_pre=True, responded_post=i % 3 != 0))
        if i % 10 != 2 and not withdrawn:
            pupils.append(PupilOutcome(urn, cin=True, lac=i % 4 == 0, reading=100.0))
    return consort_flow(
        schools=schools,
        allocations=allocations,
        compliance=compliance,
        teachers=teachers,
        pupils=pupils,
        icc={"reading": 0.081},
    )


def test_the_consort_svg_shows_the_boxes_and_their_counts() -> None:
    flow = flow_of(40)
    text = svg_text(consort_diagram(flow))
    intervention, control = flow.arms["intervention"], flow.arms["control"]
    for expected in [
        "Assessed for eligibility (n = 40 schools)",
        f"Excluded (n = {flow.excluded.total})",
        "Did not meet the inclusion criteria (n = 4)",
        "The school is not open. (n = 2)",
        "Eligible, did not consent (n = 4)",
        f"Randomised (n = {flow.randomised.count} schools)",
        f"Allocated to intervention (n = {intervention.allocated.count} schools)",
        f"Allocated to control (n = {control.allocated.count} schools)",
        "Received allocated intervention: not applicable",
        f"Withdrew / lost to follow-up (n = {intervention.lost_to_follow_up.count})",
        f"Analysed (n = {intervention.analysed.count} schools)",
        f"Analysed (n = {control.analysed.count} schools)",
        "Intra-cluster correlation (ICC): reading 0.081.",
        "Enrolment",
        "Follow-up",
    ]:
        assert expected in text, expected
    assert flow.randomised.count == 32 and intervention.lost_to_follow_up.count == 2


def test_the_consort_png_is_a4_wide_and_taller_than_wide() -> None:
    picture = consort_diagram(flow_of(40))
    width, height = png_size(picture.png())
    assert (width, height) == picture.pixel_size
    assert width == int(8.27 * 150)
    assert width < height < 3 * width


def test_the_same_flow_draws_the_same_bytes() -> None:
    first, second = consort_diagram(flow_of(30)), consort_diagram(flow_of(30))
    assert first.svg() == second.svg()
    assert first.png() == second.png()
    assert b"<dc:date>" not in first.svg() and b"Matplotlib v" not in first.svg()
    assert consort_diagram(flow_of(31)).svg() != first.svg()


def test_drawing_leaves_no_figures_or_settings_behind() -> None:
    before = dict(mpl.rcParams)
    picture = consort_diagram(flow_of(20))
    picture.svg()
    picture.png()
    forest_plot([Effect("Reading", 0.1, -0.1, 0.3)]).svg()
    assert Gcf.get_num_fig_managers() == 0
    assert dict(mpl.rcParams) == before
    assert picture._figure is None  # both renderings kept, the figure let go


def test_drawing_in_threads_gives_the_same_bytes() -> None:
    expected = forest_plot([Effect("Maths", 0.2, 0.0, 0.4)]).svg()
    results: list[bytes] = []

    def draw() -> None:
        results.append(forest_plot([Effect("Maths", 0.2, 0.0, 0.4)]).svg())

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


def test_a_500_school_flow_is_counted_and_drawn_quickly() -> None:
    started = time.perf_counter()
    flow = flow_of(500)
    picture = consort_diagram(flow)
    svg, png = picture.svg(), picture.png()
    elapsed = time.perf_counter() - started
    assert flow.assessed.count == 500
    assert f"Randomised (n = {flow.randomised.count} schools)" in svg_text(picture)
    assert png[:8] == PNG_SIGNATURE and len(svg) < 200_000
    assert elapsed < 10.0, f"500-school flow took {elapsed:.2f} s"


def test_many_distinct_reasons_are_summed_past_the_first_few() -> None:
    schools = [
        SchoolRecord(i, "withdrawn", withdrawn_from_status="eligible", withdrawal_reason=f"R{i}")
        for i in range(12)
    ]
    text = svg_text(consort_diagram(consort_flow(schools=schools, allocations=[])))
    assert "Withdrew before randomisation (n = 12)" in text
    assert "7 other reasons (n = 7)" in text
    # Equal counts: alphabetical, so R0, R1, R10, R11, R2 are shown and R3..R9 summed.
    assert "R0 (n = 1)" in text and "R11 (n = 1)" in text and "R9" not in text


def test_the_forest_plot_rows_and_the_line_at_zero() -> None:
    picture = forest_plot(
        [
            Effect("Reading (CIN/LAC)", 0.05, -0.08, 0.18),
            Effect("Maths (CIN/LAC)", 0.11, 0.02, 0.24),
            Effect("Reading, CACE", float("nan"), float("nan"), float("nan")),
        ],
        title="Effects on KS2 scaled scores",
    )
    text = svg_text(picture)
    for expected in [
        "Reading (CIN/LAC)",
        "0.05 [\u22120.08, 0.18]",
        "0.11 [0.02, 0.24]",
        "not estimable",
        "Effects on KS2 scaled scores",
    ]:
        assert expected in text, expected
    root = ET.fromstring(picture.svg())
    assert root.find(f"{SVG}title") is not None
    width, height = png_size(picture.png())
    assert width == int(8.27 * 150) and 200 < height < width


def test_forest_plot_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="within its interval"):
        forest_plot([Effect("Reading", 0.5, -0.1, 0.3)])
    with pytest.raises(ValueError, match="nothing to plot"):
        forest_plot([])


def test_response_rates_per_arm_and_round() -> None:
    picture = response_rates_chart(
        [
            ResponseRate("intervention", "pre", 200, 250),
            ResponseRate("control", "pre", 180, 240),
            ResponseRate("intervention", "post", 150, 250),
            ResponseRate("control", "post", 0, 0),
        ]
    )
    text = svg_text(picture)
    for expected in ["80%", "(200/250)", "75%", "60%", "no data", "Pre (October)", "Post (May)"]:
        assert expected in text, expected
    assert "intervention" in text and "control" in text
    assert png_size(picture.png())[0] == int(8.27 * 150)
    with pytest.raises(ValueError, match="responded"):
        response_rates_chart([ResponseRate("control", "pre", 5, 4)])
    with pytest.raises(ValueError, match="more than one row"):
        response_rates_chart([ResponseRate("control", "pre", 1, 4)] * 2)
    with pytest.raises(ValueError, match="pre or post"):
        response_rates_chart([ResponseRate("control", "mid", 1, 4)])


def test_attendance_distribution_per_arm() -> None:
    rows = [Attendance(i, "intervention", s) for i, s in enumerate([8, 8, 7, 6, 3])]
    rows += [Attendance(100 + i, "control", 0) for i in range(4)]
    picture = attendance_chart(rows, compliance_threshold=6)
    text = svg_text(picture)
    for expected in [
        "intervention (n = 5 schools)",
        "control (n = 4 schools)",
        "compliance: 6+ sessions",
        "Sessions attended (of 8)",
    ]:
        assert expected in text, expected
    assert png_size(picture.png())[1] == int(4.2 * 150)
    with pytest.raises(ValueError, match="outside 0..8"):
        attendance_chart([Attendance(1, "intervention", 9)])
    with pytest.raises(ValueError, match="more than once"):
        attendance_chart([Attendance(1, "intervention", 2), Attendance(1, "intervention", 3)])
