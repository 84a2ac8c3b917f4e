"""The signed webhook and the upload: Standard Webhooks signatures (signed here by the reference
``standardwebhooks`` library), idempotency, duplicates, the evaluator bucket, storage."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from surveys.models import AuditEvent, Export, SurveyResponse

UNKNOWN_SECRET = "whsec_" + base64.b64encode(b"a-secret-nobody-configured-here!!").decode()


def small_export(sv: Any, *, seed: int = 3, n: int = 6) -> bytes:
    return sv.fx.csv_export(sv.rows([sv.world["brookside"].email] * n, seed=seed))


def stored_keys(sv: Any) -> list[str]:
    listed = sv.s3.client().list_objects_v2(Bucket=sv.s3.bucket, Prefix="surveys/exports/")
    return [o["Key"] for o in listed.get("Contents", [])]


def refused(resp: Any, status: int, reason: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    if reason is not None:
        assert body["reason"] == reason, body
    return body


def test_a_signed_inline_export_is_stored_content_addressed_then_parsed(sv: Any) -> None:
    sv.put_round()
    data = small_export(sv)
    accepted = sv.send(data)
    assert set(accepted) >= {"id", "status_url"}
    assert accepted["status_url"] == f"/exports/{accepted['id']}"
    sha = hashlib.sha256(data).hexdigest()
    # Durably stored before the 202: the object is there, named by its content.
    assert f"surveys/exports/{sha}" in stored_keys(sv)
    body = sv.s3.client().get_object(Bucket=sv.s3.bucket, Key=f"surveys/exports/{sha}")["Body"]
    assert body.read() == data
    export = sv.wait(accepted["id"])
    assert export["status"] == "done" and export["rows"] == 6 and export["linked"] == 6
    assert export["links"] == {"exact": 6, "historical": 0, "domain": 0, "manual": 0}
    assert export["content_sha256"] == sha and export["source"] == "webhook"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_delivery_without_a_signature_header_is_refused(sv: Any, missing: str) -> None:
    body = sv.payload(content=b"a,b\n1,2\n")
    headers = sv.sign(body)
    del headers[missing]
    problem = refused(sv.deliver(body, headers), 400, "missing-header")
    assert missing in problem["detail"]
    assert sv.count(Export) == 0


def test_a_changed_body_or_an_unknown_secret_is_refused_and_nothing_is_kept(sv: Any) -> None:
    body = sv.payload(content=small_export(sv))
    headers = sv.sign(body)
    tampered = body.replace(b'"pre"', b'"post"')
    refused(sv.deliver(tampered, headers), 400, "no-match")
    refused(sv.deliver(body, sv.sign(body, secret=UNKNOWN_SECRET)), 400, "no-match")
    headers = sv.sign(body)
    headers["webhook-signature"] = "v1,not-base64!"
    refused(sv.deliver(body, headers), 400, "no-v1-signature")
    assert sv.count(Export) == 0 and stored_keys(sv) == []


def test_rotated_secrets_verify(sv: Any) -> None:
    # Signed only with the secret being rotated out: still configured, so it verifies.
    body = sv.payload(content=small_export(sv, seed=1))
    assert sv.deliver(body, sv.sign(body, secret=sv.old_secret)).status_code == 202
    # The platform signs with an unknown new key and the current one: any match verifies.
    body = sv.payload(content=small_export(sv, seed=2))
    headers = sv.sign(body)
    unknown = sv.sign(body, msg_id=headers["webhook-id"], secret=UNKNOWN_SECRET)
    headers["webhook-signature"] = f"{unknown['webhook-signature']} {headers['webhook-signature']}"
    assert sv.deliver(body, headers).status_code == 202, headers
    assert sv.count(Export) == 2


def test_stale_and_future_timestamps_are_refused(sv: Any) -> None:
    body = sv.payload(content=small_export(sv))
    refused(sv.deliver(body, sv.sign(body, at=time.time() - 301)), 400, "stale-timestamp")
    refused(sv.deliver(body, sv.sign(body, at=time.time() + 301)), 400, "future-timestamp")
    # Within the five minutes either way: accepted.
    assert sv.deliver(body, sv.sign(body, at=time.time() - 240)).status_code == 202


def test_nothing_is_parsed_before_the_signature_holds(sv: Any) -> None:
    garbage = b'{"type": "survey.export.ready", "data": '  # not JSON
    headers = sv.sign(garbage, secret=UNKNOWN_SECRET)
    refused(sv.deliver(garbage, headers), 400, "no-match")  # not a 422 about the JSON
    problem = refused(sv.deliver(garbage, sv.sign(garbage)), 422)
    assert "not valid JSON" in problem["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p.update(type="survey.deleted"), "type"),
        (lambda p: p["data"].update(round="mid"), "data.round"),
        (lambda p: p["data"]["file"].update(format="pdf"), "data.file.format"),
        (lambda p: p["data"]["file"].update(url="http://169.254.169.254/latest"), "data.file.url"),
        (lambda p: p["data"]["file"].update(object={"key": "exports/x.csv"}), "data"),
        (lambda p: p["data"]["file"].pop("content_base64"), "data"),
    ],
)
def test_a_signed_payload_that_is_not_an_export_notice_is_a_422(sv: Any, change, field) -> None:
    payload = json.loads(sv.payload(content=b"a,b\n1,2\n"))
    change(payload)
    body = json.dumps(payload).encode()
    problem = refused(sv.deliver(body, sv.sign(body)), 422)
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert sv.count(Export) == 0


def test_invalid_base64_is_a_422(sv: Any) -> None:
    payload = json.loads(sv.payload(content=b"x"))
    payload["data"]["file"]["content_base64"] = "not base64 at all!"
    body = json.dumps(payload).encode()
    assert "base64" in refused(sv.deliver(body, sv.sign(body)), 422)["detail"]


def test_the_same_webhook_id_again_returns_the_same_export_and_does_nothing_twice(sv: Any) -> None:
    sv.put_round()
    body = sv.payload(content=small_export(sv))
    headers = sv.sign(body, msg_id="msg_replayed_1")
    first = sv.deliver(body, headers)
    assert first.status_code == 202
    sv.wait(first.json()["id"])
    # A retry of the same delivery (re-signed now, as a platform's retry is).
    again = sv.deliver(body, sv.sign(body, msg_id="msg_replayed_1"))
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert sv.count(Export) == 1
    assert sv.count(AuditEvent, AuditEvent.action == "export.received") == 1
    assert sv.count(AuditEvent, AuditEvent.action == "export.done") == 1
    assert sv.count(SurveyResponse) == 6


def test_the_same_content_under_a_new_id_is_a_duplicate_of_the_first(sv: Any) -> None:
    sv.put_round()
    data = small_export(sv)
    first = sv.ingest(data)
    second = sv.send(data)  # new webhook id, same bytes
    assert second["duplicate_of"] == first["id"]
    export = sv.export(second["id"])
    assert export["status"] == "done" and export["duplicate_of"] == first["id"]
    assert export["rows"] == 0 and "not parsed again" in export["warnings"][0]
    assert sv.count(SurveyResponse) == 6
    assert len(stored_keys(sv)) == 1  # stored once


def test_a_body_over_the_limit_is_refused_before_it_is_verified(sv: Any) -> None:
    body = sv.payload(content=b"x" * (2 * 1024 * 1024))
    problem = refused(sv.deliver(body, sv.sign(body)), 413)
    assert "evaluator bucket" in problem["detail"] or "larger" in problem["detail"]
    assert sv.count(Export) == 0


def test_an_export_in_the_evaluator_bucket_is_fetched_from_it_by_key(sv: Any) -> None:
    sv.put_round()
    data = small_export(sv, n=9)
    key = sv.put_object(data, "exports/2021/pre/export-1.csv")
    resp = sv.deliver(sv.payload(key=key, name="export-1.csv"))
    assert resp.status_code == 202, resp.text
    assert f"surveys/exports/{hashlib.sha256(data).hexdigest()}" in stored_keys(sv)
    export = sv.wait(resp.json()["id"])
    assert export["status"] == "done" and export["rows"] == 9


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("exports/not-there.csv", "no object with that key"),
        ("exports/../secrets/x.csv", "plain object key"),
        ("other-prefix/x.csv", "must be under exports/"),
        ("https://attacker.example/x.csv", "plain object key"),
    ],
)
def test_an_object_key_the_bucket_does_not_hold_or_may_not_give_is_a_422(
    sv: Any, key: str, says: str
) -> None:
    problem = refused(sv.deliver(sv.payload(key=key)), 422)
    assert says in problem["detail"]
    assert sv.count(Export) == 0


def test_without_an_evaluator_bucket_only_inline_exports_are_taken(sv: Any, app_for) -> None:
    client = app_for(evaluator_bucket=None)
    body = sv.payload(key="exports/x.csv")
    resp = client.post("/webhooks/ipsos", content=body, headers=sv.sign(body))
    assert "inline only" in refused(resp, 422)["detail"]


def test_an_upload_by_hand_is_treated_as_a_webhook_export(sv: Any) -> None:
    sv.put_round()
    data = small_export(sv, n=4)
    resp = sv.client.post(
        "/exports",
        headers=sv.evaluator(),
        data={"round": "pre", "survey_id": "SV_pre"},
        files={"file": ("by-hand.csv", data, "text/csv")},
    )
    assert resp.status_code == 202, resp.text
    uploaded = resp.json()
    assert uploaded["source"] == "upload" and uploaded["received_by"] == "evaluator-eve"
    assert uploaded["declared_format"] == "csv"
    assert sv.wait(uploaded["id"])["rows"] == 4
    # The same file by webhook later: a duplicate of the upload.
    assert sv.send(data)["duplicate_of"] == uploaded["id"]


def test_the_local_storage_backend_keeps_the_raw_export_too(
    sv: Any, app_for, tmp_path: Path
) -> None:
    client = app_for(storage_backend="local", storage_dir=str(tmp_path))
    data = small_export(sv)
    body = sv.payload(content=data)
    resp = client.post("/webhooks/ipsos", content=body, headers=sv.sign(body))
    assert resp.status_code == 202, resp.text
    stored = tmp_path / "exports" / hashlib.sha256(data).hexdigest()
    assert stored.read_bytes() == data


def test_an_export_before_its_round_waits_and_is_parsed_once_the_round_is_set(sv: Any) -> None:
    accepted = sv.send(small_export(sv))
    export = sv.export(accepted["id"])
    assert export["status"] == "received"
    assert "PUT /rounds/pre" in export["note"]
    sv.put_round()
    assert sv.wait(accepted["id"])["status"] == "done"


def test_an_export_of_another_survey_fails_with_the_reason(sv: Any) -> None:
    sv.put_round()
    export = sv.ingest(small_export(sv), survey_id="SV_someone_else")
    assert export["status"] == "failed"
    assert "SV_someone_else" in export["errors"][0]["problem"]
    with sv.client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(select(func.count()).select_from(SurveyResponse)).scalar() == 0


@contextmanager
def export_rows_refused(engine: Any) -> Iterator[None]:
    """A database that refuses every new export row with a constraint violation (a trigger),
    as a unique index fired by concurrent writes on every attempt would."""
    if engine.dialect.name == "postgresql":
        create = [
            "CREATE FUNCTION refuse_export() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'unique_violation'; "
            "END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_export BEFORE INSERT ON export "
            "FOR EACH ROW EXECUTE FUNCTION refuse_export()",
        ]
        drop = ["DROP TRIGGER refuse_export ON export", "DROP FUNCTION refuse_export()"]
    else:
        create = [
            "CREATE TRIGGER refuse_export BEFORE INSERT ON export "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ]
        drop = ["DROP TRIGGER refuse_export"]
    with engine.begin() as conn:
        for statement in create:
            conn.exec_driver_sql(statement)
    try:
        yield
    finally:
        with engine.begin() as conn:
            for statement in drop:
                conn.exec_driver_sql(statement)


def test_an_export_that_cannot_be_recorded_is_a_503_saying_to_send_it_again(sv: Any) -> None:
    sv.put_round()
    data = small_export(sv)
    body = sv.payload(content=data)
    with export_rows_refused(sv.client.app.state.engine):
        resp = sv.deliver(body, sv.sign(body, msg_id="msg_refused_1"))
        upload = sv.client.post(
            "/exports",
            headers=sv.evaluator(),
            data={"round": "pre"},
            files={"file": ("by-hand.csv", data, "text/csv")},
        )
    for answer in (resp, upload):
        problem = refused(answer, 503)
        assert problem["type"].endswith("/export-not-recorded")
        assert answer.headers["retry-after"] == "5"
        assert "Send the same delivery again" in problem["detail"]
        assert hashlib.sha256(data).hexdigest()[:12] in problem["detail"]
    assert sv.count(Export) == 0 and sv.count(AuditEvent) == 1  # the round's only
    assert len(stored_keys(sv)) == 1  # the raw file is kept, once
    # Sent again once the database takes it: recorded once, and parsed.
    again = sv.deliver(body, sv.sign(body, msg_id="msg_refused_1"))
    assert again.status_code == 202, again.text
    assert sv.wait(again.json()["id"])["rows"] == 6 and sv.count(Export) == 1
