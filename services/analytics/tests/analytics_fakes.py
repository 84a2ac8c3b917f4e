"""The four services the analytics service reads, as a real HTTP server on loopback.

It answers exactly the contracts the analytics clients are written against (recruitment's and
randomisation's landed APIs, surveys' and workshops' from issues 9 and 10) from a `FakeTrial` the
test fills in; each service can be made to answer 503 (down) or 404 (not deployed yet). The
analytics service reaches it through its real clients and settings, over real HTTP: only what is
behind the other services' APIs is a stand-in. Cross-service tests with the real recruitment and
randomisation processes are in ``tests/test_analytics_services.py``.
"""

from __future__ import annotations

import csv
import io
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from rlc_testkit import free_port

SERVICES = ("recruitment", "randomisation", "surveys", "workshops")
LAS = ("202", "370")


@dataclass
class FakeTrial:
    """What the other services would answer."""

    schools: list[dict[str, Any]] = field(default_factory=list)
    staff: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    allocations: list[dict[str, Any]] = field(default_factory=list)
    #: round → {"responses": [...], "rates": [...], "scales": [...]}
    rounds: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    dosage: list[dict[str, Any]] = field(default_factory=list)
    costs: list[dict[str, Any]] = field(default_factory=list)
    #: The workshops service's frozen compliance rule versions.
    rules: set[int] = field(default_factory=lambda: {1})
    down: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)
    #: Every request seen: (service, path, whether it carried a bearer token).
    seen: list[tuple[str, str, bool]] = field(default_factory=list)

    def arm(self, urn: int) -> str | None:
        return next((a["arm"] for a in self.allocations if a["urn"] == urn), None)

    def urns(self, arm: str) -> list[int]:
        return [a["urn"] for a in self.allocations if a["arm"] == arm]


def _page(items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    limit = int(request.query_params.get("limit", 50))
    start = int(request.query_params.get("cursor", 0))
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return {"data": chunk, "count": len(items), "next_cursor": str(start + limit) if more else None}


def fake_app(state: dict[str, FakeTrial]) -> FastAPI:
    app = FastAPI()

    def gate(service: str, request: Request) -> FakeTrial:
        trial = state["trial"]
        bearer = request.headers.get("authorization", "").startswith("Bearer ")
        trial.seen.append((service, request.url.path, bearer))
        if not bearer:
            raise HTTPException(401, "no token")
        if service in trial.down:
            raise HTTPException(503, f"{service} is down")
        if service in trial.absent:
            raise HTTPException(404, f"There is no endpoint at {request.url.path}")
        return trial

    @app.exception_handler(HTTPException)
    async def problem(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"type": "about:blank", "title": "x", "status": exc.status_code, "detail": exc.detail},
            status_code=exc.status_code,
            media_type="application/problem+json",
        )

    @app.get("/schools")
    def schools(request: Request) -> dict[str, Any]:
        trial = gate("recruitment", request)
        items = trial.schools
        if request.query_params.get("in_trial") == "true":
            items = [s for s in items if s.get("status") is not None]
        return _page(items, request)

    @app.get("/schools/{urn}/staff")
    def staff(urn: int, request: Request) -> list[dict[str, Any]]:
        return gate("recruitment", request).staff.get(urn, [])

    @app.get("/allocations")
    def allocations(request: Request) -> dict[str, Any]:
        return _page(gate("randomisation", request).allocations, request)

    def round_data(request: Request, round_: str) -> dict[str, list[dict[str, Any]]]:
        trial = gate("surveys", request)
        if round_ not in trial.rounds:
            raise HTTPException(404, f"Round {round_} has not been set up.")
        return trial.rounds[round_]

    @app.get("/rounds/{round_}/responses.csv")
    def responses(round_: str, request: Request) -> StreamingResponse:
        rows = round_data(request, round_)["responses"]

        def lines() -> Iterator[bytes]:
            out = io.StringIO()
            writer = csv.DictWriter(
                out,
                fieldnames=[
                    "response_id",
                    "urn",
                    "teacher",
                    "role",
                    "knowledge",
                    "attitudes",
                    "use",
                ],
                extrasaction="ignore",
            )
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
                yield out.getvalue().encode()
                out.seek(0)
                out.truncate()
            yield out.getvalue().encode()

        return StreamingResponse(lines(), media_type="text/csv")

    @app.get("/rounds/{round_}/response-rates")
    def rates(round_: str, request: Request) -> dict[str, Any]:
        return {"data": round_data(request, round_)["rates"]}

    @app.get("/rounds/{round_}/scales")
    def scales(round_: str, request: Request) -> dict[str, Any]:
        return {"data": round_data(request, round_)["scales"]}

    @app.get("/dosage")
    def dosage(request: Request) -> dict[str, Any]:
        rows = gate("workshops", request).dosage
        version = request.query_params.get("rule_version")
        if version is not None:
            if int(version) not in state["trial"].rules:
                raise HTTPException(404, f"There is no compliance rule version {version}.")
            rows = [d for d in rows if str(d["rule_version"]) == version]
        return _page(rows, request)

    @app.get("/costs")
    def costs(request: Request) -> dict[str, Any]:
        return _page(gate("workshops", request).costs, request)

    return app


class FakeServices:
    """The server, in a thread; ``trial`` is what it answers (replace it per test)."""

    def __init__(self) -> None:
        self.state: dict[str, FakeTrial] = {"trial": FakeTrial()}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            fake_app(self.state), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def trial(self) -> FakeTrial:
        return self.state["trial"]

    @trial.setter
    def trial(self, value: FakeTrial) -> None:
        self.state["trial"] = value

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:  # poll with a deadline
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake services did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


