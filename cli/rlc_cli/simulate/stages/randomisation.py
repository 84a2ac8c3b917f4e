"""Randomisation, as the trial manager runs it: a scheme, the main run (freeze, execute with a
witness, notify), then the late joiners consent and are randomised in a second run."""

from __future__ import annotations

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

    def delivered() -> dict[str, int] | None:
        # The outbox also delivers on its own; wait until recruitment has every arm.
        ctx.ok(rnd.post(f"/runs/{run['id']}/notify", headers=tm))
        counts = ctx.ok(rnd.get(f"/runs/{run['id']}", headers=tm))["notifications"]
        return counts if counts["pending"] == 0 else None

    counts = ctx.wait_for(f"run {run['id']}'s notifications to reach recruitment", delivered)
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
    allocations = list(ctx.pages("randomisation", "/allocations", tm))
    arms = {arm: sum(a["arm"] == arm for a in allocations) for arm in ("intervention", "control")}
    strata: dict[str, dict[str, int]] = {}
    for a in allocations:
        arms_of_la = strata.setdefault(a["la_code"], {"intervention": 0, "control": 0})
        arms_of_la[a["arm"]] += 1
    ctx.facts["allocations"] = {a["urn"]: a for a in allocations}
    ctx.facts["runs"] = [main["run_id"]] + ([late_run["run_id"]] if late_run else [])
    return {
        "main": main,
        "late_joiners": late_run,
        "allocated": len(allocations),
        "arms": arms,
        "strata": dict(sorted(strata.items())),
    }
