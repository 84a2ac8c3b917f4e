"""The workshops tests' driver: tokens per role, cohorts and enrolment through the API, and
attendance reports written as Zoom and Teams write them (with the byte-level generators of
``test_workshops_reports_exports.py``).

Not a test module: ``conftest.py`` and the cross-service tests load it by path.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
TODAY = dt.date(2022, 6, 15)


def _exports() -> ModuleType:
    path = HERE / "test_workshops_reports_exports.py"
    spec = importlib.util.spec_from_file_location("workshops_helpers_exports", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


exports = _exports()


@dataclass(frozen=True)
class Joined:
    """One stretch of one person's time in a meeting, as the platform lists it."""

    name: str
    email: str | None
    start: dt.datetime
    minutes: float


def at(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm))


def _zoom_time(value: dt.datetime) -> str:
    return value.strftime("%m/%d/%Y %I:%M:%S %p")


def _teams_time(value: dt.datetime) -> str:
    return f"{value.month}/{value.day}/{value:%y}, {value:%-I:%M:%S %p}"


def _hms(minutes: float) -> str:
    seconds = round(minutes * 60)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return (
        " ".join(
            part
            for part in (f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s else "")
            if part
        )
        or "0s"
    )


def zoom_file(
    joins: list[Joined], *, day: dt.date, summary: bool = True, topic: str = "RLC workshop"
) -> bytes:
    """A Zoom participant report (with the meeting summary block unless ``summary=False``)."""
    start = min((j.start for j in joins), default=at(day, 15, 45))
    end = max((j.start + dt.timedelta(minutes=j.minutes) for j in joins), default=start)
    rows = []
    for j in joins:
        left = j.start + dt.timedelta(minutes=j.minutes)
        rows.append(
            [
                j.name,
                j.email or "",
                _zoom_time(j.start),
                _zoom_time(left),
                str(max(1, round(j.minutes))),
                "No",
                "",
                "No",
            ]
        )
    block = None
    if summary:
        block = [
            "812 3456 7890",
            topic,
            _zoom_time(start),
            _zoom_time(end),
            "facilitator@university.example",
            str(round((end - start).total_seconds() / 60)),
            str(len({j.name for j in joins})),
        ]
    return exports.zoom_report(rows, summary=block)


def teams_file(joins: list[Joined], *, day: dt.date, title: str = "RLC workshop") -> bytes:
    """A Teams attendance report as Teams downloads it: UTF-16 with a BOM, tab-separated, in
    sections (``1. Summary``, ``2. Participants``, ``3. In-Meeting Activities``)."""
    start = min((j.start for j in joins), default=at(day, 16))
    end = max((j.start + dt.timedelta(minutes=j.minutes) for j in joins), default=start)
    people: dict[str, list[Joined]] = {}
    for j in joins:
        people.setdefault(j.name, []).append(j)
    participants = []
    for name, spans in people.items():
        first = min(s.start for s in spans)
        last = max(s.start + dt.timedelta(minutes=s.minutes) for s in spans)
        email = spans[0].email or ""
        participants.append(
            [name, _teams_time(first), _teams_time(last), _hms(sum(s.minutes for s in spans)), email,
             email, "Attendee"]
        )  # fmt: skip
    activities = [
        [j.name, _teams_time(j.start), _teams_time(j.start + dt.timedelta(minutes=j.minutes)),
         _hms(j.minutes), j.email or "", "Attendee"]
        for j in joins
    ]  # fmt: skip
    summary = [
        ("Meeting title", title),
        ("Attended participants", str(len(people))),
        ("Start time", _teams_time(start)),
        ("End time", _teams_time(end)),
        ("Meeting duration", _hms((end - start).total_seconds() / 60)),
    ]
    return exports.teams_report(summary=summary, participants=participants, activities=activities)


def teams_legacy_file(joins: list[Joined]) -> bytes:
    """Teams' older attendance list: one Joined and one Left line per stretch."""
    events = []
    for j in sorted(joins, key=lambda j: j.start):
        left = j.start + dt.timedelta(minutes=j.minutes)
        events.append((j.name, "Joined", f"{j.start:%m/%d/%Y}, {j.start:%-I:%M:%S %p}"))
        events.append((j.name, "Left", f"{left:%m/%d/%Y}, {left:%-I:%M:%S %p}"))
    events.sort(key=lambda e: dt.datetime.strptime(e[2], "%m/%d/%Y, %I:%M:%S %p"))
    return exports.teams_legacy_report(events)


