"""The trial simulator (``rlc simulate``) against the five services as real processes: a small
trial played through the public APIs, checked against what its seed implies, then played again
with the same seed into a fresh platform, which must come to the same counts.

The stack is ``rlc_cli.stack.Stack`` (what ``rlc up`` runs) on its own ports, with one database
per service on PostgreSQL or SQLite (``RLC_TEST_DATABASE``), and the simulated calendar's
deadlines (``Timeline.service_environment``) so that the simulation's withdrawals are accepted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import subprocess
import sys
import time
import types
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyreadstat
import pytest

from rlc_cli.simulate import simulate
from rlc_cli.simulate.exports.surveys import sav_export, xlsx_export
from rlc_cli.simulate.population import draw
from rlc_cli.simulate.stages.recruitment import BROKEN_ROWS
from rlc_cli.stack import Stack
from rlc_testkit import S3Server
from rlc_testkit.stack import auth, dev_keys, pages, s3_environment, start_stack

__all__ = ["dev_keys"]  # the module's dev issuer (a fixture)

SCHOOLS, LAS, SEED = 40, 3, 7
PATHS = ("exact", "historical", "domain", "manual")


@dataclass
class Played:
    stack: Stack
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def first(dev_keys: Path, database_factory: Any, s3_server: S3Server) -> Iterator[Played]:
    """The simulated trial in five processes storing their files on the S3 server."""
    stack = start_stack(
        dev_keys,
        database_factory,
        "a",
        extra_env=s3_environment(s3_server.endpoint_url, s3_server.bucket),
    )
    try:
        yield Played(
            stack, simulate(stack.urls, schools=SCHOOLS, las=LAS, seed=SEED, echo=lambda line: None)
        )
    finally:
        stack.stop()


def test_the_simulated_trial_is_what_its_seed_implies(first: Played) -> None:
    summary, urls = first.summary, first.stack.urls
    population = draw(schools=SCHOOLS, las=LAS, seed=SEED)
    nominated = population.trial_schools
    eligible = [s for s in nominated if s.eligible]
    consenting = [s for s in eligible if s.consents]
    assert summary["schools"] == len(population.schools) and summary["las"] == LAS

    rec = summary["recruitment"]
    assert rec["gias"] == {
        "inserted": len(population.schools),
        "updated": 0,
        "unchanged": 0,
        "rejected": BROKEN_ROWS,
    }
    assert (rec["nominated"], rec["eligible"]) == (len(nominated), len(eligible))
    assert rec["consented"] == sum(not s.late_joiner for s in consenting)
    main = [s for s in consenting if not s.late_joiner]
    assert rec["staff"] == sum(len(s.teachers) for s in main)
    # The calendar keeps the withdrawal cut-off ahead: every withdrawal is accepted.
    assert rec["withdrawals"] == sum(t.withdraws for s in main for t in s.teachers) > 0

    # Every consented eligible school allocated exactly once, balanced within its LA.
    tm = auth("trial_manager")
    allocations = pages(f"{urls['randomisation']}/allocations", tm)
    assert Counter(a["urn"] for a in allocations) == Counter(s.urn for s in consenting)
    rnd = summary["randomisation"]
    assert rnd["allocated"] == len(consenting)
    for la in population.las:
        arms = Counter(a["arm"] for a in allocations if a["la_code"] == la.code)
        # Two runs (main, late joiners), each balanced within one.
        assert abs(arms["intervention"] - arms["control"]) <= 2, (la.code, arms)
        assert rnd["strata"][la.code] == {
            "intervention": arms["intervention"],
            "control": arms["control"],
        }
    intervention = sorted(a["urn"] for a in allocations if a["arm"] == "intervention")
    school = httpx.get(f"{urls['recruitment']}/schools/{intervention[0]}", headers=tm).json()
    assert school["status"] == "randomised" and school["arm"] == "intervention"

    # Workshops: every intervention school enrolled, a control school refused, Zoom and Teams
    # files read, and every school's dosage as its staff's planned attendance gives it.
    ws = summary["workshops"]
    assert ws["cohorts"] == len({a["la_code"] for a in allocations if a["arm"] == "intervention"})
    assert ws["enrolled"] == len(intervention) and ws["refused"] == {"control": 1}
    assert ws["reports"]["zoom"] > 0 and ws["reports"]["teams"] > 0
    assert ws["reports"]["zoom"] + ws["reports"]["teams"] == 7 * ws["cohorts"]
    assert ws["registers"] == ws["cohorts"] and ws["stand_ins"] > 0
    # The facilitator and a shared device, at every online session.
    assert ws["participants_for_review"] == 2 * (ws["reports"]["zoom"] + ws["reports"]["teams"])
    assert ws["dosage_unlike_plan"] == [] and ws["compliers"] == ws["compliers_planned"]
    evaluator = auth("evaluator")
    dosage = pages(f"{urls['workshops']}/dosage", evaluator)
    assert sorted(d["urn"] for d in dosage) == intervention
    assert {d["rule_version"] for d in dosage} == {ws["compliance_rule_version"]}
    assert all(d["rule_frozen"] for d in dosage)
    assert 0 < ws["compliers"] <= len(intervention)

    # Surveys: every export parsed, every linking path used, as many as the deliveries imply.
    sv = summary["surveys"]
    assert {e["format"] for e in sv["exports"]} == {"csv", "json", "sav", "xlsx"}
    exports = pages(f"{urls['surveys']}/exports", evaluator)
    assert {e["status"] for e in exports} == {"done"}
    assert len(exports) == len(sv["exports"]) + 1  # the re-sent file, recorded as a duplicate
    assert sv["redelivered_same_id"] == sv["exports"][0]["id"]
    assert sv["duplicate_content"]["duplicate_of"] == sv["exports"][2]["id"]
    assert sv["resolved_by_hand"] == 1
    for round_, counts in sv["rounds"].items():
        planned = counts["planned"]
        assert counts["links"] == {path: planned[path] for path in PATHS}, round_
        assert (counts["rows"], counts["unmatched"], counts["withdrawn"]) == (
            planned["rows"],
            planned["unmatched"],
            planned["withdrawn"],
        ), round_
        assert counts["unmatched"] > 0 and counts["links"]["exact"] > 0
        assert counts["links"]["domain"] > 0 and counts["links"]["manual"] > 0
    assert sv["rounds"]["pre"]["links"]["historical"] > 0
    assert sv["rounds"]["pre"]["withdrawn"] > 0
    assert sv["rounds"]["post"]["links"]["historical"] == 0  # the register was corrected by then
    # The scores are the answers' (every response once, withdrawn teachers and unknown addresses
    # left out), and the planted difference is there: intervention teachers use research more
    # after the programme (about half a point here; each run's arms are a new draw, so only the
    # direction is asserted, three standard errors away).
    for round_ in ("pre", "post"):
        assert sv["rounds"][round_]["use_by_arm"] == sv["rounds"][round_]["use_by_arm_planned"]
    use = sv["rounds"]["post"]["use_by_arm"]
    assert use["intervention"] > use["control"], use

    # Analytics: the plan frozen, the pupils imported with their known blemishes, the report
    # produced from every input, with a CONSORT diagram.
    an = summary["analytics"]
    assert an["missing_inputs"] == []
    problems = an["pupils"]["problems"]
    assert problems["duplicate_pupil"] == 2 and problems["school_not_randomised"] > 0
    assert an["pupils"]["imported"] == an["pupils"]["rows"]
    assert an["pupils"]["usable"] == an["pupils"]["rows"] - 2 - problems["school_not_randomised"]
    arms = Counter(a["arm"] for a in allocations)
    for arm in ("intervention", "control"):
        assert an["consort"][arm] == {"allocated": arms[arm], "analysed": arms[arm]}
    planted = an["planted"]["g"]
    for outcome in ("ks2_reading/all", "ks2_maths/all"):
        estimate = an["itt"][outcome]
        low, high = estimate["ci"]
        assert low < estimate["g"] < high, estimate
        # The planted effect is recovered within the CI. The arms come from the randomisation
        # service's secret seed, so each run is a new draw and a 95% CI misses 1 run in 20:
        # the check widens it to 99.9% (same centre, 3.29 instead of 1.96 half-widths), so that
        # it fails only when the estimate is really off.
        centre, half = (low + high) / 2, (high - low) / 2 * 3.29 / 1.96
        assert centre - half < planted < centre + half, (planted, estimate)
        assert estimate["schools_per_arm"] == {
            "intervention": arms["intervention"],
            "control": arms["control"],
        }
    assert set(an["teacher_impact"]) == {"knowledge", "attitudes", "use"}
    auditor = auth("auditor")
    svg = httpx.get(an["consort_svg_url"], headers=auditor, timeout=30)
    assert svg.status_code == 200 and b"<svg" in svg.content
    report = httpx.get(an["report_url"], headers=auditor, timeout=30).json()
    assert report["analysis_id"] == an["analysis_id"]
    assert report["snapshot"]["sha256"] == an["snapshot_sha256"]
    assert report["plan"]["version"] == an["plan_version"]


def test_the_log_verifies_offline_no_control_school_attends_and_consort_adds_up(
    first: Played, s3_server: S3Server, tmp_path: Path
) -> None:
    urls, auditor, tm = first.stack.urls, auth("auditor"), auth("trial_manager")
    # The randomisation log, as an outside auditor checks it: the export, the public keys and a
    # signed checkpoint, through the offline verifier (no service code involved).
    for name, path, headers in (
        ("log.jsonl", "/log/export", auditor),
        ("checkpoint.json", "/log/checkpoint", auditor),
        ("jwks.json", "/.well-known/jwks.json", {}),
    ):
        resp = httpx.get(urls["randomisation"] + path, headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
        (tmp_path / name).write_bytes(resp.content)
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "randomisation.verifier",
            "log.jsonl",
            "--jwks",
            "jwks.json",
            "--checkpoint",
            "checkpoint.json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0 and verified.stdout.startswith("OK: "), verified.stdout
    assert "2 runs re-derived" in verified.stdout

    # No control school is enrolled in any cohort (nor any school without an allocation).
    arms = {a["urn"]: a["arm"] for a in pages(f"{urls['randomisation']}/allocations", tm)}
    enrolled = [
        e["urn"]
        for cohort in pages(f"{urls['workshops']}/cohorts", tm)
        for e in pages(f"{urls['workshops']}/cohorts/{cohort['id']}/schools", tm)
    ]
    assert enrolled and {arms.get(urn) for urn in enrolled} == {"intervention"}
    assert len(enrolled) == len(set(enrolled))

    # CONSORT adds up: assessed = excluded + randomised, randomised = the arms' allocated, each
    # arm's allocated = its terminal boxes, and each allocation where the randomisation says.
    consort = httpx.get(f"{urls['analytics']}/report", headers=auditor, timeout=30).json()[
        "consort"
    ]
    assert consort["assessed"]["count"] == (
        consort["excluded"]["count"] + consort["randomised"]["count"]
    )
    assert consort["excluded"]["count"] == sum(
        box["count"] for key, box in consort["excluded"].items() if key != "count"
    )
    assert consort["randomised"]["count"] == sum(
        arm["allocated"]["count"] for arm in consort["arms"].values()
    )
    for name, arm in consort["arms"].items():
        terminal = ("lost_to_follow_up", "excluded_from_analysis", "analysed", "analysis_pending")
        assert arm["allocated"]["count"] == sum(arm[box]["count"] for box in terminal), name
        assert arm["allocated"]["count"] == Counter(arms.values())[name], name

    # Every service kept its files on the S3 server, under its own prefix.
    stored = {
        obj["Key"].split("/", 1)[0]
        for page in s3_server.client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=s3_server.bucket)
        for obj in page.get("Contents", [])
    }
    assert {"recruitment", "surveys", "workshops", "analytics"} <= stored


def test_the_same_seed_plays_the_same_trial_into_a_fresh_platform(
    first: Played, dev_keys: Path, database_factory: Any
) -> None:
    stack = start_stack(dev_keys, database_factory, "b")
    try:
        again = simulate(stack.urls, schools=SCHOOLS, las=LAS, seed=SEED, echo=lambda line: None)
    finally:
        stack.stop()
    one = first.summary
    assert again["recruitment"] == one["recruitment"]
    strata = {la: sum(arms.values()) for la, arms in one["randomisation"]["strata"].items()}
    assert {
        la: sum(arms.values()) for la, arms in again["randomisation"]["strata"].items()
    } == strata
    for round_ in ("pre", "post"):
        for key in ("rows", "linked", "unmatched", "withdrawn", "links", "planned"):
            assert again["surveys"]["rounds"][round_][key] == one["surveys"]["rounds"][round_][key]
    # The pre round's files do not depend on the arms: the same bytes.
    pre = [e["sha256"] for e in one["surveys"]["exports"] if e["round"] == "pre"]
    assert [e["sha256"] for e in again["surveys"]["exports"] if e["round"] == "pre"] == pre
    assert again["analytics"]["pupils"]["rows"] == one["analytics"]["pupils"]["rows"]
    assert again["workshops"]["dosage_unlike_plan"] == []


def test_binary_exports_carry_the_export_time_not_the_moment_they_were_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    columns = ["ResponseId", "Q1_role", "K1", "K2"]
    rows = [
        {"ResponseId": "R_a", "Q1_role": "Designated Teacher", "K1": 4, "K2": None},
        {"ResponseId": "R_b", "Q1_role": "Year 6 teacher", "K1": 2, "K2": 5},
    ]
    exported = dt.datetime(2027, 5, 27, 17, 0)
    workbook = xlsx_export(columns, rows, exported_at=exported)
    spss = sav_export(
        columns,
        rows,
        coded={"Q1_role": ["Designated Teacher", "Year 6 teacher"]},
        numeric=["K1", "K2"],
        exported_at=exported,
    )
    # A day later by every clock the writers read.
    later = time.time() + 86_400
    monkeypatch.setattr(time, "time", lambda: later)
    import openpyxl.writer.excel as excel

    clock = types.SimpleNamespace(
        datetime=types.SimpleNamespace(now=lambda tz=None: dt.datetime.fromtimestamp(later, tz)),
        timezone=dt.timezone,
    )
    monkeypatch.setattr(excel, "datetime", clock)
    assert xlsx_export(columns, rows, exported_at=exported) == workbook
    with zipfile.ZipFile(io.BytesIO(workbook)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2027, 5, 27, 17, 0, 0)}
        assert b"2027-05-27T17:00:00Z" in archive.read("docProps/core.xml")
    assert spss[92:109] == b"27 May 2717:00:00"
    assert (
        hashlib.sha256(spss).digest()
        == hashlib.sha256(
            sav_export(
                columns,
                rows,
                coded={"Q1_role": ["Designated Teacher", "Year 6 teacher"]},
                numeric=["K1", "K2"],
                exported_at=exported,
            )
        ).digest()
    )
    path = tmp_path / "export.sav"
    path.write_bytes(spss)
    frame, _ = pyreadstat.read_sav(str(path), apply_value_formats=True, user_missing=False)
    assert frame["Q1_role"].tolist() == ["Designated Teacher", "Year 6 teacher"]
    assert frame["K1"].tolist() == [4.0, 2.0] and pd.isna(frame["K2"][0])  # 99: not answered
