"""The demo trial's recruitment and randomisation, through the two services' public APIs.

Two local authorities register (late, so a trial manager accepts them with a reason: the demo runs
after the 2021 deadline), sign their data sharing agreements and name their Virtual Schools; a small
GIAS extract and its email register are imported; the Virtual Schools nominate schools and enter
their Year 5/6 counts; head teachers consent; then the schools are randomised within each LA.
Loading twice does nothing the second time.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from rlc_cli.demo.context import DemoContext

PDF = b"%PDF-1.4\n% demo document\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
HEADER = [
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentName",
    "TypeOfEstablishment (name)",
    "EstablishmentStatus (name)",
    "OpenDate",
    "CloseDate",
    "PhaseOfEducation (name)",
    "StatutoryLowAge",
    "StatutoryHighAge",
    "NumberOfPupils",
    "PercentageFSM",
    "Town",
    "Postcode",
]
LAS = {
    "865": (
        "Wiltshire",
        "Trowbridge",
        [
            "St Thomas à Becket CE Primary",
            "Hilperton Primary",
            "Studley Green Primary",
            "Castle Mead School",
            "Grove Primary",
            "Holbrook Primary",
            "Paxcroft Primary",
            "Walwayne Court School",
        ],
    ),
    "370": (
        "Barnsley",
        "Barnsley",
        [
            "Athersley North Primary",
            "Burton Road Primary",
            "Cherry Dale Primary",
            "Darton Primary",
            "Gawber Primary",
            "Hoyland Common Primary",
        ],
    ),
}


def demo_schools() -> list[dict[str, Any]]:
    schools = []
    urn = 990001
    for la_code, (la_name, town, names) in LAS.items():
        for i, name in enumerate(names):
            schools.append(
                {
                    "urn": urn,
                    "la_code": la_code,
                    "la_name": la_name,
                    "name": name,
                    "phase": "Primary",
                    "status": "Open",
                    "town": town,
                    "social_worker": 0 if i == len(names) - 1 else 1 + i % 4,
                    "looked_after": i % 2,
                }
            )
            urn += 1
        schools.append(
            {
                "urn": urn,
                "la_code": la_code,
                "la_name": la_name,
                "phase": "Secondary",
                "name": f"{town} Academy",
                "status": "Open",
                "town": town,
            }
        )
        schools.append(
            {
                "urn": urn + 1,
                "la_code": la_code,
                "la_name": la_name,
                "phase": "Primary",
                "name": f"Old {town} Junior",
                "status": "Closed",
                "town": town,
            }
        )
        urn += 2
    return schools


def gias_extract(schools: list[dict[str, Any]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerow(HEADER)
    rows = csv.writer(out, lineterminator="\r\n")
    for s in schools:
        secondary = s["phase"] == "Secondary"
        rows.writerow(
            [
                s["urn"],
                s["la_code"],
                s["la_name"],
                s["name"],
                "Community school",
                s["status"],
                "01-09-1990",
                "31-08-2019" if s["status"] == "Closed" else "",
                s["phase"],
                11 if secondary else 4,
                16 if secondary else 11,
                900 if secondary else 210,
                "..",
                s["town"],
                "SN1 1AA",
            ]
        )
    return out.getvalue().encode("latin-1")  # GIAS extracts are latin-1


_ok = DemoContext.ok


def load(ctx: DemoContext) -> bool:
    """Recruit and randomise the demo schools; False if the trial was loaded before."""
    tm = ctx.headers("trial_manager", sub="demo-trial-manager")
    rec, rnd = ctx.client("recruitment"), ctx.client("randomisation")
    echo = ctx.echo
    if rec.get("/local-authorities/865", headers=tm).status_code == 200:
        echo("demo trial already loaded")
        return False
    schools = demo_schools()
    imported = _ok(
        rec.post(
            "/gias/imports",
            headers=tm,
            files={"file": ("edubasealldata20210601.csv", gias_extract(schools), "text/csv")},
        )
    )
    emails = "URN,email\r\n" + "".join(
        f"{s['urn']},office@school{s['urn']}.example\r\n" for s in schools
    )
    _ok(
        rec.post(
            "/gias/email-imports",
            headers=tm,
            files={"file": ("gias-emails.csv", emails.encode(), "text/csv")},
        )
    )
    for la_code, (la_name, _, names) in LAS.items():
        vs = ctx.headers("virtual_school", la_code=la_code, sub=f"demo-vs-{la_code}")
        _ok(
            rec.post(
                "/local-authorities",
                headers=tm,
                json={
                    "la_code": la_code,
                    "name": la_name,
                    "eoi_on": "2021-06-18",
                    "contact_name": f"{la_name} Virtual School",
                    "target_schools": len(names),
                    "late_override_reason": "demo trial loaded after the 2021 deadline",
                },
            )
        )
        _ok(
            rec.put(
                f"/local-authorities/{la_code}/virtual-school",
                headers=vs,
                json={"head_name": f"Head of {la_name} Virtual School"},
            )
        )
        _ok(
            rec.post(
                f"/local-authorities/{la_code}/data-sharing-agreement",
                headers=vs,
                data={"signed_on": "2021-07-01", "reference": f"DSA-2021-{la_code}"},
                files={"document": ("dsa.pdf", PDF, "application/pdf")},
            )
        )
        for s in (s for s in schools if s["la_code"] == la_code and "social_worker" in s):
            path = f"/schools/{s['urn']}"
            _ok(rec.post(f"{path}/nomination", headers=vs))
            school = _ok(
                rec.post(
                    f"{path}/eligibility",
                    headers=vs,
                    json={
                        "year56_social_worker_pupils": s["social_worker"],
                        "year56_looked_after_pupils": s["looked_after"],
                    },
                )
            )
            if school["status"] != "eligible":
                continue
            _ok(
                rec.post(
                    f"{path}/consent",
                    headers=vs,
                    data={
                        "head_teacher_name": f"Head of {s['name']}",
                        "consent_date": "2021-09-20",
                        "random_allocation": "true",
                        "evaluation": "true",
                    },
                    files={"form": ("consent.pdf", PDF, "application/pdf")},
                )
            )
            _ok(
                rec.post(
                    f"{path}/staff",
                    headers=vs,
                    json={"name": "Designated Teacher", "role": "designated_teacher"},
                )
            )
    scheme = _ok(rnd.post("/schemes", headers=tm, json={"name": "RLC 2021/22 main randomisation"}))
    run = _ok(rnd.post(f"/schemes/{scheme['id']}/runs", headers=tm, json={"label": "main"}))
    _ok(rnd.post(f"/runs/{run['id']}/freeze", headers=tm))
    run = _ok(
        rnd.post(
            f"/runs/{run['id']}/execute", headers=tm, json={"witness": "demo witness statement"}
        )
    )
    _ok(rnd.post(f"/runs/{run['id']}/notify", headers=tm))
    allocations = _ok(rnd.get("/allocations", headers=tm, params={"limit": 500}))["data"]
    arms = {arm: sum(a["arm"] == arm for a in allocations) for arm in ("intervention", "control")}
    echo(
        f"demo trial loaded: {imported['inserted']} GIAS schools, {len(LAS)} local authorities, "
        f"{len(allocations)} schools randomised ({arms['intervention']} intervention, {arms['control']} control)"
    )
    return True