class Api:
    """Drives the workshops app through HTTP as its users do."""

    def __init__(self, client: Any, keys: Any, world: Any) -> None:
        self.client = client
        self.keys = keys
        self.world = world
        self._tokens: dict[tuple, dict[str, str]] = {}

    def role(self, role: str | list[str], **claims: Any) -> dict[str, str]:
        key = (tuple(role) if isinstance(role, list) else role, *sorted(claims.items()))
        if key not in self._tokens:
            claims.setdefault("sub", f"test-{role if isinstance(role, str) else '+'.join(role)}")
            self._tokens[key] = self.keys.headers(role, **claims)
        return self._tokens[key]

    def delivery(self) -> dict[str, str]:
        return self.role("delivery", sub="delivery-dana")

    def evaluator(self) -> dict[str, str]:
        return self.role("evaluator", sub="evaluator-eve")

    def tm(self) -> dict[str, str]:
        return self.role("trial_manager", sub="tm-alice")

    def school(self, urn: int) -> dict[str, str]:
        return self.role("school", sub=f"school-{urn}", urn=urn)

    def vs(self, la_code: str) -> dict[str, str]:
        return self.role("virtual_school", sub=f"vs-{la_code}", la_code=la_code)

    @staticmethod
    def ok(resp: Any) -> Any:
        assert resp.status_code < 300, resp.text
        return resp.json()

    # --- cohorts -------------------------------------------------------------------------
    def cohort(self, la_code: str = "202", name: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"name": name or f"{la_code} cohort", "la_code": la_code} | extra
        resp = self.client.post("/cohorts", headers=self.delivery(), json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def sessions(self, cohort_id: int) -> dict[str, dict[str, Any]]:
        rows = self.ok(self.client.get(f"/cohorts/{cohort_id}/sessions", headers=self.delivery()))
        return {row["key"]: row for row in rows}

    def enrol(self, cohort_id: int, urn: int, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            f"/cohorts/{cohort_id}/schools", headers=headers or self.delivery(), json={"urn": urn}
        )

    def enrolled(self, la_code: str = "202", count: int | None = None) -> tuple[dict, dict, list]:
        """A cohort of the LA with ``count`` (default all) of its intervention schools."""
        cohort = self.cohort(la_code)
        urns = self.world.intervention(la_code)[:count]
        for urn in urns:
            resp = self.enrol(cohort["id"], urn)
            assert resp.status_code == 201, resp.text
        return cohort, self.sessions(cohort["id"]), urns

    def attendees(self, cohort_id: int) -> list[dict[str, Any]]:
        return self.ok(
            self.client.get(
                f"/cohorts/{cohort_id}/attendees", headers=self.delivery(), params={"limit": 500}
            )
        )["data"]

    # --- attendance ----------------------------------------------------------------------
    def upload(self, session_id: int, data: bytes, name: str = "participants.csv") -> Any:
        return self.client.post(
            f"/sessions/{session_id}/attendance-reports",
            headers=self.delivery(),
            files={"file": (name, data, "text/csv")},
        )

    def attendance(self, session_id: int, headers: dict[str, str] | None = None) -> list[dict]:
        return self.ok(
            self.client.get(
                f"/sessions/{session_id}/attendance", headers=headers or self.delivery()
            )
        )["data"]

    def by_staff(self, session_id: int) -> dict[int, dict[str, Any]]:
        return {r["staff_id"]: r for r in self.attendance(session_id) if r["staff_id"]}

    def unmatched(self, session_id: int) -> list[dict[str, Any]]:
        return self.ok(
            self.client.get(f"/sessions/{session_id}/attendance/unmatched", headers=self.delivery())
        )["data"]

    def enter(self, session_id: int, *entries: dict[str, Any], reason: str | None = None) -> Any:
        body: dict[str, Any] = {"entries": list(entries)}
        if reason:
            body["reason"] = reason
        return self.client.post(
            f"/sessions/{session_id}/attendance", headers=self.delivery(), json=body
        )

    # --- the rule ------------------------------------------------------------------------
    def frozen_rule(self, **rule: Any) -> dict[str, Any]:
        made = self.client.post(
            "/compliance-rules", headers=self.evaluator(), json={"rule": rule, "note": "SAP 1.0"}
        )
        assert made.status_code == 201, made.text
        version = made.json()["version"]
        return self.ok(
            self.client.post(f"/compliance-rules/{version}/freeze", headers=self.evaluator())
        )

    def dosage(self, urn: int, **params: Any) -> Any:
        return self.client.get(f"/dosage/{urn}", headers=self.evaluator(), params=params)

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        return self.ok(
            self.client.get(
                "/audit-events", headers=self.role("auditor"), params={"limit": 500} | params
            )
        )["data"]
