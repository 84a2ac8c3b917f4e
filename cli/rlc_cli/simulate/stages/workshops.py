"""The programme, as delivery staff run it and the evaluator measures it.

Delivery staff open a cohort per local authority (its eight sessions dated by the simulated
calendar) and enrol every intervention school through the contamination guard (which refuses a
control school when one is tried by mistake). The introduction is face to face: its register is
entered by hand. The six workshops and the closing session are online, and their attendance is
the platform's own report, uploaded as downloaded: Zoom and Teams in turn. Most Designated
Teachers and Subject Leads attend most workshops (each school's main link with the programme
most often); some leave early, some drop out and rejoin, some miss
sessions (schools differ in how engaged they are); a Year 6 teacher sometimes stands
in for the Designated Teacher (recorded by hand after the upload); the facilitator and an
unidentifiable device ("iPad") go to the review list. The evaluator then sets the compliance rule
(the protocol's: one Designated Teacher or Subject Lead at 4 of the 6 workshops), freezes it,
records the programme's costs, and reads every school's dosage.

What each teacher does is drawn per school from the seed, so the files are the same in every
run; the verdict the rule gives on the attendance as planned (``compliers_planned``) is worked
out with the workshops package's own rule, for the summary to set against the service's.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rlc_cli.simulate.context import SimContext, SimulationError
from rlc_cli.simulate.exports.attendance import Join, Meeting, teams_report, zoom_report
from rlc_cli.simulate.population import STAFF_ROLES, STAND_IN_ROLE, School, Teacher, school_rng
from workshops.compliance import AttendanceRecord, ComplianceRule, StandIn, evaluate

FACILITATOR = ("Dr Morgan Reece", "m.reece@rlc-programme.org.uk")
#: Meetings open a quarter of an hour early; sessions start on the hour.
OPENS, STARTS = dt.time(15, 45), dt.time(16, 0)
#: How likely a teacher of a school of each engagement is to attend a session.
ENGAGEMENT = {"high": 0.9, "medium": 0.65, "low": 0.3}


@dataclass
class Seat:
    """One person at one session: their stays (seconds from the session's start) or none."""

    stays: list[tuple[int, int]] = field(default_factory=list)
    on_behalf_of: Teacher | None = None

    @property
    def minutes(self) -> float:
        return sum(end - start for start, end in self.stays) / 60

    def status(self, required_minutes: float) -> str:
        if not self.stays:
            return "absent"
        return "present" if self.minutes + 1e-6 >= required_minutes else "partial"


@dataclass
class SchoolPlan:
    """What one school's staff do at each session: ``seats[session key][staff email]``."""

    school: School
    engagement: str
    seats: dict[str, dict[str, Seat]] = field(default_factory=dict)


def _stays(rng: random.Random, minutes: int, attends: float) -> list[tuple[int, int]]:
    """A person's stays at an online session of ``minutes``: most stay throughout, some leave
    early, a few drop out and rejoin, some never come."""
    if rng.random() > attends:
        return []
    length = minutes * 60
    joined = rng.randint(-8 * 60, 4 * 60)
    left = length + rng.randint(-6 * 60, 8 * 60)
    kind = rng.random()
    if kind < 0.12:  # leaves early, well short of the threshold
        return [(joined, joined + rng.randint(30 * 60, int(0.66 * length)))]
    if kind < 0.18:  # the connection drops; back a few minutes later
        drop = rng.randint(40 * 60, 90 * 60)
        return [(joined, drop), (drop + rng.randint(60, 5 * 60), left)]
    return [(joined, left)]


def plan_school(ctx: SimContext, school: School, sessions: list[dict[str, Any]]) -> SchoolPlan:
    """The school's attendance at every session, the same in every run with this seed."""
    rng = school_rng(ctx.seed, "workshops", school.urn)
    engagement = rng.choices(list(ENGAGEMENT), weights=(5, 3, 2))[0]
    plan = SchoolPlan(school=school, engagement=engagement)
    regulars = [t for t in school.teachers if t.role in STAFF_ROLES]
    stand_in = school.teacher(STAND_IN_ROLE)
    designated = school.teacher("designated_teacher")
    # One of them is the school's main link with the programme; the others come a little less.
    lead = rng.randrange(len(regulars)) if regulars else -1
    keen = {
        t.email: min(
            0.98, ENGAGEMENT[engagement] * (1 if n == lead else 0.75) + rng.uniform(-0.05, 0.05)
        )
        for n, t in enumerate(regulars)
    }
    for s in sessions:
        seats: dict[str, Seat] = {}
        for teacher in regulars:
            seats[teacher.email] = Seat(_stays(rng, s["duration_minutes"], keen[teacher.email]))
        if s["mode"] == "face_to_face":  # a register: there for the session or not
            for seat in seats.values():
                seat.stays = [(0, s["duration_minutes"] * 60)] if seat.stays else []
        elif (
            s["kind"] == "workshop"
            and stand_in is not None
            and designated is not None
            and not seats[designated.email].stays
            and rng.random() < 0.5
        ):
            seats[stand_in.email] = Seat(
                [(rng.randint(-5 * 60, 60), s["duration_minutes"] * 60 + rng.randint(0, 300))],
                on_behalf_of=designated,
            )
        plan.seats[s["key"]] = seats
    return plan


def _meeting_joins(
    ctx: SimContext,
    *,
    cohort: dict[str, Any],
    session: dict[str, Any],
    platform: str,
    plans: list[SchoolPlan],
    vsh_stays: list[tuple[int, int]],
    shared_names: set[str],
) -> tuple[Meeting, list[Join]]:
    la = ctx.pop.by_la_code[cohort["la_code"]]
    day = dt.date.fromisoformat(session["planned_on"])
    start = dt.datetime.combine(day, STARTS)
    rng = random.Random(f"{ctx.seed}:report:{cohort['la_code']}:{session['key']}")

    def at(offset: int) -> dt.datetime:
        return start + dt.timedelta(seconds=offset)

    length = session["duration_minutes"] * 60
    meeting = Meeting(
        title=f"RLC {session['title']} ({la.name})",
        meeting_id=f"8{int(la.code):03d} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        host_email=FACILITATOR[1],
        start=dt.datetime.combine(day, OPENS),
        end=at(length + 12 * 60),
    )
    joins = [
        Join(FACILITATOR[0], FACILITATOR[1], meeting.start, meeting.end, role="Organizer"),
    ]
    for plan in plans:
        for email, seat in plan.seats[session["key"]].items():
            teacher = next(t for t in plan.school.teachers if t.email == email)
            # Zoom knows the address of those who sign in; a name shared in the cohort needs it.
            known = (
                platform == "teams" or teacher.name.lower() in shared_names or rng.random() < 0.6
            )
            name = teacher.name + (" (she/her)" if rng.random() < 0.04 else "")
            for begin, end in seat.stays:
                joins.append(Join(name, email if known else "", at(begin), at(end)))
    for begin, end in vsh_stays:
        joins.append(Join(la.virtual_school_head, la.virtual_school_email, at(begin), at(end)))
    # Someone on a shared device nobody can place, for the review list.
    joins.append(Join("iPad", "", at(rng.randint(0, 600)), at(rng.randint(1800, 4800)), guest=True))
    joins.sort(key=lambda j: (j.joined, j.name))
    clamped = [
        Join(
            j.name, j.email, max(j.joined, meeting.start), min(j.left, meeting.end), j.role, j.guest
        )
        for j in joins
    ]
    return meeting, clamped


def _planned_verdicts(
    plans: list[SchoolPlan], minutes: dict[str, int], rule: ComplianceRule
) -> dict[int, tuple[bool, int, int]]:
    """The frozen rule applied to the attendance as planned (its own threshold classifying the
    minutes: full stays are well over any threshold from two thirds to nine tenths, early
    leavers well under)."""
    required = {key: rule.attendance_threshold.required_minutes(m) for key, m in minutes.items()}
    records = []
    for plan in plans:
        staff = {t.email: t for t in plan.school.teachers}
        for key, seats in plan.seats.items():
            for email, seat in seats.items():
                teacher, behalf = staff[email], seat.on_behalf_of
                assert teacher.staff_id is not None
                records.append(
                    AttendanceRecord(
                        urn=plan.school.urn,
                        staff_id=teacher.staff_id,
                        role=teacher.role,
                        session=key,
                        status=seat.status(required[key]),  # type: ignore[arg-type]
                        minutes=seat.minutes,
                        stands_in_for=(
                            StandIn(staff_id=behalf.staff_id, role=behalf.role)
                            if behalf is not None and behalf.staff_id is not None
                            else None
                        ),
                    )
                )
    verdicts = evaluate(rule, records, schools=[plan.school.urn for plan in plans])
    return {
        urn: (v.complier, v.workshops_attended, v.sessions_attended) for urn, v in verdicts.items()
    }


def _a_control_school_refused(
    ctx: SimContext, cohorts: list[tuple[dict[str, Any], list[SchoolPlan], list[dict[str, Any]]]]
) -> dict[str, int]:
    """A control school put forward by mistake: the guard must refuse it, saying why."""
    allocations = ctx.facts["allocations"]
    for cohort, _, _ in cohorts:
        control = sorted(
            urn
            for urn, a in allocations.items()
            if a["arm"] == "control" and a["la_code"] == cohort["la_code"]
        )
        if not control:
            continue
        resp = ctx.client("workshops").post(
            f"/cohorts/{cohort['id']}/schools", headers=ctx.delivery(), json={"urn": control[0]}
        )
        if resp.status_code != 409 or resp.json().get("reason") != "control":
            raise SimulationError(
                f"the contamination guard let control school {control[0]} through: "
                f"{resp.status_code} {resp.text}"
            )
        return {"control": 1}
    return {}


def _virtual_school_head(ctx: SimContext, cohort: dict[str, Any]) -> int | None:
    """The attendee id of the cohort's Virtual School Head (who has no staff id)."""
    for a in ctx.pages("workshops", f"/cohorts/{cohort['id']}/attendees", ctx.delivery()):
        if a["kind"] == "virtual_school_head":
            return int(a["id"])
    return None


def _register(
    ctx: SimContext,
    *,
    cohort: dict[str, Any],
    session: dict[str, Any],
    plans: list[SchoolPlan],
    present: bool,
) -> None:
    """A face-to-face session's register, entered by delivery staff."""
    entries: list[dict[str, Any]] = []
    for plan in plans:
        staff = {t.email: t for t in plan.school.teachers}
        for email, seat in plan.seats[session["key"]].items():
            entries.append(
                {"staff_id": staff[email].staff_id, "status": "present" if seat.stays else "absent"}
            )
    vsh = _virtual_school_head(ctx, cohort)
    if vsh is not None:
        entries.append({"attendee_id": vsh, "status": "present" if present else "absent"})
    for start in range(0, len(entries), 500):
        ctx.ok(
            ctx.client("workshops").post(
                f"/sessions/{session['id']}/attendance",
                headers=ctx.delivery(),
                json={
                    "entries": entries[start : start + 500],
                    "reason": "the register taken at the session",
                },
            )
        )


def _stand_ins(ctx: SimContext, *, session: dict[str, Any], plans: list[SchoolPlan]) -> int:
    """Colleagues who attended on the Designated Teacher's behalf, as the facilitator noted."""
    entries = []
    for plan in plans:
        staff = {t.email: t for t in plan.school.teachers}
        for email, seat in plan.seats[session["key"]].items():
            if seat.on_behalf_of is not None:
                entries.append(
                    {
                        "staff_id": staff[email].staff_id,
                        "status": "present",
                        "on_behalf_of_staff_id": seat.on_behalf_of.staff_id,
                    }
                )
    if entries:
        ctx.ok(
            ctx.client("workshops").post(
                f"/sessions/{session['id']}/attendance",
                headers=ctx.delivery(),
                json={"entries": entries, "reason": "attended on the Designated Teacher's behalf"},
            )
        )
    return len(entries)


def _costs(
    ctx: SimContext, cohorts: list[tuple[dict[str, Any], list[SchoolPlan], list[dict[str, Any]]]]
) -> dict[str, Any]:
    """The programme's fees and venues, and each school's supply cover for the sessions its
    staff attended, as the evaluator records them for the cost evaluation."""
    ws, evaluator = ctx.client("workshops"), ctx.evaluator()
    items: list[dict[str, Any]] = [
        {
            "category": "programme_fees",
            "recurrence": "one_off",
            "amount": f"{1800 * len(cohorts)}.00",
            "description": "the programme team's facilitation, per cohort",
        },
        {
            "category": "venue",
            "recurrence": "one_off",
            "amount": f"{220 * len(cohorts)}.00",
            "description": "rooms and refreshments for the face-to-face introductions",
        },
    ]
    for _, plans, sessions in cohorts:
        minutes = {s["key"]: s["duration_minutes"] for s in sessions}
        for plan in plans:
            attended = sum(
                minutes[key] for key, seats in plan.seats.items() for seat in seats.values()
                if seat.stays
            )  # fmt: skip
            if attended:
                items.append(
                    {
                        "category": "supply_cover",
                        "recurrence": "one_off",
                        "hours": f"{attended / 60:.2f}",
                        "rate": "32.00",
                        "urn": plan.school.urn,
                        "description": "supply cover while staff attended the sessions",
                    }
                )
    total = 0.0
    for item in ctx.each("costs", items):
        total += float(ctx.ok(ws.post("/costs", headers=evaluator, json=item))["cost"])
    return {"items": len(items), "total": f"{total:.2f}"}


def run(ctx: SimContext) -> dict[str, Any]:
    ws = ctx.client("workshops")
    delivery, evaluator = ctx.delivery(), ctx.evaluator()
    schools = ctx.pop.by_urn
    allocations: dict[int, dict[str, Any]] = ctx.facts["allocations"]
    by_la: dict[str, list[School]] = {}
    for urn, allocation in sorted(allocations.items()):
        if allocation["arm"] == "intervention" and not allocation["in_error"]:
            by_la.setdefault(allocation["la_code"], []).append(schools[urn])
    programme = ctx.ok(ws.get("/programme", headers=delivery))
    dated = [
        {
            "key": s["key"],
            "planned_on": ctx.timeline.on(dt.date.fromisoformat(s["planned_on"])).isoformat(),
        }
        for s in programme["sessions"]
    ]
    year = ctx.timeline.on(dt.date(2021, 9, 1)).year
    cohorts: list[tuple[dict[str, Any], list[SchoolPlan], list[dict[str, Any]]]] = []
    for la_code in ctx.each("cohorts", sorted(by_la)):
        la = ctx.pop.by_la_code[la_code]
        cohort = ctx.ok(
            ws.post(
                "/cohorts",
                headers=delivery,
                json={
                    "name": f"{la.name} {year}/{(year + 1) % 100:02d}",
                    "la_code": la_code,
                    "meeting_link": f"https://zoom.us/j/8{la_code}{year}",
                    "sessions": dated,
                },
            )
        )
        sessions = ctx.ok(ws.get(f"/cohorts/{cohort['id']}/sessions", headers=delivery))
        cohorts.append((cohort, [], sessions))
    enrolled = 0
    for cohort, plans, sessions in cohorts:
        for school in by_la[cohort["la_code"]]:
            plans.append(plan_school(ctx, school, sessions))
    enrolments = [(cohort, plan) for cohort, plans, _ in cohorts for plan in plans]
    for cohort, plan in ctx.each("enrol intervention schools", enrolments):
        ctx.ok(
            ws.post(
                f"/cohorts/{cohort['id']}/schools",
                headers=delivery,
                json={"urn": plan.school.urn},
            )
        )
        enrolled += 1
    refused = _a_control_school_refused(ctx, cohorts)

    uploads: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    steps = [(c, plans, s) for c, plans, sessions in cohorts for s in sessions]
    for cohort, plans, session in ctx.each("attendance", steps):
        rng = random.Random(f"{ctx.seed}:vsh:{cohort['la_code']}:{session['key']}")
        if session["mode"] == "face_to_face":
            _register(ctx, cohort=cohort, session=session, plans=plans, present=rng.random() < 0.9)
            counts["registers"] += 1
            continue
        vsh = (
            [(rng.randint(-300, 300), session["duration_minutes"] * 60)]
            if rng.random() < 0.4
            else []
        )
        names = Counter(t.name.lower() for plan in plans for t in plan.school.teachers) + Counter(
            [ctx.pop.by_la_code[cohort["la_code"]].virtual_school_head.lower()]
        )
        platform = ("zoom", "teams")[(session["position"] + int(cohort["la_code"])) % 2]
        meeting, joins = _meeting_joins(
            ctx,
            cohort=cohort,
            session=session,
            platform=platform,
            plans=plans,
            vsh_stays=vsh,
            shared_names={name for name, k in names.items() if k > 1},
        )
        content = (zoom_report if platform == "zoom" else teams_report)(meeting, joins)
        file_name = (
            f"participants_{meeting.meeting_id.replace(' ', '')}.csv"
            if platform == "zoom"
            else f"{meeting.title} - Attendance report {session['planned_on']}.csv"
        )
        result = ctx.ok(
            ws.post(
                f"/sessions/{session['id']}/attendance-reports",
                headers=delivery,
                files={"file": (file_name, content, "text/csv")},
            )
        )
        if result["platform"] != platform:
            raise SimulationError(f"a {platform} report was read as {result['platform']}")
        uploads[platform] += 1
        counts["matched"] += result["matched"]
        counts["unmatched"] += result["unmatched"]
        counts["stand_ins"] += _stand_ins(ctx, session=session, plans=plans)

    rule = ctx.ok(
        ws.post(
            "/compliance-rules",
            headers=evaluator,
            json={
                "note": "The protocol: a Designated Teacher or Subject Lead at 4 of the 6 workshops."
            },
        )
    )
    rule = ctx.ok(
        ws.post(
            f"/compliance-rules/{rule['version']}/freeze",
            headers=evaluator,
            json={"reason": "agreed in the statistical analysis plan, before any outcome"},
        )
    )
    costs = _costs(ctx, cohorts)
    dosage = {d["urn"]: d for d in ctx.pages("workshops", "/dosage", evaluator)}
    minutes = {s["key"]: s["duration_minutes"] for s in programme["sessions"]}
    planned = _planned_verdicts(
        [p for _, plans, _ in cohorts for p in plans],
        minutes,
        ComplianceRule.model_validate(rule["rule"]),
    )
    ctx.facts["dosage"] = dosage
    ctx.facts["compliance_rule_version"] = rule["version"]
    summary = {
        "cohorts": len(cohorts),
        "enrolled": enrolled,
        "refused": refused,
        "reports": dict(sorted(uploads.items())),
        "registers": counts["registers"],
        "participants_matched": counts["matched"],
        "participants_for_review": counts["unmatched"],
        "stand_ins": counts["stand_ins"],
        "compliance_rule_version": rule["version"],
        "compliers": sum(d["complier"] for d in dosage.values()),
        "compliers_planned": sum(complier for complier, _, _ in planned.values()),
        # Schools whose dosage is not what their staff's attendance, as planned, gives.
        "dosage_unlike_plan": sorted(
            urn
            for urn, expected in planned.items()
            if urn not in dosage
            or expected
            != tuple(
                dosage[urn][k] for k in ("complier", "workshops_attended", "sessions_attended")
            )
        ),
        "dosage_schools": len(dosage),
        "costs": costs,
    }
    return summary
