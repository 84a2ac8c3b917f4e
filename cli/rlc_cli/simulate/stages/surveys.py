"""The teacher questionnaires, as the evaluator and the survey platform run them.

The evaluator sets the ``pre`` (October) and ``post`` (May) rounds with their codebook. The
invitation goes to each randomised school's GIAS email and is passed on to its Designated
Teacher, Subject Leads and Year 5/6 teachers, who answer giving their own address. The platform
pushes each export through the signed webhook (signed with the surveys service's development
secret, its settings' default, exactly as the platform signs with the production one), in the
formats it offers: the pre round as the three-header-row CSV with the late responses as JSON,
the post round as SPSS ``.sav`` with the late ones as Excel. Deliveries are what a real
platform sends:

- most responses come back to the school's current GIAS address (linked ``exact``);
- the pre-round invitations of schools whose address changed went to the earlier one, from the
  register as first sent (``historical``);
- some heads forwarded it from their own address at the school's domain (``domain``);
- a school on its LA's shared mail system answers from another mailbox on that council domain,
  which no rule may link: the evaluator resolves it by hand (``manual``), and the post round's
  responses from it are then linked at once;
- a few come from personal or mistyped addresses and stay in the unmatched queue;
- teachers who withdrew from the questionnaires may still answer: the service leaves them out;
- the pre export is delivered twice with the same webhook id (a retry), and the post export's
  file again under a new id (the same content: recorded as a duplicate, nothing parsed twice).

Answers are drawn per school from the seed; who answers, and from which address, does not depend
on the arm, so the counts are the same in every run with this seed. The post round carries a
planted difference: intervention teachers report more use of research (and a little more
knowledge), which the analysis should find.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import random
import re
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from rlc_cli.simulate.context import SimContext, SimulationError
from rlc_cli.simulate.exports.surveys import json_export, qualtrics_csv, sav_export, xlsx_export
from rlc_cli.simulate.population import FIRST, LAST, School, school_rng

ITEMS = {
    "knowledge": ["K1", "K2", "K3", "K4", "K5"],
    "attitudes": ["A1", "A2", "A3", "A4", "A5"],
    "use": ["U1", "U2", "U3", "U4"],
}
REVERSED = ("A2", "A4")
CODEBOOK: dict[str, Any] = {
    "email_column": "RecipientEmail",
    "respondent_id_column": "ResponseId",
    "role_column": "Q1_role",
    "respondent_email_column": "Q2_email",
    "scales": {
        "knowledge": {"items": ITEMS["knowledge"], "min": 1, "max": 5},
        "attitudes": {"items": ITEMS["attitudes"], "min": 1, "max": 5, "reverse": list(REVERSED)},
        "use": {"items": ITEMS["use"], "min": 1, "max": 5},
    },
    "min_answered": 0.8,
}
ALL_ITEMS = [item for names in ITEMS.values() for item in names]
COLUMNS = [
    "StartDate", "EndDate", "Finished", "ResponseId", "RecipientEmail", "Q1_role", "Q2_email",
    *ALL_ITEMS,
]  # fmt: skip
QUESTIONS = {
    "StartDate": "Start Date",
    "EndDate": "End Date",
    "Finished": "Finished",
    "ResponseId": "Response ID",
    "RecipientEmail": "Recipient Email",
    "Q1_role": "What is your role in the school?",
    "Q2_email": "Your school email address (so we can match your answers in May)",
    **{item: f"How far do you agree? Statement {item}" for item in ALL_ITEMS},
}
ROLES = {
    "designated_teacher": "Designated Teacher",
    "english_subject_lead": "English Subject Lead",
    "maths_subject_lead": "Maths Subject Lead",
    "year6_teacher": "Year 6 teacher",
    "year5_teacher": "Year 5 teacher",
}
#: How likely a teacher is to answer each round.
ANSWERS = {"pre": 0.85, "post": 0.75}
#: The post round's planted difference for intervention teachers, in latent SDs.
LIFT = {"knowledge": 0.3, "attitudes": 0.15, "use": 0.6}
PATHS = ("exact", "historical", "domain", "manual")


@dataclass
class Respondent:
    school: School
    name: str
    email: str
    role: str
    #: Pre-round latent score per scale; the post round follows from it.
    traits: dict[str, float]


@dataclass
class Response:
    respondent: Respondent
    round: str
    response_id: str
    address: str  # RecipientEmail: where the invitation was answered from
    path: str  # how it should be linked: exact, historical, domain, council, unknown
    late: bool
    started: dt.datetime
    answers: dict[str, int | None] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "StartDate": self.started.strftime("%Y-%m-%d %H:%M:%S"),
            "EndDate": (self.started + dt.timedelta(minutes=14)).strftime("%Y-%m-%d %H:%M:%S"),
            "Finished": 1,
            "ResponseId": self.response_id,
            "RecipientEmail": self.address,
            "Q1_role": ROLES[self.respondent.role],
            "Q2_email": self.respondent.email,
            **self.answers,
        }


def _respondents(ctx: SimContext, school: School) -> list[Respondent]:
    """The school's teachers who take part in the questionnaires (consenting staff, and often a
    Year 5 teacher recruitment does not list), with their latent attitudes."""
    rng = school_rng(ctx.seed, "survey-teachers", school.urn)
    people = [(t.name, t.email, t.role) for t in school.teachers if t.consents]
    if rng.random() < 0.4:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        people.append(
            (
                f"{first} {last}",
                f"{first}.{last}.y5@school{school.urn}.sch.uk".lower(),
                "year5_teacher",
            )
        )
    found = []
    for name, email, role in people:
        general = rng.gauss(0, 0.7)
        traits = {scale: general + rng.gauss(0, 0.7) for scale in ITEMS}
        found.append(Respondent(school, name, email, role, traits))
    return found


def _answers(rng: random.Random, latent: dict[str, float]) -> dict[str, int | None]:
    answers: dict[str, int | None] = {}
    for scale, items in ITEMS.items():
        for item in items:
            if rng.random() < 0.03:
                answers[item] = None  # skipped
                continue
            value = min(5, max(1, round(3 + 0.85 * latent[scale] + rng.gauss(0, 0.75))))
            answers[item] = 6 - value if item in REVERSED else value
    return answers


def _response_id(rng: random.Random) -> str:
    return "R_" + "".join(rng.choices(string.ascii_letters + string.digits, k=15))


def _council_mailbox(school: School, shared_domain: str) -> str:
    slug = re.sub(r"[^a-z]+", "", school.name.lower().split(" ")[0]) or "school"
    return f"{slug}.{school.urn % 1000:03d}.head@{shared_domain}"


def plan_responses(ctx: SimContext, schools: list[School]) -> dict[str, list[Response]]:
    """Every response of both rounds, as the survey platform will export them."""
    las = ctx.pop.by_la_code
    withdrawn = set(ctx.facts.get("withdrawn_teachers", []))
    on_council = [s.urn for s in schools if s.domain == las[s.la_code].shared_domain]
    council_urns = set(on_council)
    own_domain = [s.urn for s in schools if s.urn not in council_urns and not s.old_email]
    # At least one school of each kind, whatever the draws: the last that can be.
    council = on_council[-1] if on_council else (schools[-1].urn if schools else None)
    forwarder = own_domain[-1] if own_domain else None
    own_domain_urns = set(own_domain)
    responses: dict[str, list[Response]] = {"pre": [], "post": []}
    for school in schools:
        people = _respondents(ctx, school)
        writer = next((p for p in people if p.email not in withdrawn), None)
        rng = school_rng(ctx.seed, "survey-deliveries", school.urn)
        forwarded = school.urn == forwarder or (
            school.urn in own_domain_urns and rng.random() < 0.05
        )
        for round_ in ("pre", "post"):
            opens, closes = ctx.timeline.survey_window(round_)
            answers_rng = school_rng(ctx.seed, f"survey-{round_}", school.urn)
            for person in people:
                from_council = school.urn == council and person is writer
                # A teacher who withdrew still gets the school's invitation, and may answer.
                must = from_council or (round_ == "pre" and person.email in withdrawn)
                if answers_rng.random() > ANSWERS[round_] and not must:
                    continue
                address, path = school.email, "exact"
                if round_ == "pre" and school.old_email:
                    address, path = school.old_email, "historical"
                elif forwarded:
                    address, path = f"head@{school.domain}", "domain"
                if from_council:
                    mailbox = _council_mailbox(school, las[school.la_code].shared_domain)
                    address, path = mailbox, "council"
                elif answers_rng.random() < 0.02 and person.email not in withdrawn:
                    address = f"{person.name.replace(' ', '.').lower()}@gmail.com"
                    path = "unknown"
                day = opens + dt.timedelta(days=answers_rng.randint(0, (closes - opens).days))
                started = dt.datetime.combine(day, dt.time(15, 30)) + dt.timedelta(
                    minutes=answers_rng.randint(0, 300)
                )
                responses[round_].append(
                    Response(
                        respondent=person,
                        round=round_,
                        response_id=_response_id(answers_rng),
                        address=address,
                        path=path,
                        late=answers_rng.random() < 0.1,
                        started=started,
                    )
                )
    # Mistyped addresses nobody can place (two a round).
    for found in responses.values():
        plain = [r for r in found if r.path == "exact" and r.respondent.email not in withdrawn]
        for response in plain[1:3]:
            response.address = f"office@scool{response.respondent.school.urn}.sch.uk"
            response.path = "unknown"
    return responses


def _score(ctx: SimContext, responses: dict[str, list[Response]], arms: dict[int, str]) -> None:
    """The answers; only these depend on the arm (the post round's planted difference)."""
    for round_, found in responses.items():
        for response in found:
            person = response.respondent
            rng = random.Random(f"{ctx.seed}:answers:{round_}:{person.email}")
            latent = dict(person.traits)
            if round_ == "post":
                # Some change over the year whatever the arm; the programme adds to it.
                drift = random.Random(f"{ctx.seed}:drift:{person.email}")
                latent = {k: 0.6 * v + drift.gauss(0.1, 0.6) for k, v in latent.items()}
                if arms.get(person.school.urn) == "intervention":
                    latent = {k: v + LIFT[k] for k, v in latent.items()}
            response.answers = _answers(rng, latent)


@dataclass
class Delivery:
    round: str
    kind: str  # main or late
    format: str
    file_name: str
    content: bytes
    msg_id: str


def _deliveries(ctx: SimContext, responses: dict[str, list[Response]]) -> list[Delivery]:
    out = []
    for round_, found in responses.items():
        opens, closes = ctx.timeline.survey_window(round_)
        for kind in ("main", "late"):
            rows = [r.row() for r in found if r.late == (kind == "late")]
            if not rows:
                continue
            exported = dt.datetime.combine(
                closes + dt.timedelta(days=3 if kind == "late" else 0), dt.time(17)
            )
            stem = f"RLC_{round_}_{opens.year}_{kind}"
            if round_ == "pre" and kind == "main":
                fmt, name, content = (
                    "csv",
                    f"{stem}.csv",
                    qualtrics_csv(COLUMNS, rows, questions=QUESTIONS),
                )
            elif round_ == "pre":
                fmt, name, content = "json", f"{stem}.json", json_export(COLUMNS, rows)
            elif kind == "main":
                fmt, name = "sav", f"{stem}.sav"
                content = sav_export(
                    COLUMNS,
                    rows,
                    coded={"Q1_role": list(ROLES.values())},
                    numeric=ALL_ITEMS,
                    exported_at=exported,
                )
            else:
                fmt, name = "xlsx", f"{stem}.xlsx"
                content = xlsx_export(COLUMNS, rows, exported_at=exported)
            out.append(
                Delivery(round_, kind, fmt, name, content, f"msg_sim{ctx.seed}_{round_}_{kind}")
            )
    return out


def _deliver(ctx: SimContext, delivery: Delivery, *, msg_id: str | None = None) -> dict[str, Any]:
    from surveys.config import Settings
    from surveys.signatures import signed_headers

    body = json.dumps(
        {
            "type": "survey.export.ready",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
            "data": {
                "round": delivery.round,
                "survey_id": _survey_id(ctx, delivery.round),
                "file": {
                    "name": delivery.file_name,
                    "format": delivery.format,
                    "content_base64": base64.b64encode(delivery.content).decode(),
                },
            },
        }
    ).encode()
    headers = signed_headers(
        body=body,
        msg_id=msg_id or delivery.msg_id,
        timestamp=int(time.time()),
        secrets=Settings().webhook_secret_values()[0],
    )
    return ctx.ok(
        ctx.client("surveys").post(
            "/webhooks/ipsos", content=body, headers=headers | {"content-type": "application/json"}
        )
    )


def _survey_id(ctx: SimContext, round_: str) -> str:
    return f"SV_rlc_{round_}_{ctx.timeline.survey_window(round_)[0].year}"


def _parsed(ctx: SimContext, export_id: int) -> dict[str, Any]:
    sv, evaluator = ctx.client("surveys"), ctx.evaluator()

    def finished() -> dict[str, Any] | None:
        export = ctx.ok(sv.get(f"/exports/{export_id}", headers=evaluator))
        return export if export["status"] in ("done", "failed") else None

    export = ctx.wait_for(f"survey export {export_id} to be parsed", finished)
    if export["status"] != "done":
        raise SimulationError(f"survey export {export_id} failed: {export['errors']}")
    return export


def _resolve_council_mailboxes(ctx: SimContext, responses: list[Response]) -> int:
    """The evaluator places the responses no rule may link (a council mailbox), by the school
    named in them; every response from that address is linked with it."""
    sv, evaluator = ctx.client("surveys"), ctx.evaluator()
    wanted = {r.response_id: r for r in responses if r.path == "council"}
    resolved = 0
    for item in list(ctx.pages("surveys", "/unmatched", evaluator, round="pre", status="open")):
        response = wanted.get(item["response_id"])
        if response is None:
            continue
        ctx.ok(
            sv.post(
                f"/unmatched/{item['id']}/resolve",
                headers=evaluator,
                json={
                    "urn": response.respondent.school.urn,
                    "reason": "the respondent named their school; the council mailbox is theirs",
                },
            )
        )
        resolved += 1
    return resolved


def _planned_links(ctx: SimContext, found: list[Response]) -> dict[str, int]:
    """What the round's linking should come to, from how each response was sent."""
    withdrawn = set(ctx.facts.get("withdrawn_teachers", []))
    counts: Counter[str] = Counter(dict.fromkeys((*PATHS, "unmatched", "withdrawn"), 0))
    counts["rows"] = len(found)
    for r in found:
        if r.respondent.email in withdrawn:
            counts["withdrawn"] += 1
        elif r.path == "council":
            counts["manual"] += 1
        elif r.path == "unknown":
            counts["unmatched"] += 1
        else:
            counts[r.path] += 1
    return dict(counts)


def _planned_use_by_arm(
    ctx: SimContext, found: list[Response], arms: dict[int, str]
) -> dict[str, float | None]:
    """The mean use-of-research score per arm the service should find: over the responses it
    can link (not the unknown addresses), of teachers who did not withdraw, scored when every
    item of the scale is answered (the codebook's 0.8 of four items)."""
    withdrawn = set(ctx.facts.get("withdrawn_teachers", []))
    by_arm: dict[str, list[float]] = {"intervention": [], "control": []}
    for response in found:
        if response.path == "unknown" or response.respondent.email in withdrawn:
            continue
        answers = [response.answers.get(item) for item in ITEMS["use"]]
        arm = arms.get(response.respondent.school.urn)
        if arm in by_arm and all(a is not None for a in answers):
            by_arm[arm].append(fmean(float(a) for a in answers if a is not None))
    return {arm: round(fmean(v), 3) if v else None for arm, v in by_arm.items()}


def _use_by_arm(ctx: SimContext, round_: str, arms: dict[int, str]) -> dict[str, float | None]:
    """The mean use-of-research score per arm, from the pseudonymised responses."""
    resp = ctx.client("surveys").get(f"/rounds/{round_}/responses.csv", headers=ctx.evaluator())
    if resp.is_error:
        raise SimulationError(f"GET /rounds/{round_}/responses.csv: {resp.status_code} {resp.text}")
    by_arm: dict[str, list[float]] = {"intervention": [], "control": []}
    for row in csv.DictReader(io.StringIO(resp.text)):
        arm = arms.get(int(row["urn"])) if row.get("urn") else None
        if arm in by_arm and row.get("use"):
            by_arm[arm].append(float(row["use"]))
    return {arm: round(fmean(v), 3) if v else None for arm, v in by_arm.items()}


def run(ctx: SimContext) -> dict[str, Any]:
    sv, evaluator = ctx.client("surveys"), ctx.evaluator()
    allocations: dict[int, dict[str, Any]] = ctx.facts["allocations"]
    arms = {urn: a["arm"] for urn, a in allocations.items()}
    schools = [ctx.pop.by_urn[urn] for urn in sorted(allocations)]
    for round_ in ("pre", "post"):
        opens, closes = ctx.timeline.survey_window(round_)
        ctx.ok(
            sv.put(
                f"/rounds/{round_}",
                headers=evaluator,
                json={
                    "survey_id": _survey_id(ctx, round_),
                    "opens_on": opens.isoformat(),
                    "closes_on": closes.isoformat(),
                    "codebook": CODEBOOK,
                },
            )
        )
    responses = plan_responses(ctx, schools)
    _score(ctx, responses, arms)
    deliveries = _deliveries(ctx, responses)
    exports: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"exports": [], "rounds": {}}
    resolved = 0
    last_pre = max((n for n, d in enumerate(deliveries) if d.round == "pre"), default=-1)
    for n, delivery in enumerate(ctx.each("survey exports", deliveries)):
        accepted = _deliver(ctx, delivery)
        export = _parsed(ctx, accepted["id"])
        exports.append(export)
        summary["exports"].append(
            {
                "round": delivery.round,
                "format": export["format"],
                "rows": export["rows"],
                "id": export["id"],
                "sha256": hashlib.sha256(delivery.content).hexdigest(),
            }
        )
        if delivery.round == "pre" and delivery.kind == "main":
            # The platform retries the delivery (it missed the 202): the same export answers.
            again = _deliver(ctx, delivery)
            if again["id"] != accepted["id"]:
                raise SimulationError("a repeated webhook id was taken as a new export")
            summary["redelivered_same_id"] = again["id"]
        if delivery.round == "post" and delivery.kind == "main":
            # The same file under a new id: recorded as a duplicate, nothing parsed again.
            copy = _parsed(ctx, _deliver(ctx, delivery, msg_id=delivery.msg_id + "_resent")["id"])
            if copy["duplicate_of"] != accepted["id"] or copy["rows"] != 0:
                raise SimulationError(f"the re-sent export is not a duplicate: {copy}")
            summary["duplicate_content"] = {"id": copy["id"], "duplicate_of": copy["duplicate_of"]}
        if n == last_pre:  # the evaluator goes through the pre round's unmatched queue
            resolved = _resolve_council_mailboxes(ctx, responses["pre"])
    summary["resolved_by_hand"] = resolved
    # The counts as they stand after the evaluator's resolutions.
    current = {e["id"]: e for e in ctx.pages("surveys", "/exports", evaluator)}
    for round_, found in responses.items():
        links: Counter[str] = Counter(dict.fromkeys(PATHS, 0))
        totals: Counter[str] = Counter()
        for e in current.values():
            if e["round"] != round_ or e["duplicate_of"] is not None:
                continue
            links.update(e["links"])
            totals.update({k: e[k] for k in ("rows", "linked", "unmatched", "withdrawn")})
        rates = ctx.ok(
            sv.get(f"/rounds/{round_}/response-rates", headers=evaluator, params={"by": "arm"})
        )
        summary["rounds"][round_] = {
            **dict(totals),
            "links": dict(links),
            "planned": _planned_links(ctx, found),
            "statuses": sorted({e["status"] for e in current.values() if e["round"] == round_}),
            "response_rates": {r["arm"]: round(r["rate"], 3) for r in rates["data"]},
            "use_by_arm": _use_by_arm(ctx, round_, arms),
            "use_by_arm_planned": _planned_use_by_arm(ctx, found, arms),
        }
    ctx.facts["surveys"] = summary["rounds"]
    return summary
