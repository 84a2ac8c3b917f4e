"""The analysis, as the evaluator runs it.

The evaluator registers the statistical analysis plan (KS2 reading and maths, adjusted for the
stratum and KS1 prior attainment; all pupils, CIN and LAC; the three teacher scales; the
workshops service's frozen compliance rule for the CACE; Hedges' g on the total variance) and
freezes it before any outcome arrives. The pupil outcomes extract then comes in: the Year 6
pupils in need or looked after at the randomised schools (and at a nominated school that never
consented, as an LA's extract would hold), with a planted effect of g = 0.2 on both outcomes in
intervention schools and a school-level ICC of 0.15, and the blemishes real extracts have (a
"working below the test" code instead of a score, blank flags, a pupil listed twice). The
analysis runs as a job; the report's headline numbers and where to read the report and its
CONSORT diagram end the simulation.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from rlc_cli.simulate.context import SimContext, SimulationError
from rlc_cli.simulate.exports.outcomes import outcomes_csv
from rlc_cli.simulate.population import School, school_rng

#: The planted effect (Hedges' g on the total SD) and the school-level share of the variance.
EFFECT_SIZE = 0.2
ICC = 0.15
TOTAL_SD = 6.5
#: The mean KS2 scaled score of pupils in need (below the national 104-105).
MEAN = {"ks2_reading": 98.0, "ks2_maths": 97.0}
#: The share of the pupil-level variance KS1 prior attainment explains.
PRIOR_SHARE = 0.6


def _pupil_id(seed: int, urn: int, number: int) -> str:
    return "P" + hashlib.sha256(f"{seed}:{urn}:{number}".encode()).hexdigest()[:11].upper()


def pupils(ctx: SimContext, school: School, treated: bool) -> list[dict[str, Any]]:
    """The school's Year 6 pupils in need or looked after, with their KS2 results."""
    rng = school_rng(ctx.seed, "pupils", school.urn)
    count = max(2, round(school.pupils / 7 * rng.uniform(0.12, 0.28)))
    school_sd = math.sqrt(ICC) * TOTAL_SD
    pupil_sd = math.sqrt(1 - ICC) * TOTAL_SD
    school_effect = {k: rng.gauss(0, school_sd) for k in MEAN}
    rows = []
    for number in range(count):
        ability = rng.gauss(0, 1)
        prior = min(21.0, max(3.0, 14 + 3.5 * (0.8 * ability + 0.6 * rng.gauss(0, 1))))
        looked_after = rng.random() < 0.22
        row: dict[str, Any] = {
            "pupil_id": _pupil_id(ctx.seed, school.urn, number),
            "urn": school.urn,
            "year_group": 6,
            "cin": 1 if not looked_after or rng.random() < 0.5 else 0,
            "lac": 1 if looked_after else 0,
            "ks1_prior": round(prior, 1),
            "fsm": 1 if rng.random() < 0.62 else 0,
            "sex": rng.choice("MF"),
            "sen": rng.choices(("N", "K", "E"), weights=(55, 33, 12))[0],
        }
        for outcome, mean in MEAN.items():
            explained = math.sqrt(PRIOR_SHARE) * pupil_sd * ability
            noise = rng.gauss(0, math.sqrt(1 - PRIOR_SHARE) * pupil_sd)
            lift = EFFECT_SIZE * TOTAL_SD if treated else 0.0
            score = mean + school_effect[outcome] + explained + noise + lift
            row[outcome] = round(min(120.0, max(80.0, score)))
        if rng.random() < 0.015:  # "B": working below the standard of the test, no score
            row["ks2_reading"] = "B"
        if not row["lac"] and rng.random() < 0.05:
            row["lac"] = None  # the extract leaves a flag blank when it is not set
        rows.append(row)
    return rows


def outcomes_file(ctx: SimContext) -> tuple[bytes, int]:
    allocations = ctx.facts["allocations"]
    rows = []
    for urn in sorted(allocations):
        rows += pupils(ctx, ctx.pop.by_urn[urn], allocations[urn]["arm"] == "intervention")
    # A nominated, eligible school that never consented: the LA's extract still has its pupils.
    declined = [
        s
        for s in ctx.pop.trial_schools
        if s.eligible and not s.consents and s.urn not in allocations
    ]
    for school in declined[:1]:
        rows += pupils(ctx, school, False)
    if len(rows) > 10:  # a pupil listed twice (moved school in Year 6): neither row is used
        rows.insert(7, dict(rows[3]))
    return outcomes_csv(rows), len(rows)