# --- a trial to answer with -------------------------------------------------------------------


def school(urn: int, status: str | None, la_code: str, **extra: Any) -> dict[str, Any]:
    return {
        "urn": urn,
        "name": f"School {urn}",
        "status": status,
        "la_code": la_code,
        "la_name": f"LA {la_code}",
        "phase": "Primary",
        "arm": None,
        "eligible": None if status in (None, "nominated") else status != "ineligible",
        "eligibility_reasons": ["No Year 5/6 pupils with a social worker."]
        if status == "ineligible"
        else [],
        "withdrawn_from_status": None,
        "withdrawal_reason": None,
        "pupils": 200 + urn % 50,
        "percentage_fsm": f"{10 + urn % 20}.0",
        "year56_social_worker_pupils": 2 + urn % 4,
        "year56_looked_after_pupils": urn % 3,
        # Fields the analytics service must not keep (a person's name, an email address).
        "consent_head_teacher": "Sam Head",
        "gias_email": f"office@{urn}.sch.uk",
        **extra,
    }


def build_trial(
    *,
    schools_per_la: int = 10,
    seed: int = 1,
    teachers_per_school: int = 3,
    rule_version: int = 1,
) -> FakeTrial:
    """Two LAs of randomised schools (half intervention in each), two not randomised (one
    ineligible, one eligible), staff, two survey rounds, dosage under ``rule_version``, costs."""
    rng = random.Random(seed)
    trial = FakeTrial()
    urn = 100001
    for la in LAS:
        arms = ["intervention", "control"] * (schools_per_la // 2)
        rng.shuffle(arms)
        for arm in arms:
            trial.schools.append(school(urn, "randomised", la, arm=arm))
            trial.allocations.append(
                {
                    "urn": urn,
                    "arm": arm,
                    "run_id": "run-1",
                    "stratum": la,
                    "la_code": la,
                    "in_error": False,
                    "allocated_at": "2021-10-01T09:00:00Z",
                    "test": False,
                }
            )
            trial.staff[urn] = [
                {
                    "id": urn * 10 + k,
                    "urn": urn,
                    "name": f"Teacher {k}",
                    "role": "year6_teacher",
                    "data_collection_consent": True,
                    "withdrawn_on": None,
                    "withdrawal_covers": None,
                }
                for k in range(teachers_per_school)
            ]
            urn += 1
    trial.schools.append(school(urn, "ineligible", LAS[0]))
    trial.schools.append(school(urn + 1, "eligible", LAS[1]))
    trial.schools.append(school(urn + 2, None, LAS[1]))
    for round_, shift in (("pre", 0.0), ("post", 0.3)):
        responses = []
        for a in trial.allocations:
            for k in range(teachers_per_school):
                if rng.random() < 0.15:
                    continue  # this teacher did not answer this round
                base = 3.0 + rng.gauss(0, 0.5)
                bump = shift if a["arm"] == "intervention" else 0.0
                responses.append(
                    {
                        "response_id": f"{round_}-{a['urn']}-{k}",
                        "urn": a["urn"],
                        "teacher": f"t{a['urn']}-{k}",
                        "role": "year6_teacher",
                        "knowledge": round(base + bump, 3),
                        "attitudes": round(base + bump / 2, 3),
                        "use": round(base, 3),
                    }
                )
        trial.rounds[round_] = {
            "responses": responses,
            "rates": [
                {
                    "arm": arm,
                    "schools": len(trial.urns(arm)),
                    "responding_schools": len(trial.urns(arm)),
                    "responses": sum(1 for r in responses if trial.arm(r["urn"]) == arm),
                    "rate": 1.0,
                }
                for arm in ("intervention", "control")
            ],
            "scales": [
                {"scale": s, "n": len(responses), "mean": 3.0, "sd": 0.5, "alpha": 0.8}
                for s in ("knowledge", "attitudes", "use")
            ],
        }
    for a in trial.allocations:
        if a["arm"] != "intervention":
            continue
        workshops = rng.randint(2, 6)
        trial.dosage.append(
            {
                "urn": a["urn"],
                "workshops_attended": workshops,
                "sessions_attended": workshops + 1,
                "minutes": workshops * 150,
                "complier": workshops >= 4,
                "rule_version": rule_version,
            }
        )
    trial.costs = [
        {
            "id": 1,
            "category": "programme_fees",
            "recurrence": "one_off",
            "amount": "12000.00",
            "urn": None,
            "description": "programme",
        },
        {
            "id": 2,
            "category": "staff_time",
            "recurrence": "recurring",
            "hours": "6",
            "rate": "35.50",
            "urn": trial.urns("intervention")[0],
            "description": "cover",
        },
    ]
    return trial


def pupil_rows(
    trial: FakeTrial, *, per_school: int = 12, effect: float = 3.0, seed: int = 2
) -> list[dict[str, Any]]:
    """CIN/LAC Year 6 pupils of every allocated school, with a planted effect on reading."""
    rng = random.Random(seed)
    rows = []
    for a in trial.allocations:
        school_effect = rng.gauss(0, 2.0)
        for k in range(per_school):
            prior = rng.gauss(15, 3)
            treated = a["arm"] == "intervention"
            reading = 100 + 0.8 * (prior - 15) + school_effect + effect * treated + rng.gauss(0, 5)
            maths = 100 + 0.9 * (prior - 15) + school_effect + rng.gauss(0, 5)
            cin = k % 3 != 0
            rows.append(
                {
                    "pupil_id": f"P{a['urn']}{k:03d}",
                    "urn": a["urn"],
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
    return rows


def to_csv(rows: list[dict[str, Any]], *, sep: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=sep, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)
