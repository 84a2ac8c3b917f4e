"""Benchmark: attendance for 1,000 intervention schools × 8 sessions × 3 attendees, uploaded
through the workshops service's API one report file per cohort session, then every school's
dosage (targets: uploads < 30 s, dosage < 5 s, on this 2-core machine).

Everything runs for real: recruitment, randomisation and workshops as uvicorn processes on
SQLite databases in a temporary folder (``RLC_BENCH_WORKSHOPS_DATABASE_URL`` puts the workshops
service on another, migrated first). 2,000 schools in 20 local authorities are recruited through
recruitment's API (GIAS extract, nomination, eligibility, consent) and randomised by the
randomisation service (1:1 within each LA); the 1,000 intervention schools get three staff each
(the Designated Teacher and the English Subject Lead with addresses, the maths Subject Lead
without), are enrolled in one cohort per LA through the contamination guard, and recruitment is
not told the arms (the randomisation outbox worker is off: nothing here needs it, and on SQLite
its writes would collide with the staff being added).

Timed: 160 uploads (20 cohorts × 8 sessions; Zoom reports with the summary block and Teams
UTF-16 reports in turn; 150 staff + a facilitator each, the Designated Teachers joining twice with
an overlap), matched by address through recruitment and by name within the cohort; then
``GET /dosage`` page by page for all 1,000 schools under a frozen rule. The dosage is checked
school by school against what the files say. Prints the seconds of each step and the peak RSS of
the workshops process (and of this script); exits non-zero if a target is missed or a figure is
wrong.

    .venv/bin/python bench/attendance_1000_schools.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from rlc_cli import services
from rlc_shared.auth import generate_private_key_pem, public_jwk
from rlc_shared.migrations import upgrade
from rlc_testkit import Keys, LiveService, free_port, start_service
from rlc_testkit.recruitment import PDF, GiasSchool, gias_csv

ROOT = Path(__file__).resolve().parents[1]
LAS = 20
SCHOOLS_PER_LA = 100  # 2,000 randomised, 1,000 intervention
UPLOAD_TARGET, DOSAGE_TARGET = 30.0, 5.0
SETUP_THREADS = 6
RECRUITMENT_ENV = {
    "RECRUITMENT_EOI_DEADLINE": "2099-12-31",
    "RECRUITMENT_CONSENT_DEADLINE": "2099-12-31",
}
SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ra", "to", "vi", "da", "fe", "go", "hu", "ji", "ze"]


def _helpers() -> Any:
    path = ROOT / "services" / "workshops" / "tests" / "helpers.py"
    spec = importlib.util.spec_from_file_location("workshops_bench_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


h = _helpers()


def name_of(index: int) -> str:
    """A distinct invented two-word name per index (14^4 of them)."""
    a, b = divmod(index, len(SYLLABLES) ** 2)
    first = SYLLABLES[a % len(SYLLABLES)] + SYLLABLES[(a // len(SYLLABLES)) % len(SYLLABLES)]
    last = SYLLABLES[b % len(SYLLABLES)] + SYLLABLES[b // len(SYLLABLES)] + "son"
    return f"{first.title()} {last.title()}"


def keys_in(folder: Path) -> Keys:
    pem = generate_private_key_pem()
    kid = "bench-" + uuid.uuid4().hex[:8]
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk(pem, kid)]}))
    return Keys(private_pem=pem, kid=kid, jwks_file=jwks)


def ok(resp: httpx.Response) -> Any:
    if resp.is_error:
        raise RuntimeError(
            f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {resp.text}"
        )
    return resp.json() if resp.content else None


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def parallel(work: list[Any], fn: Any) -> list[Any]:
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        return list(pool.map(fn, work))


def workshops_attended(index: int) -> int:
    """How many workshops (1 to k) school ``index``'s Designated Teacher attends in full."""
    return index % 7


def main() -> int:
    global LAS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--las", type=int, default=LAS, help="local authorities of 100 schools")
    LAS = parser.parse_args().las
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        keys = keys_in(tmp)
        urls = {
            name: f"sqlite:///{tmp / (name + '.db')}"
            for name in ("recruitment", "randomisation", "workshops")
        }
        urls["workshops"] = os.environ.get("RLC_BENCH_WORKSHOPS_DATABASE_URL") or urls["workshops"]
        for name, url in urls.items():
            upgrade(services.get(name).directory, url)
        rec_port, rand_port = free_port(), free_port()
        live: list[LiveService] = []
        try:
            live.append(
                start_service(
                    "recruitment", database_url=urls["recruitment"], keys=keys, tmp=tmp, port=rec_port,
                    extra_env=RECRUITMENT_ENV | {
                        "RECRUITMENT_RANDOMISATION_JWKS_URL": f"http://127.0.0.1:{rand_port}/.well-known/jwks.json"
                    },
                )
            )  # fmt: skip
            live.append(
                start_service(
                    "randomisation", database_url=urls["randomisation"], keys=keys, tmp=tmp, port=rand_port,
                    extra_env={
                        "RANDOMISATION_RECRUITMENT_URL": live[0].url,
                        "RANDOMISATION_SIGNING_KEY_FILE": str(tmp / "signing.pem"),
                        # Recruitment is not told the arms (the guard asks randomisation), so its
                        # SQLite database is not written by the outbox while staff are added.
                        "RANDOMISATION_OUTBOX_WORKER_ENABLED": "false",
                    },
                )
            )  # fmt: skip
            workshops = start_service(
                "workshops", database_url=urls["workshops"], keys=keys, tmp=tmp,
                extra_env={
                    "WORKSHOPS_RECRUITMENT_URL": live[0].url,
                    "WORKSHOPS_RANDOMISATION_URL": live[1].url,
                    "WORKSHOPS_LOG_LEVEL": os.environ.get("RLC_BENCH_LOG_LEVEL", "WARNING"),
                },
            )  # fmt: skip
            live.append(workshops)
            return run(keys, live[0].url, live[1].url, workshops)
        finally:
            for service in reversed(live):
                service.stop()


