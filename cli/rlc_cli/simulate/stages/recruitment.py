"""Recruitment, as its actors do it: the trial manager imports GIAS and its email register, LAs
register and sign their data sharing agreements, Virtual Schools nominate and enter Year 5/6
counts, head teachers consent with a signed form, staff consent (a few withdraw)."""

from __future__ import annotations

import io
import random
from typing import Any

from rlc_cli.simulate.context import PDF, SimContext
from rlc_cli.simulate.gias import gias_record, write_records
from rlc_cli.simulate.population import School

#: Records damaged on purpose in the extract, which the import must reject by line.
BROKEN_ROWS = 3


def gias_extract(ctx: SimContext) -> bytes:
    rng = random.Random(ctx.pop.seed)
    las = {la.code: la for la in ctx.pop.las}
    records = [
        gias_record(
            rng,
            s.urn,
            la=las[s.la_code].gias_la,
            phase=s.phase,
            status=s.status,
            name=s.name,
        )
        for s in ctx.pop.schools
    ]
    # A few more: damaged rows (rejected), with URNs that belong to no simulated school.
    for i in range(BROKEN_ROWS):
        records.append(gias_record(rng, 990_000 + i, la=ctx.pop.las[0].gias_la, phase="Primary"))
    out = io.BytesIO()
    write_records(out, records, broken=BROKEN_ROWS)
    return out.getvalue()


def email_register(ctx: SimContext, *, earlier: bool) -> bytes:
    lines = ["URN,email"]
    for s in ctx.pop.schools:
        email = s.old_email if earlier and s.old_email else s.email
        lines.append(f"{s.urn},{email}")
    return ("\r\n".join(lines) + "\r\n").encode()


def run(ctx: SimContext) -> dict[str, Any]:
    rec = ctx.client("recruitment")
    tm = ctx.tm()
    summary: dict[str, Any] = {}
    imported = ctx.ok(
        rec.post(
            "/gias/imports",
            headers=tm,
            files={"file": ("edubasealldata.csv", gias_extract(ctx), "text/csv")},
        )
    )
    summary["gias"] = {k: imported[k] for k in ("inserted", "updated", "unchanged", "rejected")}
    # The register as first sent, then as corrected: some schools' addresses changed, and the
    # earlier ones stay in their history (survey responses may still come from them).
    for earlier in (True, False):
        ctx.ok(
            rec.post(
                "/gias/email-imports",
                headers=tm,
                files={
                    "file": ("gias-emails.csv", email_register(ctx, earlier=earlier), "text/csv")
                },
            )
        )
    for la in ctx.each("local authorities", ctx.pop.las):
        body = {
            "la_code": la.code,
            "name": la.name,
            "contact_name": f"{la.name} Virtual School Head",
            "target_schools": len([s for s in ctx.pop.of_la(la.code) if s.nominated]),
        }
        resp = rec.post("/local-authorities", headers=tm, json=body)
        if resp.status_code == 409 and "closed on" in resp.text:
            body["late_override_reason"] = "the simulated trial registers after the deadline"
            resp = rec.post("/local-authorities", headers=tm, json=body)
        ctx.ok(resp)
        vs = ctx.vs(la.code)
        ctx.ok(
            rec.put(
                f"/local-authorities/{la.code}/virtual-school",
                headers=vs,
                json={
                    "head_name": la.virtual_school_head,
                    "contact_email": la.virtual_school_email,
                },
            )
        )
        ctx.ok(
            rec.post(
                f"/local-authorities/{la.code}/data-sharing-agreement",
                headers=vs,
                data={"signed_on": ctx.today.isoformat(), "reference": f"DSA-{la.code}"},
                files={"document": ("dsa.pdf", PDF, "application/pdf")},
            )
        )
    counts = {"nominated": 0, "eligible": 0, "consented": 0, "staff": 0, "withdrawals": 0}
    for school in ctx.each("schools", ctx.pop.trial_schools):
        vs = ctx.vs(school.la_code)
        path = f"/schools/{school.urn}"
        ctx.ok(rec.post(f"{path}/nomination", headers=vs))
        counts["nominated"] += 1
        assessed = ctx.ok(
            rec.post(
                f"{path}/eligibility",
                headers=vs,
                json={
                    "year56_social_worker_pupils": school.social_worker_pupils,
                    "year56_looked_after_pupils": school.looked_after_pupils,
                },
            )
        )
        if assessed["status"] != "eligible":
            continue
        counts["eligible"] += 1
        if school.consents and not school.late_joiner:
            consent(ctx, school.urn)
            counts["consented"] += 1
            counts["staff"] += add_staff(ctx, school)
    counts["withdrawals"] = len(ctx.facts.get("withdrawn_teachers", []))
    ctx.facts["recruitment"] = counts
    summary |= counts
    return summary


def consent(ctx: SimContext, urn: int) -> None:
    ctx.ok(
        ctx.client("recruitment").post(
            f"/schools/{urn}/consent",
            headers=ctx.school(urn),
            data={
                "head_teacher_name": f"Head of {urn}",
                "consent_date": ctx.today.isoformat(),
                "random_allocation": "true",
                "evaluation": "true",
            },
            files={"form": ("consent.pdf", PDF, "application/pdf")},
        )
    )


def add_staff(ctx: SimContext, school: School) -> int:
    """The school's Designated Teacher and Subject Leads, their consent, and any withdrawal
    (refused after the cut-off: counted, not fatal)."""
    rec = ctx.client("recruitment")
    headers = ctx.school(school.urn)
    added = 0
    for teacher in school.teachers:
        member = ctx.ok(
            rec.post(
                f"/schools/{school.urn}/staff",
                headers=headers,
                json={"name": teacher.name, "role": teacher.role, "email": teacher.email},
            )
        )
        teacher.staff_id = member["id"]
        added += 1
        if teacher.consents:
            ctx.ok(
                rec.post(
                    f"/schools/{school.urn}/staff/{member['id']}/consent",
                    headers=headers,
                    json={"consented_on": ctx.today.isoformat()},
                )
            )
        if teacher.withdraws:
            resp = rec.post(
                f"/schools/{school.urn}/staff/{member['id']}/withdrawal",
                headers=headers,
                json={"covers": ["questionnaires"], "reason": "moved school"},
            )
            if resp.status_code == 200:
                ctx.facts.setdefault("withdrawn_teachers", []).append(teacher.email)
    return added
