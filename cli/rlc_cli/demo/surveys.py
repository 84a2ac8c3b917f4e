"""The demo trial's pre-round questionnaire: the evaluator sets the round and its codebook, the
survey platform pushes an export through the signed webhook, and the response rates per arm
come back.

Runs after the recruitment and randomisation part, through the public APIs only. The export is
in the common survey-platform layout (column names, then the question text and import ids);
most randomised schools answer, with a few teachers each, sent to the school's GIAS email;
two responses come from addresses no school has and wait in the unmatched queue. The webhook is
signed with the surveys service's own development secret (its settings' default), exactly as
the platform signs with the production one. Loading twice does nothing the second time (the
round is the same, the delivery has the same webhook id).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from typing import Any

import numpy as np

from rlc_cli.demo.context import DemoContext
from surveys.config import Settings
from surveys.signatures import signed_headers

_ok = DemoContext.ok

ITEMS = {
    "knowledge": ["K1", "K2", "K3", "K4", "K5"],
    "attitudes": ["A1", "A2", "A3", "A4", "A5"],
    "use": ["U1", "U2", "U3", "U4"],
}
CODEBOOK: dict[str, Any] = {
    "email_column": "RecipientEmail",
    "respondent_id_column": "ResponseId",
    "role_column": "Q1_role",
    "scales": {
        "knowledge": {"items": ITEMS["knowledge"], "min": 1, "max": 5},
        "attitudes": {"items": ITEMS["attitudes"], "min": 1, "max": 5, "reverse": ["A2", "A4"]},
        "use": {"items": ITEMS["use"], "min": 1, "max": 5},
    },
    "min_answered": 0.8,
}
ROLES = ["Year 5 teacher", "Year 6 teacher", "Designated Teacher", "English Subject Lead"]
WEBHOOK_ID = "demo-pre-export-1"


def export_csv(schools: list[tuple[int, str]], *, seed: int = 2021) -> bytes:
    """A pre-round export: two of every three schools answer, three to six teachers each."""
    rng = np.random.default_rng(seed)
    items = [i for names in ITEMS.values() for i in names]
    header = ["StartDate", "Finished", "ResponseId", "RecipientEmail", "Q1_role", *items]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerow(["Start date", "Finished", "Response ID", "Recipient email",
                     "What is your role?", *(f"Statement {i}" for i in items)])  # fmt: skip
    writer.writerow([json.dumps({"ImportId": f"QID_{c}"}) for c in header])
    senders = [email for n, (_, email) in enumerate(schools) if n % 3 != 2 and email]
    senders += ["jo.bloggs@gmail.com", "office@closed-school.example"]
    number = 0
    for email in senders:
        for _ in range(1 if "@gmail" in email or "closed" in email else int(rng.integers(3, 7))):
            number += 1
            tendency = rng.normal(0, 1)
            answers = []
            for item in items:
                value = int(np.clip(np.rint(3 + tendency + rng.normal(0, 0.8)), 1, 5))
                answers.append(6 - value if item in ("A2", "A4") else value)
            writer.writerow(["2021-10-05 16:30:00", "1", f"R_demo{number:04d}", email,
                             ROLES[number % len(ROLES)], *answers])  # fmt: skip
    return out.getvalue().encode("utf-8")


def load(ctx: DemoContext) -> None:
    """The pre round, one export through the signed webhook, response rates per arm."""
    tm = ctx.headers("trial_manager", sub="demo-trial-manager")
    evaluator = ctx.headers("evaluator", sub="demo-evaluator")
    rec, rnd, sv = ctx.client("recruitment"), ctx.client("randomisation"), ctx.client("surveys")
    _ok(sv.put("/rounds/pre", headers=evaluator, json={
        "survey_id": "SV_rlc_pre_2021", "opens_on": "2021-10-01", "closes_on": "2021-10-22",
        "codebook": CODEBOOK,
    }))  # fmt: skip
    allocations = _ok(rnd.get("/allocations", headers=tm, params={"limit": 500}))["data"]
    schools = []
    for allocation in sorted(allocations, key=lambda a: a["urn"]):
        school = _ok(rec.get(f"/schools/{allocation['urn']}", headers=tm))
        schools.append((school["urn"], school.get("gias_email") or ""))
    content = export_csv(schools)
    body = json.dumps({"type": "survey.export.ready", "data": {
        "round": "pre", "survey_id": "SV_rlc_pre_2021",
        "file": {"name": "RLC_pre_2021.csv", "format": "csv",
                 "content_base64": base64.b64encode(content).decode()},
    }}).encode()  # fmt: skip
    secret = Settings().webhook_secret_values()[0]
    headers = signed_headers(
        body=body, msg_id=WEBHOOK_ID, timestamp=int(time.time()), secrets=secret
    )
    accepted = _ok(sv.post("/webhooks/ipsos", content=body,
                           headers=headers | {"content-type": "application/json"}))  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        export = _ok(sv.get(accepted["status_url"], headers=evaluator))
        if export["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if export["status"] != "done":
        raise RuntimeError(f"the demo export did not parse: {export['status']} {export['errors']}")
    rates = _ok(sv.get("/rounds/pre/response-rates", headers=evaluator, params={"by": "arm"}))
    scales = _ok(sv.get("/rounds/pre/scales", headers=evaluator))["data"]
    links = export["links"]
    ctx.echo(
        f"demo surveys loaded: pre-round export {export['id']} through the signed webhook, "
        f"{export['rows']} responses, {export['linked']} linked ({links['exact']} by GIAS email), "
        f"{export['unmatched']} in the unmatched queue; response rates per arm:"
    )
    for row in rates["data"]:
        ctx.echo(
            f"  {row['arm']}: {row['responding_schools']} of {row['schools']} schools responding "
            f"({row['rate']:.0%}), {row['responses']} responses"
        )
    ctx.echo(
        "  scales: "
        + ", ".join(
            f"{s['scale']} n={s['n']} mean={s['mean']:.2f} alpha={s['alpha']:.2f}"
            for s in scales
            if s["mean"] is not None and s["alpha"] is not None
        )
    )
