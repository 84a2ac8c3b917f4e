"""The demo's analysis, through the analytics service's public API as the evaluator does it.

The evaluator registers the statistical analysis plan (naming the workshops service's latest
frozen compliance rule, when the workshops part froze one) and freezes it, imports a small pupil
outcomes file for the demo's randomised schools (invented Year 6 CIN/LAC pupils, with a modest
effect planted on reading), runs the analysis as a job and follows it to the end, then says where
the report and the CONSORT diagram are. Loading twice does nothing the second time.
"""

from __future__ import annotations

import csv
import io
import random
import time
from typing import Any

import httpx

from rlc_cli.demo.context import DemoContext

PUPILS_PER_SCHOOL = 8
DEADLINE_SECONDS = 300.0

_ok = DemoContext.ok


def _frozen_rule(ctx: DemoContext, headers: dict[str, str]) -> int | None:
    """The workshops service's latest frozen compliance rule, if it has one (else no CACE)."""
    if "workshops" not in ctx.urls:
        return None
    try:
        resp = ctx.client("workshops").get(
            "/compliance-rules", headers=headers, params={"limit": 500}
        )
    except httpx.HTTPError:
        return None
    if resp.is_error:
        return None
    frozen = [r["version"] for r in resp.json().get("data", []) if r.get("status") == "frozen"]
    return max(frozen) if frozen else None


def pupils_csv(allocations: list[dict[str, Any]], *, seed: int = 2021) -> bytes:
    """Invented pupils of the randomised schools: KS1 prior attainment, KS2 reading and maths."""
    rng = random.Random(seed)
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
    for allocation in sorted(allocations, key=lambda a: a["urn"]):
        urn, treated = allocation["urn"], allocation["arm"] == "intervention"
        school = rng.gauss(0, 2.5)
        for k in range(PUPILS_PER_SCHOOL):
            prior = rng.gauss(14, 3)
            reading = 98 + 0.9 * (prior - 14) + school + (2.5 if treated else 0) + rng.gauss(0, 5)
            maths = 97 + 0.9 * (prior - 14) + school + rng.gauss(0, 5)
            cin = k % 4 != 0
            writer.writerow([
                f"DEMO-{urn}-{k:02d}", urn, 6, int(cin), int(not cin or k == 5),
                round(min(120, max(80, reading))), round(min(120, max(80, maths))),
                round(prior, 1), int(rng.random() < 0.55), "MF"[k % 2],
            ])  # fmt: skip
    return out.getvalue().encode()


def load(ctx: DemoContext) -> None:
    evaluator = ctx.headers("evaluator", sub="demo-evaluator")
    an = ctx.client("analytics")
    echo = ctx.echo
    if _ok(an.get("/plans", headers=evaluator))["count"]:
        echo("analytics demo already loaded")
        return
    rule = _frozen_rule(ctx, evaluator)
    plan = _ok(
        an.post(
            "/plans",
            headers=evaluator,
            json={
                "title": "RLC 2021/22 statistical analysis plan (demo)",
                "outcomes": ["ks2_reading", "ks2_maths"],
                "covariates": ["la", "ks1_prior"],
                "subgroups": ["all", "cin", "lac"],
                "teacher_outcomes": ["knowledge", "attitudes", "use"],
                "compliance_rule_version": rule,
                "effect_size_convention": "total_unconditional",
            },
        )
    )
    _ok(
        an.post(
            f"/plans/{plan['version']}/freeze",
            headers=evaluator,
            json={"reason": "demo: plan agreed before the KS2 data arrived"},
        )
    )
    allocations = _ok(
        ctx.client("randomisation").get("/allocations", headers=evaluator, params={"limit": 500})
    )["data"]
    imported = _ok(
        an.post(
            "/outcomes/imports",
            headers=evaluator,
            files={"file": ("ks2-2022-demo.csv", pupils_csv(allocations), "text/csv")},
        )
    )
    accepted = _ok(an.post("/analyses", headers=evaluator, json={"reason": "demo analysis"}))
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        job = _ok(an.get(accepted["status_url"], headers=evaluator))
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if job["status"] != "done":
        echo(f"analytics demo: the analysis is {job['status']} ({job['error'] or job['stage']})")
        return
    report = _ok(an.get("/report", headers=evaluator, params={"analysis": job["id"]}))
    base = str(an.base_url).rstrip("/")
    estimated = [e for e in report["impact"] if e["status"] == "estimated"]
    missing = sorted({m["input"] for m in report["missing_inputs"]})
    echo(
        f"demo analysis done: plan v{plan['version']} frozen, {imported['rows']} pupils imported "
        f"({imported['usable_rows']} analysable), {len(estimated)} of {len(report['impact'])} "
        f"ITT estimates, snapshot {report['snapshot']['sha256'][:12]}"
        + (f"; inputs missing: {', '.join(missing)}" if missing else "")
    )
    echo(f"  report (JSON):    GET {base}/report")
    echo(f"  CONSORT diagram:  GET {base}{report['pictures']['consort']['svg']}")
    echo(f"  forest plot:      GET {base}{report['pictures']['forest']['svg']}")
    echo("  (an evaluator, trial_manager or auditor token: .venv/bin/rlc token --role auditor)")