def run(keys: Keys, rec_url: str, rand_url: str, workshops: LiveService) -> int:
    tm = keys.headers("trial_manager", sub="bench-tm", ttl_seconds=7200)
    delivery = keys.headers("delivery", sub="bench-delivery", ttl_seconds=7200)
    evaluator = keys.headers("evaluator", sub="bench-evaluator", ttl_seconds=7200)
    analytics = keys.headers("service", sub="service:analytics", ttl_seconds=7200)
    la_codes = [str(800 + i) for i in range(LAS)]
    urns = {700000 + i: la_codes[i // SCHOOLS_PER_LA] for i in range(LAS * SCHOOLS_PER_LA)}
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=SETUP_THREADS * 2)
    with (
        httpx.Client(base_url=rec_url, timeout=120, limits=limits) as rec,
        httpx.Client(base_url=rand_url, timeout=300) as rnd,
        httpx.Client(base_url=workshops.url, timeout=120, limits=limits) as ws,
    ):
        extract = gias_csv(
            [
                GiasSchool(urn=u, la_code=la, la_name=f"LA {la}", pupils="240")
                for u, la in urns.items()
            ]
        )
        ok(
            rec.post(
                "/gias/imports",
                headers=tm,
                files={"file": ("edubasealldata.csv", extract, "text/csv")},
            )
        )
        for la in la_codes:
            ok(rec.post("/local-authorities", headers=tm, json={
                "la_code": la, "name": f"LA {la}", "contact_name": "Contact",
                "late_override_reason": "benchmark",
            }))  # fmt: skip

        def recruit(urn: int) -> None:
            path = f"/schools/{urn}"
            ok(rec.post(f"{path}/nomination", headers=tm))
            ok(
                rec.post(
                    f"{path}/eligibility",
                    headers=tm,
                    json={"year56_social_worker_pupils": 2, "year56_looked_after_pupils": 1},
                )
            )
            ok(rec.post(f"{path}/consent", headers=tm, data={
                "head_teacher_name": "Head", "consent_date": "2021-06-01",
                "random_allocation": "true", "evaluation": "true",
            }, files={"form": ("consent.pdf", PDF, "application/pdf")}))  # fmt: skip

        parallel(sorted(urns), recruit)
        recruited = time.perf_counter()
        scheme = ok(rnd.post("/schemes", headers=tm, json={"name": "bench"}))
        run_ = ok(rnd.post(f"/schemes/{scheme['id']}/runs", headers=tm, json={"label": "main"}))
        ok(rnd.post(f"/runs/{run_['id']}/freeze", headers=tm))
        ok(rnd.post(f"/runs/{run_['id']}/execute", headers=tm, json={"witness": "bench"}))
        randomised = time.perf_counter()
        arms: dict[int, str] = {}
        params: dict[str, Any] = {"limit": 500}
        while True:
            page = ok(rnd.get("/allocations", headers=tm, params=params))
            arms.update((a["urn"], a["arm"]) for a in page["data"])
            if not page["next_cursor"]:
                break
            params["cursor"] = page["next_cursor"]
        intervention = sorted(u for u, arm in arms.items() if arm == "intervention")
        assert len(arms) == len(urns) and len(intervention) == len(urns) // 2, (
            len(arms),
            len(intervention),
        )
        index_of = {urn: i for i, urn in enumerate(intervention)}
        staff: dict[int, dict[str, dict[str, Any]]] = {}

        def add_staff(urn: int) -> None:
            i = index_of[urn]
            members = {}
            for n, (role, with_email) in enumerate(
                (
                    ("designated_teacher", True),
                    ("english_subject_lead", True),
                    ("maths_subject_lead", False),
                )
            ):
                name = name_of(3 * i + n)
                email = f"{name.replace(' ', '.').lower()}@s{urn}.sch.uk" if with_email else None
                body = {"name": name, "role": role} | ({"email": email} if email else {})
                made = ok(rec.post(f"/schools/{urn}/staff", headers=tm, json=body))
                members[role] = {"id": made["id"], "name": name, "email": email}
            staff[urn] = members

        staffing = time.perf_counter()
        parallel(intervention, add_staff)
        cohorts: dict[str, dict[str, Any]] = {}
        for la in la_codes:
            cohort = ok(
                ws.post("/cohorts", headers=delivery, json={"name": f"Cohort {la}", "la_code": la})
            )
            cohorts[la] = {"id": cohort["id"], "sessions": {
                s["key"]: s for s in ok(ws.get(f"/cohorts/{cohort['id']}/sessions", headers=delivery))
            }}  # fmt: skip
        parallel(
            intervention,
            lambda urn: ok(
                ws.post(
                    f"/cohorts/{cohorts[urns[urn]]['id']}/schools",
                    headers=delivery,
                    json={"urn": urn},
                )
            ),
        )
        enrolled = time.perf_counter()

        files = []
        for la in la_codes:
            members = [u for u in intervention if urns[u] == la]
            for position, (_key, session) in enumerate(cohorts[la]["sessions"].items()):
                day = dt.date.fromisoformat(session["planned_on"])
                joins = [
                    h.Joined(
                        "Facilitator", "facilitator@university.example", h.at(day, 15, 50), 160
                    )
                ]
                for urn in members:
                    i, people = index_of[urn], staff[urn]
                    dt_, esl, msl = (
                        people["designated_teacher"],
                        people["english_subject_lead"],
                        people["maths_subject_lead"],
                    )
                    number = session["number"]
                    if number is not None and number <= workshops_attended(i):
                        joins += [
                            h.Joined(dt_["name"], dt_["email"], h.at(day, 16), 70),
                            h.Joined(dt_["name"], dt_["email"], h.at(day, 17, 5), 85),
                        ]
                    else:
                        joins.append(h.Joined(dt_["name"], dt_["email"], h.at(day, 16), 30))
                    full = session["kind"] != "workshop"
                    joins.append(
                        h.Joined(
                            esl["name"],
                            esl["email"],
                            h.at(day, 16),
                            session["duration_minutes"] if full else 20,
                        )
                    )
                    joins.append(h.Joined(msl["name"], None, h.at(day, 16), 60))
                maker = h.zoom_file if position % 2 == 0 else h.teams_file
                files.append((session["id"], len(members), maker(joins, day=day)))
        setup = time.perf_counter()

        upload_start = time.perf_counter()
        for session_id, schools, data in files:
            result = ok(ws.post(f"/sessions/{session_id}/attendance-reports", headers=delivery,
                                files={"file": ("report.csv", data, "text/csv")}))  # fmt: skip
            if (result["matched"], result["unmatched"]) != (3 * schools, 1):
                raise RuntimeError(
                    f"session {session_id}: matched {result['matched']}, unmatched {result['unmatched']}"
                )
        upload_seconds = time.perf_counter() - upload_start

        rule = ok(ws.post("/compliance-rules", headers=evaluator, json={"note": "bench"}))
        ok(ws.post(f"/compliance-rules/{rule['version']}/freeze", headers=evaluator))
        dosage_start = time.perf_counter()
        rows: list[dict[str, Any]] = []
        params = {"limit": 500}
        while True:
            page = ok(ws.get("/dosage", headers=analytics, params=params))
            rows += page["data"]
            if not page["next_cursor"]:
                break
            params["cursor"] = page["next_cursor"]
        dosage_seconds = time.perf_counter() - dosage_start
        workshops_rss = peak_rss_mb(workshops.proc.pid)

    wrong = []
    for row in rows:
        k = workshops_attended(index_of[row["urn"]])
        want = (k, k + 2, k >= 4)
        if (row["workshops_attended"], row["sessions_attended"], row["complier"]) != want:
            wrong.append((row["urn"], row, want))
    compliers = sum(r["complier"] for r in rows)
    own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"attendance_1000_schools: {len(intervention)} schools x 8 sessions x 3 attendees, "
        f"{len(files)} reports ({sum(len(f[2]) for f in files) / 1e6:.1f} MB): "
        f"uploads {upload_seconds:.1f} s (target < {UPLOAD_TARGET:g} s), "
        f"dosage of {len(rows)} schools {dosage_seconds:.2f} s (target < {DOSAGE_TARGET:g} s); "
        f"{compliers} compliers; peak RSS workshops process {workshops_rss:.0f} MB, "
        f"this script {own_rss:.0f} MB"
    )
    print(
        f"  setup (not timed): recruit 2,000 schools {recruited - started:.0f} s, randomise "
        f"{randomised - recruited:.1f} s, staff + cohorts + enrolment {enrolled - staffing:.0f} s, "
        f"report files {setup - enrolled:.1f} s"
    )
    if wrong:
        print(f"  {len(wrong)} schools' dosage disagrees with the files, e.g. {wrong[:2]}")
    ok_ = (
        not wrong
        and len(rows) == len(intervention)
        and upload_seconds < UPLOAD_TARGET
        and dosage_seconds < DOSAGE_TARGET
    )
    return 0 if ok_ else 1


if __name__ == "__main__":
    sys.exit(main())
