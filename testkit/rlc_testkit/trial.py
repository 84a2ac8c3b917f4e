"""A whole small trial in the four upstream services, as real processes, built through their APIs.

``build_trial(keys, tmp, databases)`` starts recruitment, randomisation, surveys and workshops
with `start_service` (each on a database of its own from ``databases``, a `DatabaseFactory`) and
plays the trial the way its users do: a GIAS extract, two local authorities, schools nominated,
found eligible (or not), consented, their staff with data-collection consent and the GIAS email
register; one live randomisation run executed by the randomisation service, then an allocation
marked in error and an intervention school withdrawn; both questionnaire rounds set up and their
exports pushed through the surveys service's signed webhook (Standard Webhooks); a workshops
cohort per LA, intervention schools enrolled through the contamination guard, attendance uploaded
as Zoom participant reports, a frozen compliance rule, and costs.

Every fact a test needs about what was built is in `LiveTrial.world` (a `TrialWorld`).
`LiveTrial.down(name)` stops a service's process for a block and starts it again on the same
port and database; `unreachable_url()` is a loopback address where nothing listens (a service not
deployed). `shared_trial` builds the trial once per test session for every suite that asks.

Test kit only (development): no service image ships it.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import io
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from rlc_cli import services
from rlc_shared.migrations import upgrade
from rlc_testkit.plugin import Keys, LiveService, free_port, start_service
from rlc_testkit.recruitment import PDF, GiasSchool, gias_csv

UPSTREAMS = ("recruitment", "randomisation", "surveys", "workshops")
LAS = {"202": "Camden", "370": "Barnsley"}
#: Consented (and so randomised) schools per LA: the run splits each LA 1:1.
RANDOMISED_PER_LA = 10
#: The surveys service's webhook secret in these processes (the platform's, in production).
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"rlc-testkit-trial-webhook-secret!").decode()
RECRUITMENT_ENV = {
    # The live process runs on today's date; the trial's 2021 deadlines are moved out of the way.
    "RECRUITMENT_EOI_DEADLINE": "2099-12-31",
    "RECRUITMENT_CONSENT_DEADLINE": "2099-12-31",
    "RECRUITMENT_TEACHER_WITHDRAWAL_CUTOFF": "2099-12-31",
}
HEAD_TEACHER = "Sam Head"
#: Each school's staff: role, whether recruitment has their address, whether they consent to
#: data collection (those who do answer the questionnaires).
STAFF = [
    ("designated_teacher", True, True),
    ("english_subject_lead", True, True),
    ("maths_subject_lead", True, True),
    ("head_teacher", True, False),
    ("year5_teacher", False, False),
]
FIRST = ["Amara", "Bilal", "Chloe", "Dmitri", "Esme", "Farid", "Grace", "Hiro", "Isla", "Jonah",
         "Kemi", "Luca", "Maya", "Nikhil", "Olwen", "Priya", "Quentin", "Rosa", "Samir", "Tegan"]  # fmt: skip
LAST = ["Okafor", "Lindqvist", "Papadopoulos", "Nakamura", "Fitzgerald", "Haddad", "Kowalski",
        "Mbeki", "Sorensen", "Achterberg", "Delacroix", "Ferreira", "Gallagher", "Ishikawa",
        "Jablonski", "Kaczmarek", "Lombardi", "Moreau", "Novak", "Oyelaran"]  # fmt: skip
SCALES = {"knowledge": ["K1", "K2", "K3"], "attitudes": ["A1", "A2", "A3"], "use": ["U1", "U2"]}
CODEBOOK = {
    "email_column": "RecipientEmail",
    "respondent_id_column": "ResponseId",
    "role_column": "Role",
    "respondent_email_column": "TeacherEmail",
    "scales": {name: {"items": items, "min": 1, "max": 5} for name, items in SCALES.items()},
}
ROUNDS = {"pre": "2021-10-01", "post": "2022-05-01"}
#: Workshops the Designated Teacher of each enrolled school attends, in enrolment order (the
#: protocol's rule: a complier attends at least 4 of the 6).
ATTENDANCE_PATTERN = (4, 2, 5, 3, 6, 1)
#: A teacher answers a round with this probability (seeded: the same trial every time).
ANSWERS = 0.85
#: The cost items entered in the workshops service (the staff time is the first enrolled school's).
COSTS = (
    {
        "category": "programme_fees",
        "recurrence": "one_off",
        "amount": "12000.00",
        "description": "the university's programme",
    },
    {
        "category": "staff_time",
        "recurrence": "recurring",
        "hours": "6",
        "rate": "35.50",
        "description": "cover for the Designated Teacher",
    },
)


def ok(resp: httpx.Response, status: int | None = None) -> Any:
    """The JSON of a successful response (or of exactly ``status``); fail naming the request."""
    good = resp.status_code < 300 if status is None else resp.status_code == status
    assert good, f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def wait_until(check: Callable[[], Any], *, timeout: float = 60.0, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def unreachable_url() -> str:
    """A loopback URL where nothing listens: a service that is not deployed."""
    return f"http://127.0.0.1:{free_port()}"


# --- what was built -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    id: int
    urn: int
    role: str
    name: str
    email: str | None
    consented: bool


@dataclass(frozen=True)
class Response:
    """One questionnaire response as exported (the teacher's address is what surveys keys on)."""

    round: str
    urn: int
    teacher_email: str
    scores: dict[str, int]


@dataclass
class TrialWorld:
    """The facts of the trial as built, for the tests' expectations."""

    la_of: dict[int, str]
    #: The live allocations: URN → arm (the one in error included).
    arms: dict[int, str]
    staff: dict[int, list[Member]]
    gias_pupils: dict[int, int]
    run_id: str
    in_error: int
    withdrawn: int
    #: Intervention schools that may be enrolled but are not (no dosage, no compliance verdict).
    unenrolled: list[int]
    ineligible: int
    not_consented: int
    awaiting: int
    withdrew: int
    outside: int
    responses: list[Response] = field(default_factory=list)
    #: Enrolled school → workshops its Designated Teacher attended.
    attended: dict[int, int] = field(default_factory=dict)
    rule_version: int = 0
    costs: list[dict[str, Any]] = field(default_factory=list)

    def urns(self, arm: str | None = None) -> list[int]:
        """Allocated schools (of ``arm``), URN order."""
        return sorted(u for u, a in self.arms.items() if arm is None or a == arm)

    def analysable(self, arm: str | None = None) -> list[int]:
        """Allocated schools that stay in the analysis: not withdrawn, allocation not in error."""
        return [u for u in self.urns(arm) if u not in (self.withdrawn, self.in_error)]

    def arm(self, urn: int) -> str | None:
        return self.arms.get(urn)

    @property
    def in_trial(self) -> list[int]:
        """Every school recruitment has in the trial (nominated or further)."""
        return sorted(u for u in self.la_of if u != self.outside)

    @property
    def enrolled(self) -> list[int]:
        return sorted(self.attended)

    @property
    def compliers(self) -> set[int]:
        return {urn for urn, n in self.attended.items() if n >= 4}

    def consented(self, urns: Iterable[int]) -> int:
        """Staff of ``urns`` with data-collection consent."""
        return sum(m.consented for u in urns for m in self.staff.get(u, []))

    def respondents(self, round: str, urns: Iterable[int]) -> set[str]:
        wanted = set(urns)
        return {r.teacher_email for r in self.responses if r.round == round and r.urn in wanted}

    def member(self, urn: int, role: str) -> Member:
        return next(m for m in self.staff[urn] if m.role == role)


# --- the processes ------------------------------------------------------------------------------


@dataclass
class _Process:
    name: str
    database_url: str
    port: int
    env: dict[str, str]
    live: LiveService | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class LiveTrial:
    """The four upstream services as live processes, and the trial built in them."""

    def __init__(self, *, keys: Keys, tmp: Path, processes: dict[str, _Process]) -> None:
        self.keys, self.tmp = keys, tmp
        self._processes = processes
        self.world: TrialWorld  # set by build_trial

    def url(self, name: str) -> str:
        return self._processes[name].url

    def database_url(self, name: str) -> str:
        return self._processes[name].database_url

    def client(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=self.url(name), timeout=60)

    def headers(self, role: str, **claims: Any) -> dict[str, str]:
        return self.keys.headers(role, **claims)

    def running(self, name: str) -> bool:
        live = self._processes[name].live
        return live is not None and live.proc.poll() is None

    def start(self, *names: str) -> None:
        """Start these services (side by side: most of a start is the interpreter importing the
        service) unless they are running; each answers its health check when this returns."""
        stopped = [name for name in names if not self.running(name)]
        with ThreadPoolExecutor(max(len(stopped), 1)) as pool:
            futures = {name: pool.submit(self._start, name) for name in stopped}
        failed = []
        for name, future in futures.items():
            try:
                self._processes[name].live = future.result()
            except Exception as exc:  # noqa: BLE001 - every started one is kept, to be stopped
                failed.append(exc)
        if failed:
            raise failed[0]

    def _start(self, name: str) -> LiveService:
        process = self._processes[name]
        return start_service(
            name,
            database_url=process.database_url,
            keys=self.keys,
            tmp=self.tmp,
            port=process.port,
            extra_env=process.env,
        )

    def stop_service(self, name: str) -> None:
        live = self._processes[name].live
        if live is not None:
            live.stop()
        self._processes[name].live = None

    @contextlib.contextmanager
    def down(self, *names: str) -> Iterator[None]:
        """These services' processes stopped for the block (nothing listens on their ports), then
        started again on the same ports and databases."""
        for name in names:
            self.stop_service(name)
        try:
            yield
        finally:
            self.start(*names)

    def stop(self) -> None:
        for name in reversed(UPSTREAMS):
            self.stop_service(name)


def _processes(databases: Any) -> dict[str, _Process]:
    ports = {name: free_port() for name in UPSTREAMS}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {
        "recruitment": RECRUITMENT_ENV
        | {"RECRUITMENT_RANDOMISATION_JWKS_URL": urls["randomisation"] + "/.well-known/jwks.json"},
        "randomisation": {
            "RANDOMISATION_RECRUITMENT_URL": urls["recruitment"],
            "RANDOMISATION_OUTBOX_INTERVAL_SECONDS": "0.2",
        },
        "surveys": {
            "SURVEYS_RECRUITMENT_URL": urls["recruitment"],
            "SURVEYS_RANDOMISATION_URL": urls["randomisation"],
            "SURVEYS_WEBHOOK_SECRETS": json.dumps([WEBHOOK_SECRET]),
            "SURVEYS_WORKER_INTERVAL_SECONDS": "0.1",
            # Tests stop randomisation and expect the rates to say so at once.
            "SURVEYS_ALLOCATIONS_CACHE_SECONDS": "0",
        },
        "workshops": {
            "WORKSHOPS_RECRUITMENT_URL": urls["recruitment"],
            "WORKSHOPS_RANDOMISATION_URL": urls["randomisation"],
            "WORKSHOPS_OUTBOUND_TIMEOUT_SECONDS": "5",
        },
    }
    processes = {}
    for name in UPSTREAMS:
        database = databases.create(f"trial_{name}")
        upgrade(services.get(name).directory, database)
        processes[name] = _Process(name, database, ports[name], env[name])
    return processes


# --- building the trial -------------------------------------------------------------------------


def _person(index: int) -> tuple[str, str]:
    """A distinct invented first and last name for each index (up to 400)."""
    return FIRST[index % len(FIRST)], LAST[(index // len(FIRST) + index) % len(LAST)]


def school_email(urn: int) -> str:
    """The school's address in the GIAS email register (questionnaires are sent to it)."""
    return f"office@school{urn}.sch.uk"


def _layout() -> tuple[dict[int, str], dict[str, int]]:
    """URN → LA for every school, and the URNs of the schools left before randomisation."""
    la_of: dict[int, str] = {}
    for position, la_code in enumerate(LAS):
        for k in range(RANDOMISED_PER_LA):
            la_of[810001 + 10000 * position + k] = la_code
    extras = {
        "ineligible": (830001, "202"),
        "not_consented": (830002, "370"),
        "awaiting": (830003, "370"),
        "withdrew": (830004, "202"),
        "outside": (830005, "202"),
    }
    for urn, la_code in extras.values():
        la_of[urn] = la_code
    return la_of, {name: urn for name, (urn, _) in extras.items()}


def _recruit(rec: httpx.Client, tm: dict[str, str], la_of: dict[int, str], extra: dict[str, int]):
    """GIAS, the LAs, every school walked to where it stays, staff, the email register."""
    pupils = {urn: 180 + (urn % 7) * 20 for urn in la_of}
    schools = [
        GiasSchool(
            urn=urn,
            la_code=la_code,
            la_name=LAS[la_code],
            name=f"School {urn}",
            pupils=str(pupils[urn]),
            fsm=f"{10 + urn % 17}.5",
        )
        for urn, la_code in la_of.items()
    ]
    files = {"file": ("edubasealldata.csv", gias_csv(schools), "text/csv")}
    ok(rec.post("/gias/imports", headers=tm, files=files), 201)
    for la_code, name in LAS.items():
        ok(
            rec.post(
                "/local-authorities",
                headers=tm,
                json={
                    "la_code": la_code,
                    "name": name,
                    "contact_name": f"{name} contact",
                    "late_override_reason": "test trial built after the 2021 deadline",
                },
            ),
            201,
        )
    staff: dict[int, list[Member]] = {}
    index = 0
    for urn in la_of:
        if urn == extra["outside"]:
            continue  # in GIAS only: never nominated
        path = f"/schools/{urn}"
        ok(rec.post(f"{path}/nomination", headers=tm))
        if urn == extra["awaiting"]:
            continue
        counts = {
            "year56_social_worker_pupils": 0 if urn == extra["ineligible"] else 2 + urn % 4,
            "year56_looked_after_pupils": 1 + urn % 3,
        }
        ok(rec.post(f"{path}/eligibility", headers=tm, json=counts))
        if urn in (extra["ineligible"], extra["not_consented"]):
            continue
        ok(
            rec.post(
                f"{path}/consent",
                headers=tm,
                data={
                    "head_teacher_name": HEAD_TEACHER,
                    "consent_date": "2021-06-01",
                    "random_allocation": "true",
                    "evaluation": "true",
                },
                files={"form": ("consent.pdf", PDF, "application/pdf")},
            )
        )
        if urn == extra["withdrew"]:
            reason = {"reason": "the governors withdrew before randomisation"}
            ok(rec.post(f"{path}/withdrawal", headers=tm, json=reason))
            continue
        staff[urn] = []
        for role, has_email, consents in STAFF:
            first, last = _person(index)
            index += 1
            email = f"{first}.{last}@s{urn}.sch.uk".lower() if has_email else None
            body = {"name": f"{first} {last}", "role": role} | ({"email": email} if email else {})
            made = ok(rec.post(f"{path}/staff", headers=tm, json=body), 201)
            if consents:
                ok(
                    rec.post(
                        f"{path}/staff/{made['id']}/consent",
                        headers=tm,
                        json={"consented_on": "2021-09-20"},
                    )
                )
            staff[urn].append(Member(made["id"], urn, role, body["name"], email, consents))
    register = "URN,email\r\n" + "".join(
        f"{urn},{school_email(urn)}\r\n" for urn in la_of if urn != extra["outside"]
    )
    files = {"file": ("emails.csv", register.encode(), "text/csv")}
    ok(rec.post("/gias/email-imports", headers=tm, files=files))
    return staff, pupils


def _randomise(
    rec: httpx.Client, rnd: httpx.Client, tm: dict[str, str], consented: set[int]
) -> tuple[str, dict[int, str], dict[int, str]]:
    """One live run; recruitment told of every allocation before anything else happens."""
    scheme = ok(rnd.post("/schemes", headers=tm, json={"name": "RLC test randomisation"}), 201)
    run = ok(rnd.post(f"/schemes/{scheme['id']}/runs", headers=tm, json={"label": "main"}), 201)
    ok(rnd.post(f"/runs/{run['id']}/freeze", headers=tm))
    ok(rnd.post(f"/runs/{run['id']}/execute", headers=tm, json={"witness": "test"}))
    allocations = ok(rnd.get("/allocations", headers=tm, params={"limit": 500}))["data"]
    arms = {a["urn"]: a["arm"] for a in allocations}
    strata = {a["urn"]: a["la_code"] for a in allocations}
    assert set(arms) == consented, "the run allocated other schools than were consented"

    def told() -> bool:
        listed = ok(rec.get("/schools", headers=tm, params={"status": "randomised", "limit": 500}))
        return {s["urn"] for s in listed["data"]} == set(arms)

    wait_until(told, what="recruitment to be told of every allocation")
    return run["id"], arms, strata


def _export(world: TrialWorld, round_: str, rng: random.Random) -> tuple[bytes, list[Response]]:
    """The survey platform's export of a round: every consenting teacher of every allocated
    school answers with probability ANSWERS; intervention teachers score higher in May."""
    columns = ["ResponseId", "RecipientEmail", "TeacherEmail", "Role", *sum(SCALES.values(), [])]
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    made: list[Response] = []
    for urn in world.urns():
        lift = 1 if round_ == "post" and world.arms[urn] == "intervention" else 0
        for member in world.staff[urn]:
            if not member.consented or member.email is None or rng.random() > ANSWERS:
                continue
            answers = {
                item: min(5, rng.randint(1, 4) + lift)
                for items in SCALES.values()
                for item in items
            }
            writer.writerow(
                {
                    "ResponseId": f"R_{round_}_{member.id}",
                    "RecipientEmail": school_email(urn),
                    "TeacherEmail": member.email,
                    "Role": member.role,
                    **answers,
                }
            )
            made.append(Response(round_, urn, member.email, answers))
    return out.getvalue().encode(), made


def webhook_delivery(body: bytes, *, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    """The Standard Webhooks headers the survey platform signs a delivery with."""
    from standardwebhooks import Webhook

    msg_id = f"msg_{uuid.uuid4().hex}"
    stamp = dt.datetime.fromtimestamp(int(time.time()), tz=dt.UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, stamp, body.decode()),
        "content-type": "application/json",
    }


def _surveys(sv: httpx.Client, ev: dict[str, str], world: TrialWorld) -> None:
    rng = random.Random(5)
    for round_, opens in ROUNDS.items():
        closes = (dt.date.fromisoformat(opens) + dt.timedelta(days=30)).isoformat()
        body = {"survey_id": f"SV_{round_}", "opens_on": opens, "closes_on": closes}
        ok(sv.put(f"/rounds/{round_}", headers=ev, json=body | {"codebook": CODEBOOK}))
        content, responses = _export(world, round_, rng)
        payload = json.dumps(
            {
                "type": "survey.export.ready",
                "data": {
                    "round": round_,
                    "survey_id": f"SV_{round_}",
                    "file": {
                        "name": f"{round_}.csv",
                        "format": "csv",
                        "content_base64": base64.b64encode(content).decode(),
                    },
                },
            }
        ).encode()
        accepted = ok(
            sv.post("/webhooks/ipsos", content=payload, headers=webhook_delivery(payload)), 202
        )

        def parsed(export_id: int = accepted["id"]) -> Any:
            export = ok(sv.get(f"/exports/{export_id}", headers=ev))
            return export if export["status"] in ("done", "failed") else None

        export = wait_until(parsed, what=f"the {round_} export to be parsed")
        assert export["status"] == "done", export
        assert export["rows"] == export["linked"] == len(responses), export
        world.responses.extend(responses)


def _zoom_report(day: dt.date, joins: list[tuple[str, str]]) -> bytes:
    """A Zoom participant report (meeting summary block, then one row per attendee, UTF-8 with a
    BOM, CRLF) for a 160-minute meeting each attendee stayed in for 150 minutes."""

    def stamp(value: dt.datetime) -> str:
        return value.strftime("%m/%d/%Y %I:%M:%S %p")

    start = dt.datetime.combine(day, dt.time(15, 50))
    joined, left = start + dt.timedelta(minutes=10), start + dt.timedelta(minutes=160)
    out = io.StringIO(newline="")
    rows = csv.writer(out, lineterminator="\r\n")
    rows.writerow(["Meeting ID", "Topic", "Start Time", "End Time", "User Email",
                   "Duration (Minutes)", "Participants"])  # fmt: skip
    rows.writerow(["812 3456 7890", "RLC workshop", stamp(start), stamp(left),
                   "facilitator@university.example", "160", str(len(joins))])  # fmt: skip
    out.write("\r\n")
    rows.writerow(["Name (Original Name)", "User Email", "Join Time", "Leave Time",
                   "Duration (Minutes)", "Guest", "Recording Consent", "In Waiting Room"])  # fmt: skip
    for name, email in joins:
        rows.writerow([name, email, stamp(joined), stamp(left), "150", "No", "", "No"])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _workshops(ws: httpx.Client, keys: Keys, world: TrialWorld) -> None:
    """A cohort per LA with its enrollable intervention schools (all but ``unenrolled``), the
    Designated Teachers' attendance from Zoom reports, the frozen rule, the costs."""
    delivery = keys.headers("delivery", sub="trial-delivery")
    ev = keys.headers("evaluator", sub="trial-evaluator")
    position = 0
    for la_code, name in LAS.items():
        cohort = ok(
            ws.post(
                "/cohorts", headers=delivery, json={"name": f"{name} 2021/22", "la_code": la_code}
            ),
            201,
        )
        sessions = {
            s["key"]: s for s in ok(ws.get(f"/cohorts/{cohort['id']}/sessions", headers=delivery))
        }
        enrolled: list[int] = []
        for urn in world.analysable("intervention"):
            if world.la_of[urn] != la_code or urn in world.unenrolled:
                continue
            enrol = {"urn": urn}
            ok(ws.post(f"/cohorts/{cohort['id']}/schools", headers=delivery, json=enrol), 201)
            world.attended[urn] = ATTENDANCE_PATTERN[position % len(ATTENDANCE_PATTERN)]
            position += 1
            enrolled.append(urn)
        for n in range(1, 7):
            joins = [
                (member.name, member.email or "")
                for urn in enrolled
                if world.attended[urn] >= n
                for member in [world.member(urn, "designated_teacher")]
            ]
            if not joins:
                continue
            session = sessions[f"workshop_{n}"]
            report = _zoom_report(dt.date.fromisoformat(session["planned_on"]), joins)
            result = ok(
                ws.post(
                    f"/sessions/{session['id']}/attendance-reports",
                    headers=delivery,
                    files={"file": (f"workshop_{n}.csv", report, "text/csv")},
                ),
                201,
            )
            assert result["matched"] == len(joins) and result["unmatched"] == 0, result
    rule = ok(ws.post("/compliance-rules", headers=ev, json={"note": "the SAP's rule"}), 201)
    world.rule_version = ok(ws.post(f"/compliance-rules/{rule['version']}/freeze", headers=ev))[
        "version"
    ]
    for item in COSTS:
        cost: dict[str, Any] = dict(item)
        if item["category"] == "staff_time":
            cost["urn"] = world.enrolled[0]
        ok(ws.post("/costs", headers=ev, json=cost), 201)
        world.costs.append(cost)


def build_trial(keys: Keys, tmp: Path, databases: Any) -> LiveTrial:
    """Start the four upstream services (``databases``: a `DatabaseFactory`) and build the trial.

    Two LAs of ten consented schools each, randomised 1:1 within LA by the randomisation service;
    in Camden the last intervention school's allocation is then marked in error and the one
    before it withdrawn; in Barnsley the last two intervention schools are never enrolled in the
    workshops. Besides: an ineligible school, an eligible one that never consents, one awaiting
    its eligibility decision, one withdrawn before randomisation, and one in GIAS only.
    """
    processes = _processes(databases)
    trial = LiveTrial(keys=keys, tmp=tmp, processes=processes)
    try:
        trial.start(*UPSTREAMS)
        tm = keys.headers("trial_manager", sub="trial-manager")
        la_of, extra = _layout()
        with trial.client("recruitment") as rec, trial.client("randomisation") as rnd:
            staff, pupils = _recruit(rec, tm, la_of, extra)
            run_id, arms, strata = _randomise(rec, rnd, tm, set(staff))
            camden = sorted(
                u for u, a in arms.items() if a == "intervention" and strata[u] == "202"
            )
            barnsley = sorted(
                u for u, a in arms.items() if a == "intervention" and strata[u] == "370"
            )
            in_error, withdrawn = camden[-1], camden[-2]
            reason = {"reason": "allocated from a stale list"}
            ok(rnd.post(f"/allocations/{in_error}/in-error", headers=tm, json=reason))
            reason = {"reason": "the head teacher withdrew the school"}
            ok(rec.post(f"/schools/{withdrawn}/withdrawal", headers=tm, json=reason))
        trial.world = TrialWorld(
            la_of=la_of,
            arms=arms,
            staff=staff,
            gias_pupils=pupils,
            run_id=run_id,
            in_error=in_error,
            withdrawn=withdrawn,
            unenrolled=barnsley[-2:],
            ineligible=extra["ineligible"],
            not_consented=extra["not_consented"],
            awaiting=extra["awaiting"],
            withdrew=extra["withdrew"],
            outside=extra["outside"],
        )
        with trial.client("surveys") as sv:
            _surveys(sv, keys.headers("evaluator", sub="trial-evaluator"), trial.world)
        with trial.client("workshops") as ws:
            _workshops(ws, keys, trial.world)
    except BaseException:
        trial.stop()
        raise
    return trial


_SHARED = pytest.StashKey[LiveTrial]()


def shared_trial(
    request: pytest.FixtureRequest,
    *,
    keys: Keys,
    databases: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> LiveTrial:
    """The test session's trial, built on first use and stopped when the session ends.

    For session-scoped fixtures only (the first one asking owns the processes). The trial is
    only ever read by the suites sharing it; one that stops a service starts it again
    (`LiveTrial.down`), so each finds it as built.
    """
    stash = request.session.stash
    if _SHARED not in stash:
        trial = build_trial(keys, tmp_path_factory.mktemp("trial"), databases)
        stash[_SHARED] = trial
        request.addfinalizer(trial.stop)
    return stash[_SHARED]


# --- pupil outcomes, as the DfE's extract gives them ----------------------------------------------

PUPIL_COLUMNS = [
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


def pupil_rows(
    world: TrialWorld,
    *,
    urns: Iterable[int] | None = None,
    per_school: int = 12,
    effect: float = 3.0,
    seed: int = 2,
) -> list[dict[str, Any]]:
    """CIN/LAC Year 6 pupils of ``urns`` (default: the schools that stay in the analysis), with a
    planted effect of ``effect`` scaled-score points on reading in intervention schools.

    Schools are drawn for in (LA, arm, URN) order, so the same seed gives every session the same
    data for the same places in the design, whichever schools the randomisation service put
    there; the rows are then given in URN order."""
    rng = random.Random(seed)
    rows = []
    chosen = world.analysable() if urns is None else list(urns)
    for urn in sorted(chosen, key=lambda u: (world.la_of.get(u, ""), world.arm(u) or "", u)):
        school_effect = rng.gauss(0, 2.0)
        treated = world.arm(urn) == "intervention"
        for k in range(per_school):
            prior = rng.gauss(15, 3)
            reading = 100 + 0.8 * (prior - 15) + school_effect + effect * treated + rng.gauss(0, 5)
            maths = 100 + 0.9 * (prior - 15) + school_effect + rng.gauss(0, 5)
            cin = k % 3 != 0
            rows.append(
                {
                    "pupil_id": f"P{urn}{k:03d}",
                    "urn": urn,
                    "year_group": 6,
                    "cin": int(cin),
                    "lac": int(not cin or k % 5 == 0),
                    "ks2_reading": round(min(max(reading, 80), 120)),
                    "ks2_maths": round(min(max(maths, 80), 120)),
                    "ks1_prior": round(prior, 1),
                    "fsm": int(rng.random() < 0.6),
                    "sex": rng.choice("MF"),
                }
            )
    return sorted(rows, key=lambda r: r["urn"])


def to_csv(rows: list[dict[str, Any]], *, sep: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(
        out,
        fieldnames=list(rows[0]) if rows else PUPIL_COLUMNS,
        delimiter=sep,
        lineterminator="\r\n",
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)
