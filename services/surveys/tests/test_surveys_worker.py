"""The parsing worker: claims shared by several workers, a stop part-way resumed after the last
committed chunk, retries while recruitment is down, a re-score taking an export back."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from rlc_clients import RecruitmentClient
from rlc_shared.http import TokenProvider
from surveys.models import AuditEvent, Export, SurveyResponse
from surveys.processing.service import Processor


def processor(client: Any, keys: Any, stack: Any, **kw: Any) -> Processor:
    state = client.app.state
    directory = RecruitmentClient(
        stack.recruitment.url,
        tokens=TokenProvider(token=keys.token("service", sub="service:surveys")),
    )
    return Processor(
        engine=state.engine,
        storage=state.storage,
        directory=directory,
        pseudonymiser=state.pseudonymiser,
        chunk_rows=kw.pop("chunk_rows", 25),
        interval=0.05,
        **kw,
    )


def export_rows(sv: Any, n: int, *, seed: int) -> bytes:
    w = sv.world
    sent = [(w["hillside"].email, w["valley"].email, "x@unknown.sch.uk")[i % 3] for i in range(n)]
    return sv.fx.csv_export(sv.rows(sent, seed=seed), qualtrics=False)


def claimed_events(sv: Any, export_id: int) -> list[dict[str, Any]]:
    return sv.client.get(
        "/audit-events",
        params={"action": "export.claimed", "entity_id": str(export_id), "limit": 500},
        headers=sv.tm(),
    ).json()["data"]


def test_several_workers_share_the_queue_and_parse_each_export_once(
    sv: Any, app_for, keys, stack
) -> None:
    client = app_for(worker_enabled=False)
    sv.client = client
    sv.put_round()
    ids = [sv.send(export_rows(sv, 60, seed=s))["id"] for s in range(6)]
    workers = [processor(client, keys, stack) for _ in range(3)]

    def drain(worker: Processor) -> None:
        while worker.step():
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for export_id in ids:
        export = sv.export(export_id)
        assert export["status"] == "done" and export["attempts"] == 1, export
        assert (export["rows"], export["linked"], export["unmatched"]) == (60, 40, 20)
        assert len(claimed_events(sv, export_id)) == 1
    assert sv.count(SurveyResponse) == 360
    assert sv.count(AuditEvent, AuditEvent.action == "export.done") == 6


def test_a_worker_stopped_part_way_is_resumed_after_its_last_chunk(
    sv: Any, app_for, keys, stack
) -> None:
    client = app_for(worker_enabled=False)
    sv.client = client
    sv.put_round()
    export_id = sv.send(export_rows(sv, 200, seed=9))["id"]
    chunks = {"n": 0}

    def stop_after_three() -> bool:
        chunks["n"] += 1
        return chunks["n"] > 3  # asked before each chunk (its quotes pair up: read once)

    first = processor(client, keys, stack, should_stop=stop_after_three)
    assert first.step() is True
    paused = sv.export(export_id)
    assert paused["status"] == "received"  # put back for the next worker
    with client.app.state.engine.connect() as conn:
        progress = conn.execute(select(Export.progress_row).where(Export.id == export_id)).scalar()
    assert progress == 76  # three chunks of 25 rows, the header being row 1
    assert sv.count(SurveyResponse) == 75
    second = processor(client, keys, stack)
    assert second.step() is True
    done = sv.export(export_id)
    assert done["status"] == "done" and done["attempts"] == 2
    assert (done["rows"], done["linked"], done["unmatched"], done["skipped"]) == (200, 134, 66, 0)
    assert sv.count(SurveyResponse) == 200
    events = claimed_events(sv, export_id)
    assert [e["new"]["resume_after_row"] for e in events] == [0, 76]


def test_while_recruitment_is_down_the_export_waits_and_is_retried(sv: Any, app_for) -> None:
    down = app_for(
        recruitment_url="http://127.0.0.1:9",
        worker_max_backoff_seconds=0.5,
    )
    sv.client = down
    sv.put_round()
    export_id = sv.send(export_rows(sv, 30, seed=10))["id"]

    def waiting() -> dict[str, Any] | None:
        export = sv.export(export_id)
        return export if export["attempts"] >= 1 and export["status"] == "received" else None

    export = sv.until(waiting, what="the first attempt to give up")
    assert "recruitment service could not be reached" in export["note"]
    assert sv.count(SurveyResponse) == 0
    # A worker that reaches recruitment takes it up once it is due again.
    sv.client = app_for()
    done = sv.wait(export_id)
    assert done["status"] == "done" and done["attempts"] >= 2 and done["rows"] == 30


def test_a_rescore_takes_an_export_back_from_its_worker(sv: Any, app_for, keys, stack) -> None:
    client = app_for(worker_enabled=False)
    sv.client = client
    sv.put_round()
    export_id = sv.send(export_rows(sv, 100, seed=11))["id"]
    calls = {"n": 0}

    def rescore_midway() -> bool:
        calls["n"] += 1
        if calls["n"] == 2:  # before the second chunk is written
            resp = client.post(
                "/rounds/pre/rescore", json={"reason": "fix"}, headers=sv.evaluator()
            )
            assert resp.status_code == 200
        return False

    worker = processor(client, keys, stack, should_stop=rescore_midway)
    assert worker.step() is True  # it noticed, stopped, wrote nothing more
    export = sv.export(export_id)
    assert export["status"] == "received" and export["attempts"] == 0
    assert worker.step() is True
    done = sv.export(export_id)
    assert done["status"] == "done" and done["rows"] == 100
    assert sv.count(SurveyResponse) == 100
