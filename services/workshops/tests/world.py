"""A small trial in real recruitment and randomisation processes, built through their public APIs.

The workshops service asks those two services who may be enrolled and who its attendees are, so
its tests run them for real (``Upstream``: two uvicorn processes on their own databases, never
the databases other suites share) and build the trial the way its users would (``build_world``):
a GIAS extract, two local authorities with their Virtual Schools, consented schools with staff,
one live randomisation run executed by the randomisation service, then one allocation marked in
error and one intervention school withdrawn.

Not a test module: ``conftest.py`` and the cross-service tests load it by path (the repository
imports tests with ``--import-mode=importlib``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from rlc_cli import services
from rlc_shared.migrations import upgrade
from rlc_testkit import Keys, LiveService, free_port, start_service
from rlc_testkit.recruitment import PDF, GiasSchool, gias_csv

RECRUITMENT_ENV = {
    # The live process runs on today's date; the trial's 2021 deadlines are moved out of the way.
    "RECRUITMENT_EOI_DEADLINE": "2099-12-31",
    "RECRUITMENT_CONSENT_DEADLINE": "2099-12-31",
    "RECRUITMENT_TEACHER_WITHDRAWAL_CUTOFF": "2099-12-31",
}
LAS = {"202": "Camden", "370": "Barnsley"}
#: Consented (and randomised) schools per LA: the run splits each LA 1:1.
SCHOOLS_PER_LA = {"202": 12, "370": 6}
FIRST = ["Amara", "Bilal", "Chloe", "Dmitri", "Esme", "Farid", "Grace", "Hiro", "Isla", "Jonah",
         "Kemi", "Luca", "Maya", "Nikhil", "Olwen", "Priya", "Quentin", "Rosa", "Samir", "Tegan"]  # fmt: skip
LAST = ["Okafor", "Lindqvist", "Papadopoulos", "Nakamura", "Fitzgerald", "Haddad", "Kowalski",
        "Mbeki", "Sorensen", "Achterberg", "Delacroix", "Ferreira", "Gallagher", "Ishikawa",
        "Jablonski", "Kaczmarek", "Lombardi", "Moreau", "Novak", "Oyelaran"]  # fmt: skip
#: Each school's staff: role, and whether recruitment has their address.
STAFF = [
    ("designated_teacher", True),
    ("english_subject_lead", True),
    ("maths_subject_lead", False),
    ("head_teacher", True),
    ("year5_teacher", False),
]


def wait_until(check: Any, *, timeout: float = 30.0, what: str) -> Any:
    """Poll ``check`` until it returns something truthy, or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Upstream:
    """Recruitment and randomisation as live processes, each on a database of its own."""

    def __init__(self, *, keys: Keys, tmp: Path, database_factory: Any, label: str) -> None:
        self.keys, self.tmp = keys, tmp
        self.recruitment_db = database_factory.create(f"{label}_recruitment")
        self.randomisation_db = database_factory.create(f"{label}_randomisation")
        upgrade(services.get("recruitment").directory, self.recruitment_db)
        upgrade(services.get("randomisation").directory, self.randomisation_db)
        self.recruitment_port, self.randomisation_port = free_port(), free_port()
        self.recruitment = start_service(
            "recruitment",
            database_url=self.recruitment_db,
            keys=keys,
            tmp=tmp,
            port=self.recruitment_port,
            extra_env=RECRUITMENT_ENV
            | {
                "RECRUITMENT_RANDOMISATION_JWKS_URL": (
                    f"http://127.0.0.1:{self.randomisation_port}/.well-known/jwks.json"
                )
            },
        )
        self.randomisation: LiveService | None = None
        self.start_randomisation()

    @property
    def recruitment_url(self) -> str:
        return self.recruitment.url

    @property
    def randomisation_url(self) -> str:
        return f"http://127.0.0.1:{self.randomisation_port}"

    def start_randomisation(self) -> None:
        self.randomisation = start_service(
            "randomisation",
            database_url=self.randomisation_db,
            keys=self.keys,
            tmp=self.tmp,
            port=self.randomisation_port,
            extra_env={
                "RANDOMISATION_RECRUITMENT_URL": self.recruitment.url,
                "RANDOMISATION_SIGNING_KEY_FILE": str(self.tmp / "randomisation-signing.pem"),
                "RANDOMISATION_OUTBOX_INTERVAL_SECONDS": "0.2",
            },
        )

    def stop_randomisation(self) -> None:
        if self.randomisation is not None:
            self.randomisation.stop()
            self.randomisation = None

    @contextlib.contextmanager
    def randomisation_down(self) -> Iterator[None]:
        """The randomisation process stopped for the block, started again after it."""
        self.stop_randomisation()
        try:
            yield
        finally:
            self.start_randomisation()

    def stop(self) -> None:
        self.stop_randomisation()
        self.recruitment.stop()


@dataclass
class Staff:
    id: int
    urn: int
    role: str
    name: str
    email: str | None


