"""The demo trial's workshops: a cohort per demo local authority, its intervention schools
enrolled (through the contamination guard), two sessions' attendance from a Zoom participant
report and a Teams attendance report, a frozen compliance rule, and each school's dosage.

Runs after the recruitment and randomisation part, through the public APIs only. Each
intervention school gets an English and a maths Subject Lead in recruitment (the first with an
address, matched by it; the second by name); one school's Designated Teacher stays away, a guest
and the facilitator go to the review list.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from rlc_cli.demo.context import DemoContext

FIRST = ["Aisha", "Ben", "Carys", "Dev", "Elin", "Femi", "Gwen", "Hamza", "Iona", "Jack", "Keira"]
LAST = ["Rowe", "Bhatt", "Evans", "Okoro", "Price", "Walsh", "Hughes", "Iqbal", "Lloyd", "Marsh"]

_ok = DemoContext.ok


def _name(index: int) -> str:
    return f"{FIRST[index % len(FIRST)]} {LAST[(index // len(FIRST) + index) % len(LAST)]}"


def _zoom(joins: list[tuple[str, str, dt.datetime, int]], day: dt.date) -> bytes:
    """A Zoom participant report with its meeting summary block (UTF-8 with a BOM, CRLF)."""

    def stamp(value: dt.datetime) -> str:
        return value.strftime("%m/%d/%Y %I:%M:%S %p")

    start = dt.datetime.combine(day, dt.time(15, 50))
    out = io.StringIO(newline="")
    rows = csv.writer(out, lineterminator="\r\n")
    rows.writerow(["Meeting ID", "Topic", "Start Time", "End Time", "User Email",
                   "Duration (Minutes)", "Participants"])  # fmt: skip
    rows.writerow(["812 3456 7890", "RLC workshop 1", stamp(start),
                   stamp(start + dt.timedelta(minutes=160)), "facilitator@university.example",
                   "160", str(len({j[0] for j in joins}))])  # fmt: skip
    out.write("\r\n")
    rows.writerow(["Name (Original Name)", "User Email", "Join Time", "Leave Time",
                   "Duration (Minutes)", "Guest", "Recording Consent", "In Waiting Room"])  # fmt: skip
    for name, email, joined, minutes in joins:
        left = joined + dt.timedelta(minutes=minutes)
        rows.writerow([name, email, stamp(joined), stamp(left), str(minutes), "No", "", "No"])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _teams(joins: list[tuple[str, str, dt.datetime, int]], day: dt.date) -> bytes:
    """A Teams attendance report as Teams downloads it: UTF-16 with a BOM, tab-separated, in
    sections (1. Summary, 2. Participants, 3. In-Meeting Activities)."""

    def stamp(value: dt.datetime) -> str:
        return f"{value.day:02}/{value.month:02}/{value.year}, {value:%H:%M:%S}"

    def length(minutes: int) -> str:
        return f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{minutes}m"

    start = dt.datetime.combine(day, dt.time(15, 50))
    lines = ["1. Summary", "Meeting title\tRLC workshop 2", f"Start time\t{stamp(start)}",
             f"End time\t{stamp(start + dt.timedelta(minutes=160))}", "",
             "2. Participants",
             "Name\tFirst Join\tLast Leave\tIn-Meeting Duration\tEmail\tParticipant ID (UPN)\tRole"]  # fmt: skip
    for name, email, joined, minutes in joins:
        left = joined + dt.timedelta(minutes=minutes)
        lines.append(
            f"{name}\t{stamp(joined)}\t{stamp(left)}\t{length(minutes)}\t{email}\t{email}\tAttendee"
        )
    lines += ["", "3. In-Meeting Activities", "Name\tJoin Time\tLeave Time\tDuration\tEmail\tRole"]
    for name, email, joined, minutes in joins:
        left = joined + dt.timedelta(minutes=minutes)
        lines.append(
            f"{name}\t{stamp(joined)}\t{stamp(left)}\t{length(minutes)}\t{email}\tAttendee"
        )
    return b"\xff\xfe" + ("\r\n".join(lines) + "\r\n").encode("utf-16-le")


def load(ctx: DemoContext) -> None:
    """Cohorts, enrolment, two sessions' attendance and the dosage of the demo's schools."""
    tm = ctx.headers("trial_manager", sub="demo-trial-manager")
    delivery = ctx.headers("delivery", sub="demo-delivery")
    evaluator = ctx.headers("evaluator", sub="demo-evaluator")
    rec, rnd, ws = ctx.client("recruitment"), ctx.client("randomisation"), ctx.client("workshops")
    allocations = _ok(rnd.get("/allocations", headers=tm, params={"limit": 500}))["data"]
    by_la: dict[str, list[int]] = {}
    for allocation in allocations:
        if allocation["arm"] == "intervention" and not allocation["in_error"]:
            by_la.setdefault(allocation["la_code"], []).append(allocation["urn"])
    index = 0
    uploads: list[str] = []
    for la_code, urns in sorted(by_la.items()):
        la = _ok(rec.get(f"/local-authorities/{la_code}", headers=tm))
        cohort = _ok(ws.post("/cohorts", headers=delivery, json={
            "name": f"{la['name']} 2021/22", "la_code": la_code,
            "meeting_link": f"https://zoom.example/j/{la_code}2021",
        }))  # fmt: skip
        people: list[tuple[str, str]] = []
        for urn in sorted(urns):
            english, maths = _name(index), _name(index + 1)
            index += 2
            address = f"{english.replace(' ', '.').lower()}@school{urn}.example"
            for body in ({"name": english, "role": "english_subject_lead", "email": address},
                         {"name": maths, "role": "maths_subject_lead"}):  # fmt: skip
                _ok(rec.post(f"/schools/{urn}/staff", headers=tm, json=body))
            _ok(ws.post(f"/cohorts/{cohort['id']}/schools", headers=delivery, json={"urn": urn}))
            people += [(english, address), (maths, "")]
        sessions = {
            s["key"]: s for s in _ok(ws.get(f"/cohorts/{cohort['id']}/sessions", headers=delivery))
        }
        for key, write in (("workshop_1", _zoom), ("workshop_2", _teams)):
            day = dt.date.fromisoformat(sessions[key]["planned_on"])
            at = dt.datetime.combine(day, dt.time(16))
            joins = [("Facilitator", "facilitator@university.example", at, 150),
                     ("Visiting Guest", "", at, 40)]  # fmt: skip
            for n, (name, email) in enumerate(people):
                # Some leave early; one rejoins after a dropped connection.
                minutes = 150 if n % 3 else 80
                joins.append((name, email, at, minutes))
                if n == 0:
                    joins.append((name, email, at + dt.timedelta(minutes=85), 65))
            result = _ok(ws.post(
                f"/sessions/{sessions[key]['id']}/attendance-reports", headers=delivery,
                files={"file": (f"{key}.csv", write(joins, day), "text/csv")},
            ))  # fmt: skip
            uploads.append(
                f"{la['name']} {key} ({result['platform']}): {result['matched']} matched, "
                f"{result['unmatched']} for review"
            )
    rule = _ok(ws.post("/compliance-rules", headers=evaluator, json={
        "note": "demo: the protocol's rule (a DT or Subject Lead at 4 of the 6 workshops)",
    }))  # fmt: skip
    _ok(ws.post(f"/compliance-rules/{rule['version']}/freeze", headers=evaluator))
    dosage = _ok(ws.get("/dosage", headers=evaluator, params={"limit": 500}))["data"]
    ctx.echo(
        f"demo workshops loaded: {len(by_la)} cohorts, {sum(map(len, by_la.values()))} "
        f"intervention schools enrolled; attendance from Zoom and Teams files:"
    )
    for line in uploads:
        ctx.echo(f"  {line}")
    ctx.echo(f"  dosage under compliance rule v{rule['version']} (frozen):")
    for row in dosage:
        ctx.echo(
            f"    {row['urn']}: {row['workshops_attended']} workshops, "
            f"{row['sessions_attended']} sessions, {row['minutes']:.0f} minutes, "
            f"complier: {'yes' if row['complier'] else 'no'}"
        )
