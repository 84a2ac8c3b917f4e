"""The outbox when recruitment cannot be reached: nothing is lost, nothing is logged, retried later.

Delivery to a real recruitment service (acknowledgements, refusals, an outage and recovery) is
tested across processes in tests/test_randomisation_recruitment.py.
"""

from __future__ import annotations

import time
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from randomisation.main import create_app
from randomisation.models import Notification
from randomisation.notifications import service as outbox
from rlc_shared.audit import utcnow


def test_notify_with_recruitment_down_keeps_everything_pending(
    client, keys, make_run, freeze, schools, engine, counts
):
    run = make_run()
    freeze(run["id"], schools({"E09000001": 3}))
    assert client.post(f"/runs/{run['id']}/execute", headers=keys.headers()).status_code == 200
    before = counts()
    resp = client.post(f"/runs/{run['id']}/notify", headers=keys.headers())
    assert resp.status_code == 200
    assert resp.json() == {"attempted": 3, "acknowledged": 0, "refused": 0, "failed": 3}
    assert counts() == before  # no log entry, no allocation touched
    with Session(engine) as session:
        rows = session.exec(select(Notification)).all()
    assert {r.status for r in rows} == {"pending"}
    assert all(r.attempts == 1 and r.last_error for r in rows)
    assert all(r.next_attempt_at > utcnow() for r in rows)
    status = client.get(f"/runs/{run['id']}", headers=keys.headers()).json()
    assert status["notifications"] == {"pending": 3, "acknowledged": 0, "refused": 0}


def test_notify_needs_an_executed_run(client, keys, make_run):
    run = make_run()
    assert client.post(f"/runs/{run['id']}/notify", headers=keys.headers()).status_code == 409
    assert client.post("/runs/nope/notify", headers=keys.headers()).status_code == 404


def test_the_background_worker_retries_on_its_own(
    settings, keys, make_run, freeze, schools, engine
):
    run = make_run()
    freeze(run["id"], schools({"E09000001": 2}))
    with Session(engine) as session:
        from randomisation.runs import service as runs_service

        runs_service.execute_run(
            session,
            run_id=run["id"],
            witness=None,
            actor=runs_service.Principal(sub="tm", roles=frozenset({"trial_manager"})),
        )
        session.commit()
    worker_settings = settings.model_copy(
        update={"outbox_worker_enabled": True, "outbox_interval_seconds": 0.05}
    )
    with TestClient(create_app(worker_settings)):
        deadline = time.monotonic() + 20
        while True:
            with Session(engine) as session:
                attempts = [n.attempts for n in session.exec(select(Notification)).all()]
                session.commit()
            if attempts and all(a >= 1 for a in attempts):
                break
            assert time.monotonic() < deadline, attempts
            time.sleep(0.05)  # polling with a deadline, not waiting a fixed time
    with Session(engine) as session:
        assert {n.status for n in session.exec(select(Notification)).all()} == {"pending"}


def test_an_outcome_is_recorded_and_logged_once_however_many_drainers_race(
    client, keys, make_run, freeze, schools, engine, counts
):
    run = make_run()
    freeze(run["id"], schools({"E09000001": 1}))
    assert client.post(f"/runs/{run['id']}/execute", headers=keys.headers()).status_code == 200
    with Session(engine) as session:
        (delivery,) = outbox.due(session, run_id=run["id"], only_due=False, now=utcnow(), limit=10)
        session.commit()
    before = counts()
    settled = []
    for _ in range(2):  # e.g. the worker and POST /runs/{id}/notify both got recruitment's 200
        with Session(engine) as session:
            settled.append(
                outbox.record_outcome(
                    session,
                    delivery=delivery,
                    outcome="acknowledged",
                    detail=None,
                    actor="randomisation-outbox",
                    retry_after=timedelta(seconds=1),
                )
            )
            session.commit()
    assert settled == [True, False]
    assert counts() == (before[0] + 1, before[1])
    status = client.get(f"/runs/{run['id']}", headers=keys.headers()).json()
    assert status["notifications"] == {"pending": 0, "acknowledged": 1, "refused": 0}