@dataclass
class World:
    """What was built, and the facts the tests need about it."""

    arms: dict[int, str]
    la_of: dict[int, str]
    staff: dict[int, list[Staff]]
    vsh: dict[str, tuple[str, str]]
    unallocated: int
    in_error: int
    withdrawn: int
    run_id: str
    pupils: dict[int, int] = field(default_factory=dict)

    def intervention(self, la_code: str) -> list[int]:
        """Intervention schools of the LA that may be enrolled (not in error, not withdrawn)."""
        return [
            urn
            for urn, arm in sorted(self.arms.items())
            if arm == "intervention"
            and self.la_of[urn] == la_code
            and urn not in (self.in_error, self.withdrawn)
        ]

    def control(self, la_code: str) -> list[int]:
        return [
            urn
            for urn, arm in sorted(self.arms.items())
            if arm == "control" and self.la_of[urn] == la_code
        ]

    def member(self, urn: int, role: str) -> Staff:
        return next(s for s in self.staff[urn] if s.role == role)


def _ok(resp: httpx.Response) -> Any:
    assert resp.status_code < 300, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


def person(index: int) -> tuple[str, str]:
    """A distinct invented first and last name for each index (up to 400)."""
    return FIRST[index % len(FIRST)], LAST[(index // len(FIRST) + index) % len(LAST)]


def build_world(upstream: Upstream, keys: Keys) -> World:
    tm = keys.headers("trial_manager", sub="world-trial-manager")
    urns: dict[int, str] = {}
    next_urn = 610001
    for la_code, count in SCHOOLS_PER_LA.items():
        for _ in range(count):
            urns[next_urn] = la_code
            next_urn += 1
    unallocated = next_urn
    pupils = {urn: 180 + (urn % 7) * 20 for urn in [*urns, unallocated]}
    schools = [
        GiasSchool(
            urn=urn, la_code=la, la_name=LAS[la], name=f"School {urn}", pupils=str(pupils[urn])
        )
        for urn, la in [*urns.items(), (unallocated, "202")]
    ]
    staff: dict[int, list[Staff]] = {}
    vsh: dict[str, tuple[str, str]] = {}
    with (
        httpx.Client(base_url=upstream.recruitment_url, timeout=30) as rec,
        httpx.Client(base_url=upstream.randomisation_url, timeout=30) as rnd,
    ):
        files = {"file": ("edubasealldata.csv", gias_csv(schools), "text/csv")}
        _ok(rec.post("/gias/imports", headers=tm, files=files))
        for la_code, name in LAS.items():
            _ok(
                rec.post(
                    "/local-authorities",
                    headers=tm,
                    json={
                        "la_code": la_code,
                        "name": name,
                        "contact_name": f"{name} contact",
                        "late_override_reason": "test trial built after the 2021 deadline",
                    },
                )
            )
            head = f"Virtual Head {name}"
            address = f"virtual.school@{name.lower()}.gov.example"
            _ok(
                rec.put(
                    f"/local-authorities/{la_code}/virtual-school",
                    headers=tm,
                    json={"head_name": head, "contact_email": address},
                )
            )
            vsh[la_code] = (head, address)
        index = 0
        for urn in [*urns, unallocated]:
            path = f"/schools/{urn}"
            _ok(rec.post(f"{path}/nomination", headers=tm))
            counts = {"year56_social_worker_pupils": 3, "year56_looked_after_pupils": 1}
            _ok(rec.post(f"{path}/eligibility", headers=tm, json=counts))
            if urn == unallocated:
                continue  # eligible, never consented: no run takes it
            _ok(
                rec.post(
                    f"{path}/consent",
                    headers=tm,
                    data={
                        "head_teacher_name": "Head Teacher",
                        "consent_date": "2021-06-01",
                        "random_allocation": "true",
                        "evaluation": "true",
                    },
                    files={"form": ("consent.pdf", PDF, "application/pdf")},
                )
            )
            staff[urn] = []
            for role, has_email in STAFF:
                first, last = person(index)
                index += 1
                email = f"{first}.{last}@s{urn}.sch.uk".lower() if has_email else None
                body = {"name": f"{first} {last}", "role": role} | (
                    {"email": email} if email else {}
                )
                made = _ok(rec.post(f"{path}/staff", headers=tm, json=body))
                staff[urn].append(Staff(made["id"], urn, role, body["name"], email))
        scheme = _ok(rnd.post("/schemes", headers=tm, json={"name": "RLC test randomisation"}))
        run = _ok(rnd.post(f"/schemes/{scheme['id']}/runs", headers=tm, json={"label": "main"}))
        _ok(rnd.post(f"/runs/{run['id']}/freeze", headers=tm))
        _ok(rnd.post(f"/runs/{run['id']}/execute", headers=tm, json={"witness": "test"}))
        allocations = _ok(rnd.get("/allocations", headers=tm, params={"limit": 500}))["data"]
        arms = {a["urn"]: a["arm"] for a in allocations}
        assert set(arms) == set(urns), "the run allocated other schools than were consented"
        camden = sorted(u for u, arm in arms.items() if arm == "intervention" and urns[u] == "202")
        in_error, withdrawn = camden[-1], camden[-2]
        _ok(
            rnd.post(
                f"/allocations/{in_error}/in-error",
                headers=tm,
                json={"reason": "allocated from a stale list"},
            )
        )
        _ok(
            rec.post(
                f"/schools/{withdrawn}/withdrawal",
                headers=tm,
                json={"reason": "the head teacher withdrew the school"},
            )
        )
    return World(
        arms=arms,
        la_of=dict(urns) | {unallocated: "202"},
        staff=staff,
        vsh=vsh,
        unallocated=unallocated,
        in_error=in_error,
        withdrawn=withdrawn,
        run_id=run["id"],
        pupils=pupils,
    )
