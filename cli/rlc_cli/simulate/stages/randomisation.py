"""Randomisation, as the trial manager runs it: a scheme, the main run (freeze, execute with a
witness, notify), then the late joiners consent and are randomised in a second run."""

from __future__ import annotations

import time
from typing import Any

from rlc_cli.simulate.context import SimContext
from rlc_cli.simulate.stages.recruitment import add_staff, consent


def _randomise(ctx: SimContext, scheme_id: str, label: str) -> dict[str, Any]:
    rnd = ctx.client("randomisation")
    tm = ctx.tm()
    run = ctx.ok(rnd.post(f"/schemes/{scheme_id}/runs", headers=tm, json={"label": label}))
    frozen = ctx.ok(rnd.post(f"/runs/{run['id']}/freeze", headers=tm))
    ctx.ok(
        rnd.post(
            f"/runs/{run['id']}/execute",
            headers=tm,
            json={"witness": f"simulation seed {ctx.pop.seed}, {label}"},
        )
    )
    ctx.ok(rnd.post(f"/runs/{run['id']}/notify", headers=tm))
    deadline = time.monotonic() + 120
    while True:  # the outbox also delivers on its own; wait until recruitment has every arm
        counts = ctx.ok(rnd.get(f"/runs/{run['id']}", headers=tm))["notifications"]
        if counts["pending"] == 0:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run['id']}: {counts['pending']} notifications still pending")
        ctx.ok(rnd.post(f"/runs/{run['id']}/notify", headers=tm))
        time.sleep(0.5)
    return {"run_id": run["id"], "schools": frozen["school_count"], "notifications": counts}


def run(ctx: SimContext) -> dict[str, Any]:
    rnd = ctx.client("randomisation")
    tm = ctx.tm()
    scheme = ctx.ok(
        rnd.post("/schemes", headers=tm, json={"name": "RLC main randomisation (simulated)"})
    )
    main = _randomise(ctx, scheme["id"], "main")
    late = [s for s in ctx.pop.trial_schools if s.late_joiner and s.eligible and s.consents]
    for school in ctx.each("late joiners consent", late):
        consent(ctx, school.urn)
        add_staff(ctx, school)
    late_run = _randomise(ctx, scheme["id"], "late joiners") if late else None
    allocations = list(_allocations(ctx))
    arms = {arm: sum(a["arm"] == arm for a in allocations) for arm in ("intervention", "control")}
    ctx.facts["allocations"] = {a["urn"]: a for a in allocations}
    ctx.facts["runs"] = [main["run_id"]] + ([late_run["run_id"]] if late_run else [])
    return {"main": main, "late_joiners": late_run, "allocated": len(allocations), "arms": arms}


def _allocations(ctx: SimContext):
    rnd = ctx.client("randomisation")
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = ctx.ok(rnd.get("/allocations", headers=ctx.tm(), params=params))
        yield from page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return
