"""Test kit for the recruitment service's tests: ``Api``, a driver that builds test data through
the public API (no shortcuts into the database: every record the tests look at was made the way
users make them), a GIAS extract writer and a problem+json assertion."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from recruitment.deps import today
from rlc_testkit.plugin import AllocationSigner, Keys

#: During recruitment: before the EOI deadline (2021-06-25) and the consent deadline.
RECRUITMENT_DAY = dt.date(2021, 6, 1)
LA, OTHER_LA = "202", "370"
PDF = b"%PDF-1.4\n% signed form\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"

#: Real GIAS header names (a subset, in file order) and two the importer has never heard of.
GIAS_HEADER = [
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentNumber",
    "EstablishmentName",
    "TypeOfEstablishment (code)",
    "TypeOfEstablishment (name)",
    "EstablishmentTypeGroup (code)",
    "EstablishmentTypeGroup (name)",
    "EstablishmentStatus (code)",
    "EstablishmentStatus (name)",
    "OpenDate",
    "CloseDate",
    "PhaseOfEducation (code)",
    "PhaseOfEducation (name)",
    "StatutoryLowAge",
    "StatutoryHighAge",
    "NumberOfPupils",
    "PercentageFSM",
    "Town",
    "Postcode",
    "OfstedRating (name)",
    "SomeColumnAddedIn2030",
]


@dataclass
class GiasSchool:
    urn: int
    la_code: str = LA
    la_name: str = "Camden"
    name: str = "Hillside Primary School"
    etype: str = "Community school"
    gias_status: str = "Open"
    phase: str = "Primary"
    low: str = "4"
    high: str = "11"
    pupils: str = "210"
    fsm: str = "12.5"
    open_date: str = "01-09-1990"
    close_date: str = ""
    town: str = "London"
    postcode: str = "NW1 1AA"
    extra: dict[str, str] = field(default_factory=dict)

    def values(self) -> list[Any]:
        by_name = {
            "URN": self.urn,
            "LA (code)": self.la_code,
            "LA (name)": self.la_name,
            "EstablishmentNumber": "2001",
            "EstablishmentName": self.name,
            "TypeOfEstablishment (code)": "01",
            "TypeOfEstablishment (name)": self.etype,
            "EstablishmentTypeGroup (code)": "4",
            "EstablishmentTypeGroup (name)": "Local authority maintained schools",
            "EstablishmentStatus (code)": "1" if self.gias_status == "Open" else "2",
            "EstablishmentStatus (name)": self.gias_status,
            "OpenDate": self.open_date,
            "CloseDate": self.close_date,
            "PhaseOfEducation (code)": "2",
            "PhaseOfEducation (name)": self.phase,
            "StatutoryLowAge": self.low,
            "StatutoryHighAge": self.high,
            "NumberOfPupils": self.pupils,
            "PercentageFSM": self.fsm,
            "Town": self.town,
            "Postcode": self.postcode,
            "OfstedRating (name)": "..",
            "SomeColumnAddedIn2030": "whatever",
        } | self.extra
        return [by_name[h] for h in GIAS_HEADER]


def gias_csv(schools: list[GiasSchool], *, encoding: str = "latin-1") -> bytes:
    """A GIAS-format extract: quoted header, bare URN and ages, CRLF, latin-1 by default."""
    out = io.StringIO(newline="")
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerow(GIAS_HEADER)
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    for school in schools:
        writer.writerow(school.values())
    return out.getvalue().encode(encoding)


class Api:
    """Drives the service through HTTP as the trial's users do."""

    def __init__(self, client: TestClient, keys: Keys, signer: AllocationSigner) -> None:
        self.client = client
        self.keys = keys
        self.signer = signer
        self._tokens: dict[tuple, dict[str, str]] = {}

    def _headers(self, role: str | list[str], **kw: Any) -> dict[str, str]:
        # Signing is the slow part of a request in these tests: one token per identity.
        key = (tuple(role) if isinstance(role, list) else role, *sorted(kw.items()))
        if key not in self._tokens:
            self._tokens[key] = self.keys.headers(role, **kw)
        return self._tokens[key]

    # --- identities ---
    def tm(self) -> dict[str, str]:
        return self._headers("trial_manager", sub="tm-alice")

    def vs(self, la_code: str = LA) -> dict[str, str]:
        return self._headers("virtual_school", sub=f"vs-{la_code}", la_code=la_code)

    def school(self, urn: int) -> dict[str, str]:
        return self._headers("school", sub=f"school-{urn}", urn=urn)

    def service(self) -> dict[str, str]:
        return self._headers("service", sub="service:randomisation")

    def role(self, role: str | list[str], **kw: Any) -> dict[str, str]:
        return self._headers(role, **kw)

    # --- the clock ---
    def set_today(self, day: dt.date) -> None:
        self.client.app.dependency_overrides[today] = lambda: day  # type: ignore[attr-defined]

    # --- data ---
    def import_gias(
        self, schools: list[GiasSchool] | bytes, *, name: str = "edubasealldata20210601.csv"
    ) -> Any:
        body = schools if isinstance(schools, bytes) else gias_csv(schools)
        return self.client.post(
            "/gias/imports", headers=self.tm(), files={"file": (name, body, "text/csv")}
        )

    def register_la(self, la_code: str = LA, **extra: Any) -> Any:
        body = {"la_code": la_code, "name": f"LA {la_code}", "contact_name": "Pat Contact"}
        resp = self.client.post("/local-authorities", headers=self.tm(), json=body | extra)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def school_at(
        self,
        status: str | None,
        urn: int = 100001,
        la_code: str = LA,
        *,
        register: bool = True,
        **gias: Any,
    ) -> dict[str, Any]:
        """A school imported from GIAS and walked through the lifecycle up to ``status``."""
        resp = self.import_gias([GiasSchool(urn=urn, la_code=la_code, **gias)])
        assert resp.status_code == 201, resp.text
        registered = self.client.get(f"/local-authorities/{la_code}", headers=self.tm())
        if register and registered.status_code == 404:
            self.register_la(la_code)
        if status is None:
            return self.get_school(urn)
        path = f"/schools/{urn}"
        self.ok(self.client.post(f"{path}/nomination", headers=self.vs(la_code)))
        if status == "nominated":
            return self.get_school(urn)
        if status == "withdrawn":
            self.ok(self.client.post(f"{path}/withdrawal", headers=self.tm(), json={"reason": "x"}))
            return self.get_school(urn)
        counts = {"year56_social_worker_pupils": 0 if status == "ineligible" else 3}
        counts["year56_looked_after_pupils"] = 1
        self.ok(self.client.post(f"{path}/eligibility", headers=self.vs(la_code), json=counts))
        if status in ("eligible", "ineligible"):
            return self.get_school(urn)
        self.ok(self.consent(urn, headers=self.vs(la_code)))
        if status == "consented":
            return self.get_school(urn)
        self.ok(self.randomised(urn, run_id="run-1", arm="intervention"))
        return self.get_school(urn)

    def randomised(
        self,
        urn: int,
        *,
        run_id: str,
        arm: str,
        test: bool = False,
        headers: dict[str, str] | None = None,
        statement: str | None = None,
    ) -> Any:
        """The randomisation service's notice, with a statement signed by its (test) key."""
        body = {
            "run_id": run_id,
            "arm": arm,
            "test": test,
            "statement": statement
            if statement is not None
            else self.signer.statement(urn=urn, run_id=run_id, arm=arm, test=test),
        }
        return self.client.post(
            f"/schools/{urn}/randomised", headers=headers or self.service(), json=body
        )

    def consent(
        self, urn: int, *, headers: dict[str, str], form: bytes = PDF, **fields: Any
    ) -> Any:
        data = {
            "head_teacher_name": "Sam Head",
            "consent_date": "2021-06-01",
            "random_allocation": "true",
            "evaluation": "true",
        } | fields
        return self.client.post(
            f"/schools/{urn}/consent",
            headers=headers,
            data=data,
            files={"form": ("consent.pdf", form, "application/pdf")},
        )

    def add_staff(self, urn: int, role: str = "year5_teacher", **extra: Any) -> dict[str, Any]:
        body = {"name": "Jo Teacher", "role": role} | extra
        resp = self.client.post(f"/schools/{urn}/staff", headers=self.tm(), json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def get_school(self, urn: int) -> dict[str, Any]:
        return self.ok(self.client.get(f"/schools/{urn}", headers=self.tm()))

    def history(self, urn: int) -> list[dict[str, Any]]:
        return self.ok(self.client.get(f"/schools/{urn}/history?limit=500", headers=self.tm()))[
            "data"
        ]

    @staticmethod
    def ok(resp: Any) -> Any:
        assert resp.status_code < 300, resp.text
        return resp.json()


def assert_problem(resp: Any, status: int, *needles: str) -> dict[str, Any]:
    """A problem+json response with this status whose detail mentions every needle."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status
    for needle in needles:
        assert needle in body["detail"], body["detail"]
    return body
