"""The analytics service with the four others, all five as real processes over real HTTP.

The trial is built through the services' own APIs: recruitment and randomisation by the workshops
suite's ``world.py`` (a GIAS extract, two LAs, consented schools with staff, one live run, an
allocation marked in error, a school withdrawn, one eligible school never consented); the GIAS
email register and staff consent through recruitment; questionnaire exports for both rounds
uploaded to the surveys service (which links them by GIAS email and scores them); cohorts,
attendance entered by hand, a frozen compliance rule and costs in the workshops service. The
evaluator then freezes a plan, imports pupil outcomes and runs the analysis; the report is
checked against what was built. Finally surveys and workshops are stopped: the next analysis
says their inputs are missing, and still gives the ITT.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from rlc_cli import services
from rlc_shared.migrations import upgrade
from rlc_testkit import Keys, LiveService, start_service

WORKSHOPS_TESTS = Path(__file__).resolve().parents[1] / "services" / "workshops" / "tests"
SCALES = {"knowledge": ["K1", "K2", "K3"], "attitudes": ["A1", "A2", "A3"], "use": ["U1", "U2"]}
CODEBOOK = {
    "email_column": "RecipientEmail",
    "respondent_id_column": "ResponseId",
    "role_column": "Role",
    "respondent_email_column": "TeacherEmail",
    "scales": {name: {"items": items, "min": 1, "max": 5} for name, items in SCALES.items()},
}
#: The two staff with an address who consent to data collection and answer the questionnaire.
RESPONDENTS = ("designated_teacher", "english_subject_lead")
PUPILS_PER_SCHOOL = 10


def _world_module() -> ModuleType:
    name = "workshops_tests_world"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, WORKSHOPS_TESTS / "world.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def ok(resp: httpx.Response, status: int | None = None) -> Any:
    good = resp.status_code < 300 if status is None else resp.status_code == status
    assert good, f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def wait_until(check: Any, *, timeout: float = 120.0, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def school_email(urn: int) -> str:
    return f"office@school{urn}.sch.uk"


class Stack:
    """Recruitment and randomisation (with the trial built), surveys, workshops, analytics."""

    def __init__(self, *, keys: Keys, tmp: Path, database_factory: Any) -> None:
        world_module = _world_module()
        self.keys, self.tmp = keys, tmp
        self.upstream = world_module.Upstream(
            keys=keys, tmp=tmp, database_factory=database_factory, label="anx"
        )
        self.world = world_module.build_world(self.upstream, keys)
        self.live: dict[str, LiveService] = {}
        for name, extra in (
            ("surveys", {"SURVEYS_WORKER_INTERVAL_SECONDS": "0.2"}),
            ("workshops", {"WORKSHOPS_OUTBOUND_TIMEOUT_SECONDS": "5"}),
        ):
            self.live[name] = self._start(
                name,
                database_factory,
                {
                    f"{name.upper()}_RECRUITMENT_URL": self.upstream.recruitment_url,
                    f"{name.upper()}_RANDOMISATION_URL": self.upstream.randomisation_url,
                }
                | extra,
            )
        self.live["analytics"] = self._start(
            "analytics",
            database_factory,
            {
                "ANALYTICS_RECRUITMENT_URL": self.upstream.recruitment_url,
                "ANALYTICS_RANDOMISATION_URL": self.upstream.randomisation_url,
                "ANALYTICS_SURVEYS_URL": self.live["surveys"].url,
                "ANALYTICS_WORKSHOPS_URL": self.live["workshops"].url,
                "ANALYTICS_ANALYSIS_INTERVAL_SECONDS": "0.2",
                "ANALYTICS_OUTBOUND_RETRIES": "1",
                "ANALYTICS_UPSTREAM_PAGE_SIZE": "5",
            },
        )

    def _start(self, name: str, database_factory: Any, env: dict[str, str]) -> LiveService:
        database = database_factory.create(f"anx_{name}")
        upgrade(services.get(name).directory, database)
        return start_service(
            name, database_url=database, keys=self.keys, tmp=self.tmp, extra_env=env
        )

    def client(self, name: str) -> httpx.Client:
        url = (
            self.upstream.recruitment_url
            if name == "recruitment"
            else (
                self.upstream.randomisation_url if name == "randomisation" else self.live[name].url
            )
        )
        return httpx.Client(base_url=url, timeout=60)

    def stop(self) -> None:
        for live in self.live.values():
            live.stop()
        self.upstream.stop()


@pytest.fixture(scope="module")
def stack(
    database_factory: Any, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    live = Stack(
        keys=keys, tmp=tmp_path_factory.mktemp("analytics-x"), database_factory=database_factory
    )
    try:
        yield live
    finally:
        live.stop()


def _recruitment_extras(stack: Stack, keys: Keys) -> None:
    """The GIAS email register, and data-collection consent of the staff who answer."""
    tm = keys.headers("trial_manager", sub="anx-trial-manager")
    world = stack.world
    register = "URN,email\r\n" + "".join(
        f"{urn},{school_email(urn)}\r\n" for urn in sorted(world.staff)
    )
    with stack.client("recruitment") as rec:
        ok(
            rec.post(
                "/gias/email-imports",
                headers=tm,
                files={"file": ("emails.csv", register.encode(), "text/csv")},
            )
        )
        for urn, members in world.staff.items():
            for member in members:
                if member.role in RESPONDENTS:
                    ok(
                        rec.post(
                            f"/schools/{urn}/staff/{member.id}/consent",
                            headers=tm,
                            json={"consented_on": "2021-09-20"},
                        )
                    )


def _export(stack: Stack, round_: str, rng: random.Random) -> tuple[bytes, int]:
    """Both respondents of every allocated school answer; intervention ones score higher post."""
    columns = [
        "ResponseId",
        "RecipientEmail",
        "TeacherEmail",
        "Role",
        *[item for items in SCALES.values() for item in items],
    ]
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    rows = 0
    for urn, arm in sorted(stack.world.arms.items()):
        for member in stack.world.staff[urn]:
            if member.role not in RESPONDENTS:
                continue
            lift = 1 if round_ == "post" and arm == "intervention" else 0
            answers = {
                item: min(5, rng.randint(2, 4) + lift)
                for items in SCALES.values()
                for item in items
            }
            writer.writerow(
                {
                    "ResponseId": f"R_{round_}_{member.id}",
                    "RecipientEmail": school_email(urn),
                    "TeacherEmail": member.email,
                    "Role": member.role,
                    **answers,
                }
            )
            rows += 1
    return out.getvalue().encode(), rows


def _surveys(stack: Stack, keys: Keys) -> None:
    ev = keys.headers("evaluator", sub="anx-evaluator")
    rng = random.Random(5)
    with stack.client("surveys") as sv:
        for round_, opens in (("pre", "2021-10-01"), ("post", "2022-05-01")):
            closes = (dt.date.fromisoformat(opens) + dt.timedelta(days=30)).isoformat()
            ok(
                sv.put(
                    f"/rounds/{round_}",
                    headers=ev,
                    json={
                        "survey_id": f"SV_{round_}",
                        "opens_on": opens,
                        "closes_on": closes,
                        "codebook": CODEBOOK,
                    },
                )
            )
            body, rows = _export(stack, round_, rng)
            export = ok(
                sv.post(
                    "/exports",
                    headers=ev,
                    data={"round": round_},
                    files={"file": (f"{round_}.csv", body, "text/csv")},
                ),
                202,
            )

            def done(export_id: int = export["id"]) -> Any:
                e = ok(sv.get(f"/exports/{export_id}", headers=ev))
                return e if e["status"] in ("done", "failed") else None

            parsed = wait_until(done, what=f"the {round_} export to be parsed")
            assert parsed["status"] == "done", parsed
            assert parsed["rows"] == rows and parsed["linked"] == rows, parsed


def _workshops(stack: Stack, keys: Keys) -> tuple[int, set[int]]:
    """Cohorts, every enrollable intervention school enrolled, the Designated Teacher of every
    other one present at four workshops (compliers), one at two; a frozen rule; costs."""
    delivery = keys.headers("delivery", sub="anx-delivery")
    ev = keys.headers("evaluator", sub="anx-evaluator")
    world = stack.world
    compliers: set[int] = set()
    with stack.client("workshops") as ws:
        for la_code in ("202", "370"):
            cohort = ok(
                ws.post(
                    "/cohorts",
                    headers=delivery,
                    json={"name": f"{la_code} cohort", "la_code": la_code},
                ),
                201,
            )
            sessions = {
                s["key"]: s
                for s in ok(ws.get(f"/cohorts/{cohort['id']}/sessions", headers=delivery))
            }
            for position, urn in enumerate(world.intervention(la_code)):
                ok(
                    ws.post(
                        f"/cohorts/{cohort['id']}/schools", headers=delivery, json={"urn": urn}
                    ),
                    201,
                )
                attended = 4 if position % 2 == 0 else 2
                if attended >= 4:
                    compliers.add(urn)
                member = world.member(urn, "designated_teacher")
                for n in range(1, attended + 1):
                    ok(
                        ws.post(
                            f"/sessions/{sessions[f'workshop_{n}']['id']}/attendance",
                            headers=delivery,
                            json={"entries": [{"staff_id": member.id, "status": "present"}]},
                        )
                    )
        rule = ok(ws.post("/compliance-rules", headers=ev, json={"rule": {}, "note": "SAP"}), 201)
        rule = ok(ws.post(f"/compliance-rules/{rule['version']}/freeze", headers=ev))
        ok(
            ws.post(
                "/costs",
                headers=ev,
                json={
                    "category": "programme_fees",
                    "recurrence": "one_off",
                    "amount": "18000.00",
                    "description": "the university's programme",
                },
            ),
            201,
        )
        ok(
            ws.post(
                "/costs",
                headers=ev,
                json={
                    "category": "supply_cover",
                    "recurrence": "recurring",
                    "hours": "7.5",
                    "rate": "32.00",
                    "urn": world.intervention("202")[0],
                },
            ),
            201,
        )
    return rule["version"], compliers


def _pupils(stack: Stack) -> bytes:
    """Ten CIN/LAC Year 6 pupils at every allocated school and at the unallocated one."""
    rng = random.Random(11)
    world = stack.world
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "pupil_id",
            "urn",
            "year_group",
            "cin",
            "lac",
            "ks2_reading",
            "ks2_maths",
            "ks1_prior",
            "fsm",
            "sex",
        ]
    )
    for urn in [*sorted(world.arms), world.unallocated]:
        bump = 3 if world.arms.get(urn) == "intervention" else 0
        school = rng.gauss(0, 2)
        for k in range(PUPILS_PER_SCHOOL):
            prior = rng.gauss(15, 3)
            writer.writerow(
                [
                    f"X{urn}-{k}",
                    urn,
                    6,
                    int(k % 3 != 0),
                    int(k % 3 == 0),
                    round(min(120, max(80, 100 + prior - 15 + school + bump + rng.gauss(0, 5)))),
                    round(min(120, max(80, 100 + prior - 15 + school + rng.gauss(0, 5)))),
                    round(prior, 1),
                    int(k % 2 == 0),
                    "MF"[k % 2],
                ]
            )
    return out.getvalue().encode()


def _analyse(an: httpx.Client, ev: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    accepted = ok(an.post("/analyses", headers=ev, json={}), 202)

    def finished() -> Any:
        job = ok(an.get(accepted["status_url"], headers=ev))
        return job if job["status"] in ("done", "failed") else None

    job = wait_until(finished, timeout=300, what="the analysis to finish")
    assert job["status"] == "done", job
    return job, ok(an.get("/report", headers=ev, params={"analysis": job["id"]}))


def test_a_report_from_the_other_services_data(stack: Stack, keys: Keys) -> None:
    world = stack.world
    _recruitment_extras(stack, keys)
    _surveys(stack, keys)
    rule_version, compliers = _workshops(stack, keys)
    ev = keys.headers("evaluator", sub="anx-evaluator")
    with stack.client("analytics") as an:
        plan = ok(
            an.post(
                "/plans",
                headers=ev,
                json={
                    "title": "RLC SAP (cross-service)",
                    "outcomes": ["ks2_reading", "ks2_maths"],
                    "subgroups": ["all"],
                    "compliance_rule_version": rule_version,
                },
            ),
            201,
        )
        ok(an.post(f"/plans/{plan['version']}/freeze", headers=ev))
        imported = ok(
            an.post(
                "/outcomes/imports",
                headers=ev,
                files={"file": ("ks2.csv", _pupils(stack), "text/csv")},
            ),
            201,
        )
        problems = {p["kind"]: p["count"] for p in imported["problems"]}
        # Checked against recruitment at import: the withdrawn and never-randomised schools.
        assert problems == {
            "withdrawn_school": PUPILS_PER_SCHOOL,
            "school_not_randomised": PUPILS_PER_SCHOOL,
        }
        job, report = _analyse(an, ev)

        assert job["summary"]["missing_inputs"] == []
        snapshot = ok(an.get(f"/snapshots/{job['snapshot_id']}", headers=ev))
        assert {e["status"] for e in snapshot["inputs"].values()} == {"present"}
        assert report["snapshot"]["sha256"] == snapshot["sha256"]
        assert report["plan"]["version"] == plan["version"]

        consort = report["consort"]
        arms = {
            arm: sorted(u for u, a in world.arms.items() if a == arm)
            for arm in ("intervention", "control")
        }
        for name, urns in arms.items():
            assert consort["arms"][name]["allocated"]["urns"] == urns
        intervention = consort["arms"]["intervention"]
        assert intervention["lost_to_follow_up"]["urns"] == [world.withdrawn]
        assert intervention["excluded_from_analysis"]["urns"] == [world.in_error]
        assert intervention["excluded_from_analysis"]["reasons"] == [
            {"reason": "allocation in error", "count": 1}
        ]
        analysed = sorted(set(arms["intervention"]) - {world.withdrawn, world.in_error})
        assert intervention["analysed"]["urns"] == analysed
        assert intervention["pupils"]["with_outcomes"] == PUPILS_PER_SCHOOL * len(analysed)
        assert consort["excluded"]["did_not_consent"]["urns"] == [world.unallocated]
        assert consort["assessed"]["count"] == len(world.arms) + 1
        received = intervention["received"]
        assert received["received"]["urns"] == sorted(compliers)
        # The school in error and the withdrawn one were refused enrolment: no dosage.
        assert received["unknown"]["urns"] == sorted([world.in_error, world.withdrawn])
        assert any("not randomised" in w for w in consort["warnings"])
        for name, urns in arms.items():
            teachers = consort["arms"][name]["teachers"]
            assert teachers == {
                "consented": 2 * len(urns),
                "responded_pre": 2 * len(urns),
                "responded_post": 2 * len(urns),
                "responded_both": 2 * len(urns),
            }

        itt = {e["outcome"]: e for e in report["impact"]}
        assert itt["ks2_reading"]["status"] == "estimated", itt["ks2_reading"]
        assert itt["ks2_reading"]["schools_per_arm"] == {
            "intervention": len(analysed),
            "control": len(arms["control"]),
        }
        assert [e["status"] for e in report["teacher_impact"]] == ["estimated"] * 3
        assert {e["status"] for e in report["cace"]} <= {"estimated", "not_converged"}
        assert report["cace"][0]["rule_version"] == rule_version
        assert report["costs"]["status"] == "present"
        # 18,000 once + 3 years x 7.5 h x 32.00 = 18,720 over three years.
        assert report["costs"]["total_over_years"] == "18720.00"
        rates = {r["arm"]: r for r in report["response_rates"]["pre"]["by_arm"]}
        assert rates["control"]["responses"] == 2 * len(arms["control"])
        svg = an.get(report["pictures"]["consort"]["svg"], headers=keys.headers("auditor"))
        assert svg.status_code == 200 and b"<svg" in svg.content

        # Surveys and workshops stop: their inputs are missing, and the ITT still stands.
        stack.live["surveys"].stop()
        stack.live["workshops"].stop()
        job, report = _analyse(an, ev)
        missing = {m["input"]: m["reason"] for m in report["missing_inputs"]}
        assert set(missing) == {
            "responses_pre",
            "responses_post",
            "response_rates_pre",
            "response_rates_post",
            "scales_pre",
            "scales_post",
            "dosage",
            "costs",
        }
        assert all("could not be reached" in reason for reason in missing.values()), missing
        assert {e["status"] for e in report["teacher_impact"] + report["cace"]} == {"missing_input"}
        assert report["costs"]["status"] == "missing_input"
        assert report["impact"][0]["status"] == "estimated"
        assert report["consort"]["arms"]["intervention"]["received"]["unknown"]["count"] == len(
            arms["intervention"]
        )