def _headline(entry: dict[str, Any]) -> dict[str, Any]:
    if entry.get("status") != "estimated":
        return {"status": entry.get("status"), "message": entry.get("message")}
    headline = entry["headline"]
    return {
        "g": round(headline["g"], 3),
        "ci": [round(x, 3) for x in headline["ci"]],
        **({"schools_per_arm": entry["schools_per_arm"]} if "schools_per_arm" in entry else {}),
    }


def run(ctx: SimContext) -> dict[str, Any]:
    an, evaluator = ctx.client("analytics"), ctx.evaluator()
    rule = ctx.facts.get("compliance_rule_version")
    plan = ctx.ok(
        an.post(
            "/plans",
            headers=evaluator,
            json={
                "title": f"RLC {ctx.timeline.consent_deadline.year} statistical "
                "analysis plan (simulated trial)",
                "outcomes": ["ks2_reading", "ks2_maths"],
                "covariates": ["la", "ks1_prior"],
                "subgroups": ["all", "cin", "lac"],
                "teacher_outcomes": ["knowledge", "attitudes", "use"],
                "compliance_rule_version": rule,
                "effect_size_convention": "total_unconditional",
                "notes": "Two-level model, pupils in schools; LA as fixed effects (the strata).",
            },
        )
    )
    plan = ctx.ok(
        an.post(
            f"/plans/{plan['version']}/freeze",
            headers=evaluator,
            json={"reason": "agreed with the trial's steering group before the KS2 data arrived"},
        )
    )
    content, rows = outcomes_file(ctx)
    imported = ctx.ok(
        an.post(
            "/outcomes/imports",
            headers=evaluator,
            files={"file": ("npd_ks2_extract.csv", content, "text/csv")},
        )
    )
    accepted = ctx.ok(
        an.post("/analyses", headers=evaluator, json={"reason": "the trial's primary analysis"})
    )

    def finished() -> dict[str, Any] | None:
        job = ctx.ok(an.get(accepted["status_url"], headers=evaluator))
        return job if job["status"] in ("done", "failed") else None

    job = ctx.wait_for("the analysis to finish", finished, interval=0.5)
    if job["status"] != "done":
        raise SimulationError(f"the analysis failed: {job['error']}")
    report = ctx.ok(an.get("/report", headers=evaluator, params={"analysis": job["id"]}))
    base = str(an.base_url).rstrip("/")
    consort = report["consort"]
    summary = {
        "plan_version": plan["version"],
        "plan_fingerprint": plan["fingerprint"],
        "pupils": {
            "rows": rows,
            "sha256": hashlib.sha256(content).hexdigest(),
            "imported": imported["rows"],
            "usable": imported["usable_rows"],
            "problems": {p["kind"]: p["count"] for p in imported["problems"]},
        },
        "analysis_id": job["id"],
        "snapshot_sha256": report["snapshot"]["sha256"],
        "missing_inputs": sorted({m["input"] for m in report["missing_inputs"]}),
        "planted": {"g": EFFECT_SIZE, "icc": ICC},
        "itt": {f"{e['outcome']}/{e['subgroup']}": _headline(e) for e in report["impact"]},
        "teacher_impact": {e["scale"]: _headline(e) for e in report["teacher_impact"]},
        "cace": {e["outcome"]: _headline(e) for e in report["cace"]},
        "consort": {
            arm: {
                "allocated": consort["arms"][arm]["allocated"]["count"],
                "analysed": consort["arms"][arm]["analysed"]["count"],
            }
            for arm in ("intervention", "control")
        },
        "report_url": f"{base}/report?analysis={job['id']}",
        "consort_svg_url": f"{base}{report['pictures']['consort']['svg']}",
        "forest_svg_url": f"{base}{report['pictures']['forest']['svg']}",
    }
    ctx.facts["analysis"] = summary
    return summary
