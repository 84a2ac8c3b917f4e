"""The offline verifier: canonical JSON, entries, checkpoints, whole-log checks and the CLI."""

import ast
import base64
import copy
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jws

import randomisation.verifier as verifier_module
from randomisation.verifier import (
    GENESIS_PREV_HASH,
    CanonicalJSONError,
    CheckpointError,
    LogVerifier,
    canonical_json,
    checkpoint_payload,
    compute_entry_hash,
    entry_leaf_hash,
    entry_line,
    is_rfc3339_utc,
    make_entry,
    merkle_root,
    public_jwk_from_pem,
    read_checkpoint_file,
    run_executed_payload,
    run_frozen_payload,
    seal_entry,
    sign_checkpoint,
    verify_checkpoint,
    verify_log,
    verify_log_entries,
)

SERVICE_ROOT = Path(__file__).resolve().parents[1]
VERIFIER_DIR = SERVICE_ROOT / "randomisation" / "verifier"
VERIFIER_MODULES = sorted(VERIFIER_DIR.glob("*.py"))
KID = "checkpoint-2025-01"


# --------------------------------------------------------------------------------------------
# Keys and a synthetic log
# --------------------------------------------------------------------------------------------


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class Signer:
    """An RSA key made with cryptography, its PEM and the JWKS derived from its numbers."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        numbers = key.public_key().public_numbers()
        self.jwk = {
            "kty": "RSA",
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "kid": kid,
            "alg": "RS256",
            "use": "sig",
        }

    def sign(self, tree_size: int, root: bytes | str, kid: str | None = None) -> str:
        payload = checkpoint_payload(tree_size, root, "2025-03-02T12:00:00Z")
        return sign_checkpoint(payload, self.private_pem, kid or self.kid)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(KID)


@pytest.fixture(scope="module")
def other_signer() -> Signer:
    return Signer("someone-else")


@pytest.fixture(scope="module")
def jwks(signer: Signer, other_signer: Signer) -> dict:
    # The other key is published too, under its own kid: being in the JWKS is not enough.
    return {"keys": [signer.jwk, other_signer.jwk]}


def timestamp(i: int) -> str:
    moment = datetime(2025, 3, 1, 9, 0, tzinfo=UTC) + timedelta(seconds=37 * i)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def schools(first_urn: int, count: int, strata: int) -> list[dict]:
    return [
        {"urn": first_urn + 7 * i, "stratum": f"region={'NSEW'[i % strata]};size={i % 3}"}
        for i in range(count)
    ]


class LogBuilder:
    def __init__(self) -> None:
        self.entries: list[dict] = []

    def add(self, entry_type: str, payload: dict, *, test: bool = False) -> int:
        index = len(self.entries)
        prev = self.entries[-1]["entry_hash"] if self.entries else GENESIS_PREV_HASH
        self.entries.append(
            make_entry(
                index=index,
                prev_hash=prev,
                timestamp=timestamp(index),
                actor="user:trial-manager" if index % 2 else "system",
                entry_type=entry_type,
                payload=payload,
                test=test,
            )
        )
        return index

    def run(
        self,
        run_id: str,
        school_list: list[dict],
        seed: bytes,
        witness,
        *,
        test=False,
        scheme_id: str | None = None,
    ):
        scheme_id = scheme_id or ("T1" if test else "S1")
        self.add("run.created", {"run_id": run_id, "scheme_id": scheme_id}, test=test)
        frozen = run_frozen_payload(run_id, ["region", "size"], school_list)
        frozen["scheme_id"] = scheme_id  # as the platform writes it; required for test runs
        self.add("run.frozen", frozen, test=test)
        self.add("notification.acknowledged", {"run_id": run_id, "by": "statistician"}, test=test)
        executed = run_executed_payload(run_id, frozen["schools"], seed, witness)
        return self.add("run.executed", executed, test=test)


def build_log() -> list[dict]:
    log = LogBuilder()
    log.add("scheme.created", {"scheme_id": "S1", "name": "RLC main trial"})  # 0
    log.run("R1", schools(100001, 40, 4), b"\x01" * 32, "FTSE 100 close 2025-03-03")  # 1-4
    log.add("scheme.created", {"scheme_id": "T1", "name": "Practice"}, test=True)  # 5
    # A test run over the same schools: each test scheme is a namespace of its own.
    log.run("T-R1", schools(100001, 40, 4), b"\x02" * 32, None, test=True)  # 6-9
    log.run("R2", schools(200001, 21, 3), b"\x03" * 32, None)  # 10-13
    log.add("run.created", {"run_id": "R3", "scheme_id": "S1"})  # 14
    log.add("run.frozen", run_frozen_payload("R3", ["region"], schools(300001, 5, 1)))  # 15
    log.add("run.abandoned", {"run_id": "R3", "reason": "wrong list"})  # 16
    log.add("allocation.marked_in_error", {"run_id": "R1", "urn": 100008, "note": "closed"})  # 17
    log.add("key.rotated", {"old_kid": "checkpoint-2024-12", "new_kid": KID})  # 18
    return log.entries


ENTRIES = build_log()
CHECKPOINT_SIZES = (5, 14, len(ENTRIES))


def lines_of(entries: list[dict]) -> list[bytes]:
    return [entry_line(entry) + b"\n" for entry in entries]


def root_of(lines: list[bytes], size: int) -> bytes:
    return merkle_root([entry_leaf_hash(json.loads(line)) for line in lines[:size]])


def reseal(entries: list[dict], start: int) -> list[dict]:
    """Recompute prev_hash and entry_hash from ``start`` on, as someone rewriting history would."""
    for index in range(start, len(entries)):
        entry = dict(entries[index])
        entry["prev_hash"] = entries[index - 1]["entry_hash"] if index else GENESIS_PREV_HASH
        entries[index] = seal_entry(entry)
    return entries


@pytest.fixture(scope="module")
def checkpoints(signer: Signer) -> list[str]:
    lines = lines_of(ENTRIES)
    return [signer.sign(size, root_of(lines, size)) for size in CHECKPOINT_SIZES]


def entries_copy() -> list[dict]:
    return copy.deepcopy(ENTRIES)


def problems_at(report, index: int) -> list[str]:
    return [p.message for p in report.problems if p.index == index]


# --------------------------------------------------------------------------------------------
# Canonical JSON and entries
# --------------------------------------------------------------------------------------------


def test_canonical_json_sorts_keys_strips_space_and_keeps_utf8():
    value = {"b": 1, "a": [True, None, "é\u2028"], "é": {"z": "x", "y": -2}}
    assert (
        canonical_json(value)
        == b'{"a":[true,null,"\xc3\xa9\xe2\x80\xa8"],"b":1,"\xc3\xa9":{"y":-2,"z":"x"}}'
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {"x": [float("-inf")]}, "\ud800"])
def test_canonical_json_refuses_nan_infinity_and_lone_surrogates(bad):
    with pytest.raises(CanonicalJSONError):
        canonical_json(bad)


def test_entry_hash_is_the_hash_of_the_entry_without_entry_hash():
    entry = ENTRIES[0]
    body = {key: value for key, value in entry.items() if key != "entry_hash"}
    assert entry["entry_hash"] == hashlib.sha256(canonical_json(body)).hexdigest()
    assert compute_entry_hash(entry) == compute_entry_hash(body) == entry["entry_hash"]
    assert ENTRIES[0]["prev_hash"] == "0" * 64
    assert all(ENTRIES[i]["prev_hash"] == ENTRIES[i - 1]["entry_hash"] for i in range(1, 19))


def test_test_flag_is_hashed_and_only_written_when_true():
    live = make_entry(
        index=0,
        prev_hash=GENESIS_PREV_HASH,
        timestamp="2025-03-01T09:00:00Z",
        actor="system",
        entry_type="scheme.created",
        payload={},
    )
    test = make_entry(
        index=0,
        prev_hash=GENESIS_PREV_HASH,
        timestamp="2025-03-01T09:00:00Z",
        actor="system",
        entry_type="scheme.created",
        payload={},
        test=True,
    )
    assert "test" not in live and test["test"] is True
    assert live["entry_hash"] != test["entry_hash"]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2025-03-01T09:00:00Z", True),
        ("2025-03-01T09:00:00.123456789Z", True),
        ("2025-03-01T09:00:00+00:00", True),
        ("2025-03-01T09:00:00+01:00", False),
        ("2025-03-01 09:00:00Z", False),
        ("2025-02-30T09:00:00Z", False),
        ("2025-03-01T09:00:00Z\n", False),
        (1740819600, False),
    ],
)
def test_rfc3339_utc(value, valid):
    assert is_rfc3339_utc(value) is valid


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def test_checkpoint_round_trip(signer, jwks):
    token = signer.sign(3, b"\xab" * 32)
    assert verify_checkpoint(token, jwks) == {
        "tree_size": 3,
        "root_hash": "ab" * 32,
        "timestamp": "2025-03-02T12:00:00Z",
    }
    assert verify_checkpoint(f"  {token}\n", jwks)["tree_size"] == 3


def test_public_jwk_helper_matches_the_key_numbers(signer):
    assert public_jwk_from_pem(signer.public_pem, KID) == signer.jwk


def test_checkpoint_signed_by_another_key_is_refused(signer, other_signer, jwks):
    forged = other_signer.sign(3, b"\xab" * 32, kid=KID)
    with pytest.raises(CheckpointError, match="signature does not verify"):
        verify_checkpoint(forged, jwks)


def test_checkpoint_with_unknown_kid_is_refused(signer, jwks):
    with pytest.raises(CheckpointError, match="unknown key id"):
        verify_checkpoint(signer.sign(3, b"\xab" * 32, kid="nobody"), jwks)


def test_checkpoint_with_another_algorithm_is_refused(jwks):
    payload = canonical_json(checkpoint_payload(3, b"\xab" * 32, "2025-03-02T12:00:00Z"))
    # An HMAC "signature" keyed with public material is the classic algorithm-confusion attack.
    token = jws.sign(payload, "secret", headers={"kid": KID}, algorithm="HS256")
    with pytest.raises(CheckpointError, match="RS256"):
        verify_checkpoint(token, jwks)


def test_checkpoint_with_altered_payload_is_refused(signer, jwks):
    header, _, signature = signer.sign(3, b"\xab" * 32).split(".")
    other = canonical_json(checkpoint_payload(4, b"\xab" * 32, "2025-03-02T12:00:00Z"))
    body = base64.urlsafe_b64encode(other).rstrip(b"=").decode()
    with pytest.raises(CheckpointError, match="signature"):
        verify_checkpoint(f"{header}.{body}.{signature}", jwks)


@pytest.mark.parametrize(
    "payload",
    [
        {"tree_size": -1, "root_hash": "ab" * 32, "timestamp": "2025-03-02T12:00:00Z"},
        {"tree_size": True, "root_hash": "ab" * 32, "timestamp": "2025-03-02T12:00:00Z"},
        {"tree_size": 3, "root_hash": "AB" * 32, "timestamp": "2025-03-02T12:00:00Z"},
        {"tree_size": 3, "root_hash": "ab" * 32, "timestamp": "yesterday"},
        {"tree_size": 3, "root_hash": "ab" * 32},
    ],
)
def test_checkpoint_with_malformed_payload_is_refused(signer, jwks, payload):
    with pytest.raises(CheckpointError):
        verify_checkpoint(sign_checkpoint(payload, signer.private_pem, KID), jwks)


def test_checkpoint_garbage_is_refused(jwks):
    with pytest.raises(CheckpointError, match="not a compact JWS"):
        verify_checkpoint("not-a-jws", jwks)


def test_read_checkpoint_file_formats(signer):
    token = signer.sign(3, b"\xab" * 32)
    wrapped = {"checkpoint": token, "tree_size": 3, "root_hash": "ab" * 32}
    assert read_checkpoint_file(token + "\n") == [(token, None)]
    assert read_checkpoint_file(json.dumps(wrapped)) == [
        (token, {"tree_size": 3, "root_hash": "ab" * 32})
    ]
    jsonl = "\n".join(json.dumps(item) for item in (wrapped, token)) + "\n"
    assert read_checkpoint_file(jsonl) == [
        (token, {"tree_size": 3, "root_hash": "ab" * 32}),
        (token, None),
    ]
    assert read_checkpoint_file(json.dumps([token, wrapped]))[0] == (token, None)
    for bad in ("", "{}", '{"checkpoint": 5}', "[1]"):
        with pytest.raises(ValueError):
            read_checkpoint_file(bad)


# --------------------------------------------------------------------------------------------
# Whole-log verification
# --------------------------------------------------------------------------------------------


def test_valid_log_passes(jwks, checkpoints):
    report = verify_log(lines_of(ENTRIES), jwks, checkpoints)
    assert report.problems == []
    assert report.ok
    assert report.entries == len(ENTRIES) == 19
    assert report.checkpoints_verified == 3
    assert report.runs_rederived == 3  # R1, T-R1 and R2; R3 was abandoned before execution
    assert report.root_hash == root_of(lines_of(ENTRIES), len(ENTRIES)).hex()
    assert (
        report.verdict()
        == "OK: 19 entries, chain intact, 3 checkpoints verified, 3 runs re-derived"
    )


def test_parsed_entries_verify_the_same_way(jwks, checkpoints):
    from_lines = verify_log(lines_of(ENTRIES), jwks, checkpoints)
    from_entries = verify_log_entries(ENTRIES, jwks, checkpoints)
    assert from_entries.ok and from_entries.to_dict() == from_lines.to_dict()


def test_incremental_verifier_accepts_lines_without_newline(jwks, checkpoints):
    verifier = LogVerifier(jwks, checkpoints)
    for line in lines_of(ENTRIES):
        verifier.add_line(line.rstrip(b"\n"))
    assert verifier.finish().ok


def test_empty_log_and_checkpoint_of_size_zero(signer, jwks):
    report = verify_log([], jwks, [signer.sign(0, hashlib.sha256(b"").digest())])
    assert report.ok and report.entries == 0 and report.checkpoints_verified == 1


def test_tampered_payload_is_named(jwks, checkpoints):
    entries = entries_copy()
    entries[4]["payload"]["witness"] = "FTSE 100 close 2025-03-04"
    report = verify_log(lines_of(entries), jwks, checkpoints)
    assert not report.ok
    assert any("entry_hash" in m and "altered" in m for m in problems_at(report, 4))
    assert any("effective_seed" in m for m in problems_at(report, 4))
    assert str(next(p for p in report.problems if p.index == 4)).startswith(
        "entry 4 (run.executed):"
    )
    # Every checkpoint covers entry 4 (the first is over entries 0..4).
    assert {p.checkpoint for p in report.problems if p.checkpoint is not None} == {0, 1, 2}


def test_broken_prev_hash_is_named(jwks):
    entries = entries_copy()
    entries[7]["prev_hash"] = "f" * 64
    entries[7] = seal_entry(entries[7])
    report = verify_log(lines_of(entries), jwks, [])
    assert any("prev_hash" in m for m in problems_at(report, 7))
    assert not problems_at(report, 6)


def test_reordered_lines_are_named(jwks):
    lines = lines_of(ENTRIES)
    lines[10], lines[11] = lines[11], lines[10]
    report = verify_log(lines, jwks, [])
    assert any("index field is 11, expected 10" in m for m in problems_at(report, 10))
    assert any("prev_hash" in m for m in problems_at(report, 10))


def test_removed_line_is_named(jwks):
    lines = lines_of(ENTRIES)
    del lines[3]
    report = verify_log(lines, jwks, [])
    assert any("index field is 4, expected 3" in m for m in problems_at(report, 3))


def test_non_canonical_line_is_named(jwks, checkpoints):
    lines = lines_of(ENTRIES)
    lines[3] = json.dumps(ENTRIES[3]).encode() + b"\n"  # same content, with spaces
    report = verify_log(lines, jwks, checkpoints)
    assert problems_at(report, 3) == ["line is not the canonical JSON encoding of its entry"]
    # The exported bytes are the Merkle leaves, so the covering checkpoints fail as well.
    assert {p.checkpoint for p in report.problems if p.checkpoint is not None} == {0, 1, 2}


def test_unparseable_line_is_named_once(jwks):
    lines = lines_of(ENTRIES)
    lines[8] = b'{"index": 8, "truncated\n'
    report = verify_log(lines, jwks, [])
    assert [p.index for p in report.problems] == [8]
    assert str(report.problems[0]) == "entry 8: line is not valid UTF-8 JSON"


def test_hostile_content_is_reported_not_crashed_on(jwks):
    lines = lines_of(ENTRIES)
    # JSON escapes can carry lone surrogates, which are not Unicode and have no UTF-8 encoding.
    lines[4] = lines[4].replace(b'"witness":"FTSE', b'"witness":"\\ud800FTSE')
    lines[11] = lines[11].replace(b'"stratum":"region=N', b'"stratum":"\\udc00region=N', 1)
    report = verify_log(lines, jwks, [])
    assert any("not valid Unicode" in m for m in problems_at(report, 4))
    assert any("not valid Unicode" in m for m in problems_at(report, 11))


def test_checkpoint_over_a_wrong_root_fails(signer, jwks, checkpoints):
    wrong = signer.sign(14, hashlib.sha256(b"another log").digest())
    report = verify_log(lines_of(ENTRIES), jwks, [*checkpoints, wrong])
    assert [(p.checkpoint, p.index) for p in report.problems] == [(3, None)]
    assert "does not match the Merkle root of entries 0..13" in report.problems[0].message
    assert report.checkpoints_verified == 3


def test_checkpoint_signed_by_another_key_fails_the_log(signer, other_signer, jwks):
    lines = lines_of(ENTRIES)
    forged = other_signer.sign(len(lines), root_of(lines, len(lines)), kid=KID)
    report = verify_log(lines, jwks, [forged])
    assert not report.ok and report.checkpoints_verified == 0
    assert "signature does not verify" in report.problems[0].message
    assert str(report.problems[0]).startswith("checkpoint 1:")


def test_checkpoint_beyond_the_log_fails(signer, jwks, checkpoints):
    lines = lines_of(ENTRIES)[:-2]  # the log was truncated after the last checkpoint
    report = verify_log(lines, jwks, checkpoints)
    assert [p.checkpoint for p in report.problems] == [2]
    assert "exceeds the log's 17 entries" in report.problems[0].message


def test_checkpoints_need_a_jwks(checkpoints):
    report = verify_log(lines_of(ENTRIES), None, checkpoints[:1])
    assert [str(p) for p in report.problems] == [
        "checkpoint 1: no JWKS given to check its signature"
    ]


def test_allocation_not_following_from_the_seed_is_named(jwks, checkpoints):
    entries = entries_copy()
    allocation = entries[13]["payload"]["allocations"][0]
    allocation["arm"] = "control" if allocation["arm"] == "intervention" else "intervention"
    reseal(entries, 13)
    report = verify_log(lines_of(entries), jwks, checkpoints[:1])  # the one still valid
    assert [(p.index, p.entry_type) for p in report.problems] == [(13, "run.executed")]
    message = report.problems[0].message
    assert "do not follow from the frozen list" in message and "1 of 21 schools differ" in message
    assert report.runs_rederived == 2


def test_rewritten_history_with_a_consistent_chain_is_caught_by_checkpoints(jwks, checkpoints):
    entries = entries_copy()
    # Re-randomise R2 with a new seed and rebuild everything after it: every local check passes.
    frozen = entries[11]["payload"]["schools"]
    entries[13]["payload"] = run_executed_payload("R2", frozen, b"\x09" * 32, "another witness")
    reseal(entries, 13)
    report = verify_log(lines_of(entries), jwks, checkpoints)
    assert all(p.index is None for p in report.problems)
    # Checkpoint 1 (entries 0..4) still holds; the two covering entry 13 expose the rewrite.
    assert {p.checkpoint for p in report.problems} == {1, 2}
    assert report.checkpoints_verified == 1 and report.runs_rederived == 3


def test_executed_run_needs_an_earlier_frozen_run(jwks):
    entries = entries_copy()
    entries[2], entries[4] = entries[4], entries[2]  # executed before frozen
    entries[2]["index"], entries[4]["index"] = 2, 4
    reseal(entries, 2)
    report = verify_log(lines_of(entries), jwks, [])
    assert any("no earlier run.frozen entry for run 'R1'" in m for m in problems_at(report, 2))


def test_frozen_list_digest_and_order_are_checked(jwks):
    entries = entries_copy()
    entries[11]["payload"]["list_sha256"] = "0" * 64
    reseal(entries, 11)
    report = verify_log(lines_of(entries), jwks, [])
    assert any("list_sha256" in m for m in problems_at(report, 11))
    assert any("unusable" in m for m in problems_at(report, 13))

    entries = entries_copy()
    school_list = entries[11]["payload"]["schools"]
    school_list[0], school_list[1] = school_list[1], school_list[0]
    entries[11]["payload"]["list_sha256"] = hashlib.sha256(canonical_json(school_list)).hexdigest()
    reseal(entries, 11)
    report = verify_log(lines_of(entries), jwks, [])
    assert any("not sorted" in m for m in problems_at(report, 11))


def test_a_urn_allocated_in_two_live_runs_is_named(jwks):
    log = LogBuilder()
    log.entries = entries_copy()
    overlap = schools(100001, 3, 1) + schools(400001, 3, 1)
    index = log.run("R4", overlap, b"\x04" * 32, None)
    report = verify_log(lines_of(log.entries), jwks, [])
    assert [p.index for p in report.problems] == [index]
    assert "already allocated in an earlier live run: URN 100001 (run 'R1', entry 4)" in (
        report.problems[0].message
    )


# Namespaces: a URN at most once among all live runs, and at most once per test scheme (the
# scheme named by the test run's run.frozen payload).
@pytest.mark.parametrize(
    ("first", "second", "clash"),
    [
        ({"test": True, "scheme_id": "T1"}, {"test": True, "scheme_id": "T2"}, None),
        (
            {"test": True, "scheme_id": "T1"},
            {"test": True, "scheme_id": "T1"},
            "test run of scheme 'T1'",
        ),
        ({"test": False, "scheme_id": "S1"}, {"test": False, "scheme_id": "S1"}, "live run"),
        # Live runs share one namespace whatever their scheme.
        ({"test": False, "scheme_id": "S1"}, {"test": False, "scheme_id": "S2"}, "live run"),
        ({"test": False, "scheme_id": "S1"}, {"test": True, "scheme_id": "T1"}, None),
        ({"test": True, "scheme_id": "T1"}, {"test": False, "scheme_id": "S1"}, None),
    ],
    ids=[
        "test-other-scheme",
        "test-same-scheme",
        "live-live",
        "live-two-schemes",
        "live-test",
        "test-live",
    ],
)
def test_double_allocation_is_checked_per_namespace(jwks, first, second, clash):
    log = LogBuilder()
    log.add("scheme.created", {"scheme_id": "S1", "name": "RLC main trial"})
    log.run("A", schools(500001, 6, 2), b"\x06" * 32, None, **first)
    overlap = schools(500001, 3, 1) + schools(600001, 3, 1)
    index = log.run("B", overlap, b"\x07" * 32, None, **second)
    report = verify_log(lines_of(log.entries), jwks, [])
    assert report.runs_rederived == 2
    if clash is None:
        assert report.ok, report.problems
    else:
        assert [p.index for p in report.problems] == [index]
        assert (
            f"already allocated in an earlier {clash}: URN 500001 (run 'A', entry 4)"
            in report.problems[0].message
        )


def test_a_test_run_frozen_must_name_its_scheme(jwks):
    log = LogBuilder()
    log.add("scheme.created", {"scheme_id": "T1", "name": "Practice"}, test=True)
    log.run("A", schools(500001, 4, 2), b"\x06" * 32, None, test=True)
    frozen = log.entries[2]
    assert frozen["type"] == "run.frozen"
    del frozen["payload"]["scheme_id"]
    reseal(log.entries, 2)
    report = verify_log(lines_of(log.entries), jwks, [])
    assert [(p.index, p.entry_type) for p in report.problems] == [(2, "run.frozen")]
    assert "must carry its scheme_id" in report.problems[0].message
    assert report.runs_rederived == 1  # the allocation itself is still re-derived

    # A live run.frozen keeps the fixed payload rules: no scheme_id needed.
    live = LogBuilder()
    live.run("L", schools(500001, 4, 2), b"\x06" * 32, None)
    del live.entries[1]["payload"]["scheme_id"]
    reseal(live.entries, 1)
    assert verify_log(lines_of(live.entries), jwks, []).ok


def test_double_execution_and_execution_after_abandonment_are_named(jwks):
    log = LogBuilder()
    log.entries = entries_copy()
    again = log.add("run.executed", copy.deepcopy(ENTRIES[13]["payload"]))
    frozen_r3 = ENTRIES[15]["payload"]["schools"]
    late = log.add("run.executed", run_executed_payload("R3", frozen_r3, b"\x05" * 32, None))
    report = verify_log(lines_of(log.entries), jwks, [])
    assert any("already executed at entry 13" in m for m in problems_at(report, again))
    assert any("already allocated" in m for m in problems_at(report, again))
    assert any("abandoned at entry 16" in m for m in problems_at(report, late))


# --------------------------------------------------------------------------------------------
# Standalone module and command line
# --------------------------------------------------------------------------------------------


def verifier_imports(path: Path) -> tuple[set[str], set[str]]:
    """The top-level packages a verifier module imports, and the sibling modules it imports."""
    siblings = {module.stem for module in VERIFIER_MODULES}
    absolute: set[str] = set()
    relative: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            absolute.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            absolute.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            # Only "from .sibling import ..." (or "from . import sibling"): never beyond the package.
            assert node.level == 1, f"{path.name}: relative import beyond the package"
            names = [node.module] if node.module else [alias.name for alias in node.names]
            assert set(names) <= siblings, f"{path.name}: imports {names}, not a verifier module"
            relative.update(names)
    return absolute, relative


def test_verifier_imports_only_the_standard_library_and_jose():
    assert {path.name for path in VERIFIER_MODULES} >= {"__init__.py", "__main__.py", "cli.py"}
    outside: dict[str, set[str]] = {}
    for path in VERIFIER_MODULES:
        absolute, _ = verifier_imports(path)
        foreign = absolute - set(sys.stdlib_module_names)
        if foreign:
            outside[path.name] = foreign
    # python-jose is kept behind one module, so replacing it touches one file.
    assert outside == {"checkpoints.py": {"jose"}}
    assert verifier_module.__file__ == str(VERIFIER_DIR / "__init__.py")


def test_verifier_modules_import_one_another_without_cycles():
    graph = {path.stem: verifier_imports(path)[1] for path in VERIFIER_MODULES}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module not in done:
            for imported in graph[module]:
                visit(imported, (*path, module))
            done.add(module)

    for module in graph:
        visit(module, ())
    assert graph["__init__"] >= {"canonical", "tree", "allocation", "checkpoints", "log", "cli"}


@pytest.fixture()
def files(tmp_path, jwks, checkpoints):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(lines_of(ENTRIES)))
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(jwks))
    bare = tmp_path / "bare.jws"
    bare.write_text(checkpoints[0] + "\n")
    wrapped = tmp_path / "wrapped.json"
    payload = json.loads(jws.get_unverified_claims(checkpoints[1]))
    wrapped.write_text(json.dumps({"checkpoint": checkpoints[1], **payload}))
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(json.dumps({"checkpoint": checkpoints[2], "tree_size": 19}) + "\n")
    return {"dir": tmp_path, "log": log, "jwks": jwks_file, "checkpoints": [bare, wrapped, jsonl]}


def run_cli(*args, cwd=None, module="randomisation.verifier"):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SERVICE_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def checkpoint_args(paths):
    return [arg for path in paths for arg in ("--checkpoint", path)]


def test_cli_ok(files):
    result = run_cli(files["log"], "--jwks", files["jwks"], *checkpoint_args(files["checkpoints"]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == (
        "OK: 19 entries, chain intact, 3 checkpoints verified, 3 runs re-derived"
    )


def test_cli_without_checkpoints_says_so(files):
    result = run_cli(files["log"], "--jwks", files["jwks"])
    assert result.returncode == 0
    assert "0 checkpoints verified" in result.stdout and "no checkpoint given" in result.stdout


def test_cli_runs_from_a_copied_folder_outside_the_package(files):
    # An auditor copies the folder alone and runs "python -m verifier" beside it.
    copied = files["dir"] / "verifier"
    copied.mkdir()
    for path in VERIFIER_MODULES:
        (copied / path.name).write_bytes(path.read_bytes())
    result = run_cli(
        files["log"],
        "--jwks",
        files["jwks"],
        *checkpoint_args(files["checkpoints"]),
        cwd=files["dir"],
        module="verifier",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: 19 entries")


def test_cli_fail_names_the_entry(files):
    entries = entries_copy()
    entries[4]["payload"]["allocations"][0]["arm"] = "placebo"
    files["log"].write_bytes(b"".join(lines_of(entries)))
    result = run_cli(files["log"], "--jwks", files["jwks"], *checkpoint_args(files["checkpoints"]))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAIL: ")
    assert any(line.startswith("  entry 4 (run.executed): entry_hash") for line in lines)
    assert any(line.startswith("  entry 4 (run.executed): allocations") for line in lines)
    assert any(line.startswith("  checkpoint 2: root_hash") for line in lines)


def test_cli_flags_unsigned_copies_that_disagree(files, checkpoints):
    lying = files["dir"] / "lying.json"
    lying.write_text(json.dumps({"checkpoint": checkpoints[0], "tree_size": 19}))
    result = run_cli(files["log"], "--jwks", files["jwks"], "--checkpoint", lying)
    assert result.returncode == 1
    assert (
        "checkpoint 1: the file's unsigned tree_size 19 differs from the signed 5" in result.stdout
    )


def test_cli_limits_the_problems_printed(files):
    lines = lines_of(ENTRIES)
    files["log"].write_bytes(b"".join(lines[1:]))  # every index is off by one
    result = run_cli(files["log"], "--jwks", files["jwks"], "--max-problems", "3")
    assert result.returncode == 1
    assert "... and" in result.stdout and result.stdout.count("\n  entry ") == 3


@pytest.mark.parametrize(
    "make_args",
    [
        lambda f: [f["log"]],  # no --jwks
        lambda f: [],
        lambda f: [f["dir"] / "missing.jsonl", "--jwks", f["jwks"]],
        lambda f: [f["log"], "--jwks", f["dir"] / "missing.json"],
        lambda f: [f["log"], "--jwks", f["log"]],  # not a JWKS
        lambda f: [f["log"], "--jwks", f["jwks"], "--checkpoint", f["dir"] / "missing.jws"],
        lambda f: [f["log"], "--jwks", f["jwks"], "--checkpoint", f["jwks"]],  # not a checkpoint
    ],
)
def test_cli_usage_errors_exit_2(files, make_args):
    result = run_cli(*make_args(files))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
