"""Bad input gets a clear 4xx problem (security probe findings 3 and 6)."""

from __future__ import annotations

import base64

import pytest


@pytest.mark.parametrize("value", ['"abc"', "{}", "[]", "true", str(2**70), "1.5", "null", "12"])
def test_tampered_cursors_are_400(client, keys, make_run, value):
    make_run()
    cursor = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    for path in ("/runs", "/schemes", "/allocations", "/log"):
        resp = client.get(path, params={"cursor": cursor}, headers=keys.headers())
        if path == "/log" and value in ("12",):
            assert resp.status_code == 200  # an entry index is an integer: a valid cursor
            continue
        if path == "/allocations" and value in ("12",):
            assert resp.status_code == 200
            continue
        assert resp.status_code == 400, (path, value, resp.text)
        assert "cursor" in resp.json()["detail"]


@pytest.mark.parametrize("until", ["0", "1700000000", "yesterday", "2021-13-45"])
def test_dates_must_be_written_as_dates(client, keys, until):
    """``?until=0`` is not 1970-01-01 (finding 6)."""
    resp = client.get("/log", params={"until": until}, headers=keys.headers("auditor"))
    assert resp.status_code == 422, resp.text
    assert "until" in resp.json()["detail"]
    ok = client.get("/log", params={"until": "2031-01-01T00:00:00Z"}, headers=keys.headers())
    assert ok.status_code == 200


@pytest.mark.parametrize("bad", ["2147483648", str(2**64), "99999999", "12"])
def test_out_of_range_urns_are_422(client, keys, bad):
    for method, path in (("GET", f"/allocations/{bad}"), ("POST", f"/allocations/{bad}/in-error")):
        resp = client.request(method, path, headers=keys.headers(), json={"reason": "x"})
        assert resp.status_code == 422 and "urn" in resp.json()["detail"], resp.text


@pytest.mark.parametrize("bad", [str(2**31), str(2**64)])
def test_out_of_range_log_positions_are_422(client, keys, bad):
    for path in (
        f"/log/proofs/inclusion?index={bad}",
        f"/log/proofs/consistency?first={bad}",
        f"/log/checkpoint?tree_size={bad}",
    ):
        resp = client.get(path, headers=keys.headers("auditor"))
        assert resp.status_code == 422, (path, resp.text)


def test_scheme_flags_are_strict(client, keys):
    """A test-mode flag is a JSON boolean: "yes", 1 or "true" are not quietly taken as true."""
    for bad in ("yes", 1, "true", None):
        resp = client.post("/schemes", json={"name": "RLC", "test": bad}, headers=keys.headers())
        assert resp.status_code == 422, (bad, resp.text)
        assert "test" in resp.json()["detail"]
    assert client.get("/schemes", headers=keys.headers()).json()["count"] == 0
    ok = client.post("/schemes", json={"name": "RLC", "test": True}, headers=keys.headers())
    assert ok.status_code == 201 and ok.json()["test"] is True
