"""Offline verifier for the RLC Trial randomisation log.

This module is the single implementation of everything an outside auditor needs to re-check the
randomisation of the RLC trial: canonical JSON, the hash-chained log, the RFC 6962 Merkle tree and
its proofs, signed checkpoints, and the allocation algorithm ``stratified-balanced-v1``.  The
randomisation service imports the same functions, so what the service writes and what an auditor
checks cannot drift apart.  The specification is ``docs/randomisation.md``.

It deliberately depends on nothing but the Python standard library and python-jose, so it can be
copied out of the repository and run on its own::

    python verifier.py LOG.jsonl --jwks JWKS.json [--checkpoint FILE]...
    python -m randomisation.verifier LOG.jsonl --jwks JWKS.json [--checkpoint FILE]...

Exit status: 0 when every check passes, 1 when any fails, 2 on a usage or input error.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard, cast

from jose import jwk, jws
from jose.exceptions import JOSEError

__all__ = [
    "ALGORITHM",
    "ARM_CONTROL",
    "ARM_INTERVENTION",
    "CHECKPOINT_ALGORITHM",
    "EMPTY_ROOT",
    "GENESIS_PREV_HASH",
    "SEED_BYTES",
    "CanonicalJSONError",
    "CheckpointError",
    "LIVE_NAMESPACE",
    "LogVerifier",
    "MerkleAccumulator",
    "Problem",
    "Report",
    "allocate",
    "allocation_namespace",
    "canonical_json",
    "checkpoint_payload",
    "compute_entry_hash",
    "consistency_proof",
    "effective_seed",
    "entry_leaf_hash",
    "entry_line",
    "freeze_schools",
    "inclusion_proof",
    "is_rfc3339_utc",
    "leaf_hash",
    "list_sha256",
    "main",
    "make_entry",
    "merkle_root",
    "node_hash",
    "public_jwk_from_pem",
    "read_checkpoint_file",
    "roots_at_sizes",
    "run_executed_payload",
    "run_frozen_payload",
    "seal_entry",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_log",
    "verify_log_entries",
]

ALGORITHM = "stratified-balanced-v1"
ARM_INTERVENTION = "intervention"
ARM_CONTROL = "control"
GENESIS_PREV_HASH = "0" * 64
EMPTY_ROOT = hashlib.sha256(b"").digest()
CHECKPOINT_ALGORITHM = "RS256"
SEED_BYTES = 32
LIVE_NAMESPACE = "live"

_HEX64 = re.compile(r"[0-9a-f]{64}")
# [0-9] rather than \d: \d also matches non-ASCII digits.
_RFC3339_UTC = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?(Z|\+00:00)"
)
_ENTRY_FIELDS = ("index", "timestamp", "actor", "type", "payload", "prev_hash", "entry_hash")


class CanonicalJSONError(ValueError):
    """The value cannot be written as canonical JSON (NaN, Infinity, lone surrogate...)."""


class CheckpointError(ValueError):
    """A checkpoint is malformed, uses a refused algorithm or key, or its signature is bad."""


# --------------------------------------------------------------------------------------------
# Canonical JSON
# --------------------------------------------------------------------------------------------


def canonical_json(obj: Any) -> bytes:
    """Return the canonical UTF-8 JSON encoding of ``obj``.

    Object keys are sorted (by code point), there is no whitespace (separators ``,`` and ``:``),
    non-ASCII characters are written as themselves rather than ``\\u`` escapes, and the text is
    encoded as UTF-8.  NaN and the infinities are refused because JSON has no spelling for them.
    """
    try:
        text = json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except (ValueError, TypeError) as exc:  # UnicodeEncodeError (lone surrogate) is a ValueError
        raise CanonicalJSONError(f"not representable as canonical JSON: {exc}") from exc


def is_rfc3339_utc(value: object) -> bool:
    """True if ``value`` is an RFC 3339 date-time in UTC, e.g. ``2025-03-01T09:30:00.123Z``."""
    if not isinstance(value, str):
        return False
    match = _RFC3339_UTC.fullmatch(value)
    if match is None:
        return False
    try:
        year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
        datetime(year, month, day, hour, minute, second)  # rejects 2025-02-30, 25:00...
    except ValueError:
        return False
    return True


def _is_hex64(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _is_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, which "\ud800" escapes in JSON can produce
        return False
    return True


def _is_int(value: object) -> TypeGuard[int]:
    # bool is a subclass of int, but true/false are not integers in JSON.
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# Log entries and the hash chain
# --------------------------------------------------------------------------------------------


def compute_entry_hash(entry: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of ``entry`` without its ``entry_hash`` field.

    Every other field, including ``test`` when present, is part of the hashed content.  An
    ``entry_hash`` key in ``entry`` is ignored, so a sealed entry can be re-checked directly.
    """
    body = {key: value for key, value in entry.items() if key != "entry_hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def seal_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``entry`` with ``entry_hash`` (re)computed from the other fields."""
    sealed = {key: value for key, value in entry.items() if key != "entry_hash"}
    sealed["entry_hash"] = compute_entry_hash(sealed)
    return sealed


def make_entry(
    *,
    index: int,
    prev_hash: str,
    timestamp: str,
    actor: str,
    entry_type: str,
    payload: Mapping[str, Any],
    test: bool = False,
) -> dict[str, Any]:
    """Build and seal one log entry.

    ``prev_hash`` is the previous entry's ``entry_hash`` (``GENESIS_PREV_HASH`` for index 0).
    ``test`` is written only when true, so live entries carry no ``test`` field at all.
    """
    entry: dict[str, Any] = {
        "index": index,
        "timestamp": timestamp,
        "actor": actor,
        "type": entry_type,
        "payload": dict(payload),
        "prev_hash": prev_hash,
    }
    if test:
        entry["test"] = True
    return seal_entry(entry)


def entry_line(entry: Mapping[str, Any]) -> bytes:
    """The exported bytes of a sealed entry (one JSON Lines line, without the trailing LF)."""
    return canonical_json(entry)


def entry_leaf_hash(entry: Mapping[str, Any]) -> bytes:
    """The Merkle leaf hash of a sealed entry: ``leaf_hash(entry_line(entry))``."""
    return leaf_hash(canonical_json(entry))


# --------------------------------------------------------------------------------------------
# RFC 6962 / RFC 9162 Merkle tree
# --------------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n`` >= 2): RFC 6962's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 6962 Merkle Tree Hash of a list of leaf hashes; ``EMPTY_ROOT`` for no leaves.

    Computed level by level: pairing left to right and carrying an odd last node up unchanged
    yields exactly the RFC's recursive split at the largest power of two.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


class MerkleAccumulator:
    """Append-only compact range: the tree's root at the current size in O(log n) memory.

    It keeps the roots of the perfect subtrees that make up the tree (one per set bit of the
    size, largest first), so each append costs amortised O(1) hashes and ``root()`` O(log n).
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash (not raw leaf data)."""
        self._size += 1
        node = leaf
        size = self._size
        stack = self._stack
        # Each trailing zero bit of the new size closes one perfect subtree.
        while not size & 1:
            node = node_hash(stack.pop(), node)
            size >>= 1
        stack.append(node)

    def root(self) -> bytes:
        """The RFC 6962 root of the leaves appended so far."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        node = stack[-1]
        for left in reversed(stack[:-1]):
            node = node_hash(left, node)
        return node


def roots_at_sizes(leaf_hashes: Iterable[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """Merkle roots of the first ``s`` leaves for every ``s`` in ``sizes``, in one pass.

    Consumes ``leaf_hashes`` only as far as the largest size, so checking many checkpoints over
    one log costs O(n) hashes overall.  Raises ``ValueError`` if a size exceeds the leaves given.
    """
    wanted = set(sizes)
    for size in wanted:
        if not _is_int(size) or size < 0:
            raise ValueError(f"tree size must be a non-negative integer, not {size!r}")
    roots: dict[int, bytes] = {}
    if 0 in wanted:
        roots[0] = EMPTY_ROOT
    largest = max(wanted, default=0)
    accumulator = MerkleAccumulator()
    for leaf in leaf_hashes:
        if accumulator.size >= largest:
            break
        accumulator.append(leaf)
        if accumulator.size in wanted:
            roots[accumulator.size] = accumulator.root()
    missing = sorted(wanted - roots.keys())
    if missing:
        raise ValueError(f"tree size {missing[0]} exceeds the {accumulator.size} leaves given")
    return roots


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """RFC 6962 audit path PATH(index, D[0:tree_size]), nearest sibling first."""
    if not (0 <= index < tree_size <= len(leaf_hashes)):
        raise ValueError(f"need 0 <= index < tree_size <= {len(leaf_hashes)}")
    proof: list[bytes] = []
    low, high, m = 0, tree_size, index
    while high - low > 1:  # walk from the root down, collecting the sibling subtrees' roots
        k = _split(high - low)
        if m < k:
            proof.append(merkle_root(leaf_hashes[low + k : high]))
            high = low + k
        else:
            proof.append(merkle_root(leaf_hashes[low : low + k]))
            low += k
            m -= k
    proof.reverse()
    return proof


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof for leaf hash ``leaf`` (RFC 9162 section 2.1.3.2)."""
    if not (0 <= index < tree_size) or any(len(node) != 32 for node in proof):
        return False
    fn, sn = index, tree_size - 1
    result = leaf
    for node in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(node, result)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(result, root)


def consistency_proof(leaf_hashes: Sequence[bytes], first: int, second: int) -> list[bytes]:
    """RFC 6962 consistency proof PROOF(first, D[0:second]).

    Empty when ``first == second`` or ``first == 0`` (an empty tree is a prefix of any tree).
    """
    if not (0 <= first <= second <= len(leaf_hashes)):
        raise ValueError(f"need 0 <= first <= second <= {len(leaf_hashes)}")
    proof: list[bytes] = []
    if first == 0 or first == second:
        return proof
    low, high, m, whole = 0, second, first, True  # ``whole``: RFC's b, "m is the whole tree"
    while True:
        n = high - low
        if m == n:
            if not whole:
                proof.append(merkle_root(leaf_hashes[low:high]))
            break
        k = _split(n)
        if m <= k:
            proof.append(merkle_root(leaf_hashes[low + k : high]))
            high = low + k
        else:
            proof.append(merkle_root(leaf_hashes[low : low + k]))
            low += k
            m -= k
            whole = False
    proof.reverse()
    return proof


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof between tree sizes ``first`` and ``second``.

    RFC 9162 section 2.1.4.2; as in Trillian, ``first == second`` needs an empty proof and equal
    roots, and ``first == 0`` needs an empty proof.
    """
    if not (0 <= first <= second) or any(len(node) != 32 for node in proof):
        return False
    if first == second:
        return not proof and hmac.compare_digest(first_root, second_root)
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, first_root) and hmac.compare_digest(sr, second_root)


# --------------------------------------------------------------------------------------------
# The allocation algorithm stratified-balanced-v1
# --------------------------------------------------------------------------------------------


def _stratum_order(stratum: str) -> bytes:
    return stratum.encode("utf-8")


def _checked_schools(schools: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    pairs: list[tuple[str, int]] = []
    seen: set[int] = set()
    for school in schools:
        urn, stratum = school["urn"], school["stratum"]
        if not _is_int(urn):
            raise ValueError(f"URN must be an integer, not {urn!r}")
        if not isinstance(stratum, str):
            raise ValueError(f"stratum of URN {urn} must be a string, not {stratum!r}")
        if urn in seen:
            raise ValueError(f"URN {urn} appears more than once")
        seen.add(urn)
        pairs.append((stratum, urn))
    return pairs


def freeze_schools(schools: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The frozen school list as stored in ``run.frozen``.

    Only ``urn`` and ``stratum`` are kept, ordered by (stratum as UTF-8 bytes, URN as integer).
    Raises ``ValueError`` on a non-integer URN, a non-string stratum or a repeated URN.
    """
    pairs = _checked_schools(schools)
    pairs.sort(key=lambda pair: (_stratum_order(pair[0]), pair[1]))
    return [{"urn": urn, "stratum": stratum} for stratum, urn in pairs]


def list_sha256(schools: Sequence[Mapping[str, Any]]) -> str:
    """Hex SHA-256 of the canonical JSON of the frozen list, in the order given."""
    return hashlib.sha256(canonical_json(list(schools))).hexdigest()


def effective_seed(seed: bytes, witness: str | None) -> bytes:
    """The seed the allocation uses: ``seed``, or SHA-256(seed || UTF-8(witness)) with a witness."""
    if witness is None:
        return bytes(seed)
    return hashlib.sha256(bytes(seed) + witness.encode("utf-8")).digest()


def allocate(schools: Iterable[Mapping[str, Any]], seed: bytes) -> list[dict[str, Any]]:
    """Allocate schools to arms with ``stratified-balanced-v1`` (docs/randomisation.md).

    ``schools`` are mappings with an integer ``urn`` and a string ``stratum`` (other keys are
    ignored; their order does not matter).  ``seed`` is the 32-byte effective seed.  Returns
    ``[{"urn": int, "arm": "intervention" | "control"}, ...]`` ordered by URN.
    """
    if not isinstance(seed, bytes | bytearray) or len(seed) != SEED_BYTES:
        raise ValueError(f"seed must be {SEED_BYTES} bytes")
    strata: dict[str, list[int]] = {}
    for stratum, urn in _checked_schools(schools):
        strata.setdefault(stratum, []).append(urn)
    # One keyed HMAC state, copied per message, saves re-deriving the key pads 20,000 times.
    keyed = hmac.new(bytes(seed), digestmod=hashlib.sha256)
    arms: dict[int, str] = {}
    for stratum in sorted(strata, key=_stratum_order):
        order = sorted(strata[stratum])
        n = len(order)
        for i in range(n - 1, 0, -1):  # Fisher-Yates, driven by HMAC(seed, "<stratum>|<i>")
            mac = keyed.copy()
            mac.update(f"{stratum}|{i}".encode())
            j = int.from_bytes(mac.digest(), "big") % (i + 1)
            order[i], order[j] = order[j], order[i]
        half = n // 2
        for urn in order[:half]:
            arms[urn] = ARM_INTERVENTION
        for urn in order[half : 2 * half]:
            arms[urn] = ARM_CONTROL
        if n % 2:
            mac = keyed.copy()
            mac.update(f"{stratum}|odd".encode())
            odd = int.from_bytes(mac.digest(), "big") & 1
            arms[order[-1]] = ARM_INTERVENTION if odd else ARM_CONTROL
    return [{"urn": urn, "arm": arms[urn]} for urn in sorted(arms)]


def allocation_namespace(test: bool, scheme_id: str | None = None) -> str:
    """Where a URN may be allocated at most once: ``live``, or ``test:<scheme_id>``.

    Live runs of every scheme share one namespace; each test-mode scheme is a namespace of its
    own, so a new test scheme can rehearse with the same schools.  ``scheme_id`` is ignored for
    live runs.  (The verifier uses ``test`` alone for a test run whose scheme it cannot tell.)
    """
    if not test:
        return LIVE_NAMESPACE
    return "test" if scheme_id is None else f"test:{scheme_id}"


def run_frozen_payload(
    run_id: str | int, strata_attributes: Sequence[str], schools: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The ``run.frozen`` payload: the frozen list (see ``freeze_schools``) and its digest."""
    frozen = freeze_schools(schools)
    return {
        "run_id": run_id,
        "algorithm": ALGORITHM,
        "strata_attributes": list(strata_attributes),
        "schools": frozen,
        "list_sha256": list_sha256(frozen),
    }


def run_executed_payload(
    run_id: str | int,
    frozen_schools: Sequence[Mapping[str, Any]],
    seed: bytes,
    witness: str | None = None,
) -> dict[str, Any]:
    """The ``run.executed`` payload: the seed, the witness and the resulting allocations."""
    seed_used = effective_seed(seed, witness)
    return {
        "run_id": run_id,
        "seed": bytes(seed).hex(),
        "witness": witness,
        "effective_seed": seed_used.hex(),
        "allocations": allocate(frozen_schools, seed_used),
    }


# --------------------------------------------------------------------------------------------
# Checkpoints (compact JWS, RS256)
# --------------------------------------------------------------------------------------------


def checkpoint_payload(tree_size: int, root_hash: bytes | str, timestamp: str) -> dict[str, Any]:
    """The signed content of a checkpoint."""
    root_hex = root_hash.hex() if isinstance(root_hash, bytes | bytearray) else root_hash
    return {"tree_size": tree_size, "root_hash": root_hex, "timestamp": timestamp}


def sign_checkpoint(payload: Mapping[str, Any], private_pem: str | bytes, kid: str) -> str:
    """Sign a checkpoint payload as a compact RS256 JWS (for tests and benchmarks)."""
    key = private_pem.decode("ascii") if isinstance(private_pem, bytes) else private_pem
    token = jws.sign(
        canonical_json(dict(payload)), key, headers={"kid": kid}, algorithm=CHECKPOINT_ALGORITHM
    )
    return str(token)


def public_jwk_from_pem(public_pem: str | bytes, kid: str) -> dict[str, Any]:
    """The public JWK (``kty, n, e, kid, alg, use``) of an RSA key given in PEM."""
    pem = public_pem.decode("ascii") if isinstance(public_pem, bytes) else public_pem
    key = jwk.construct(pem, CHECKPOINT_ALGORITHM).public_key().to_dict()
    return {
        "kty": "RSA",
        "n": key["n"],
        "e": key["e"],
        "kid": kid,
        "alg": CHECKPOINT_ALGORITHM,
        "use": "sig",
    }


def _find_jwk(jwks: Mapping[str, Any], kid: str) -> Mapping[str, Any]:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise CheckpointError('the JWKS has no "keys" list')
    matches = [key for key in keys if isinstance(key, Mapping) and key.get("kid") == kid]
    if not matches:
        raise CheckpointError(f"unknown key id (kid) {kid!r}: not in the JWKS")
    if len(matches) > 1:
        raise CheckpointError(f"the JWKS holds {len(matches)} keys with kid {kid!r}")
    key = matches[0]
    if key.get("kty") != "RSA":
        raise CheckpointError(f"key {kid!r} is not an RSA key")
    if key.get("alg", CHECKPOINT_ALGORITHM) != CHECKPOINT_ALGORITHM:
        raise CheckpointError(f"key {kid!r} is for {key.get('alg')!r}, not RS256")
    if key.get("use", "sig") != "sig":
        raise CheckpointError(f"key {kid!r} is not a signing key (use={key.get('use')!r})")
    return key


def verify_checkpoint(jws_compact: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Verify a checkpoint and return its payload ``{"tree_size", "root_hash", "timestamp"}``.

    The key is the JWKS entry named by the JWS header's ``kid``; only RS256 is accepted.  Raises
    ``CheckpointError`` on a malformed token, an unknown kid, a refused algorithm, a bad
    signature or a malformed payload.  It does not compare the root with any log.
    """
    token = jws_compact.strip()
    try:
        header = jws.get_unverified_header(token)
    except JOSEError as exc:
        raise CheckpointError(f"not a compact JWS: {exc}") from exc
    alg = header.get("alg")
    if alg != CHECKPOINT_ALGORITHM:
        raise CheckpointError(f"algorithm {alg!r} refused: checkpoints must use RS256")
    if "crit" in header:  # no extensions are defined, so none can be honoured
        raise CheckpointError("the JWS header has a crit parameter, which is not supported")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise CheckpointError("the JWS header has no kid")
    key_data = _find_jwk(jwks, kid)
    try:
        key = jwk.construct(dict(key_data), CHECKPOINT_ALGORITHM)
    except Exception as exc:  # the backends raise assorted types on a malformed n or e
        raise CheckpointError(f"key {kid!r} in the JWKS is malformed: {exc}") from exc
    try:
        raw = jws.verify(token, key, algorithms=[CHECKPOINT_ALGORITHM])
    except JOSEError as exc:
        raise CheckpointError(f"signature does not verify with key {kid!r}") from exc
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise CheckpointError("the checkpoint payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise CheckpointError("the checkpoint payload is not a JSON object")
    size = payload.get("tree_size")
    if not _is_int(size) or size < 0:
        raise CheckpointError(f"tree_size must be a non-negative integer, not {size!r}")
    if not _is_hex64(payload.get("root_hash")):
        raise CheckpointError("root_hash must be 64 lowercase hex digits")
    if not is_rfc3339_utc(payload.get("timestamp")):
        raise CheckpointError("timestamp must be an RFC 3339 UTC date-time")
    return payload


def read_checkpoint_file(text: str) -> list[tuple[str, dict[str, Any] | None]]:
    """Parse a checkpoint file: ``[(compact_jws, unsigned_fields_or_None), ...]``.

    Accepted: a bare compact JWS (one per line); a JSON object ``{"checkpoint": "<jws>", ...}``
    whose other fields (``tree_size``, ``root_hash``) are unsigned convenience copies; a JSON
    array or JSON Lines of such objects or strings.  Raises ``ValueError`` on anything else.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("the checkpoint file is empty")
    items: list[Any]
    if stripped[0] in "{[":
        try:
            document = json.loads(stripped)
            items = document if isinstance(document, list) else [document]
        except ValueError:
            items = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    else:
        items = [line.strip() for line in stripped.splitlines() if line.strip()]
    found: list[tuple[str, dict[str, Any] | None]] = []
    for item in items:
        if isinstance(item, str):
            found.append((item, None))
        elif isinstance(item, dict) and isinstance(item.get("checkpoint"), str):
            extra = {key: value for key, value in item.items() if key != "checkpoint"}
            found.append((item["checkpoint"], extra))
        else:
            raise ValueError('each checkpoint must be a compact JWS or {"checkpoint": "<jws>"}')
    return found


# --------------------------------------------------------------------------------------------
# Whole-log verification
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One failed check, located at a log entry, at a checkpoint, or at the log as a whole."""

    message: str
    index: int | None = None  # position of the entry in the log (0-based)
    entry_type: str | None = None
    checkpoint: int | None = None  # position of the checkpoint as given (0-based)

    def __str__(self) -> str:
        if self.index is not None:
            where = f"entry {self.index}"
            if self.entry_type is not None:
                where += f" ({self.entry_type})"
        elif self.checkpoint is not None:
            where = f"checkpoint {self.checkpoint + 1}"
        else:
            where = "log"
        return f"{where}: {self.message}"


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (plural or noun + 's')}"


@dataclass
class Report:
    """The outcome of verifying a log: counts, the final root, and every problem found."""

    entries: int = 0
    root_hash: str = EMPTY_ROOT.hex()
    checkpoints: int = 0
    checkpoints_verified: int = 0
    runs_rederived: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def verdict(self) -> str:
        """One line: ``OK: ...`` or ``FAIL: ...``."""
        if self.ok:
            return (
                f"OK: {_plural(self.entries, 'entry', 'entries')}, chain intact, "
                f"{_plural(self.checkpoints_verified, 'checkpoint')} verified, "
                f"{_plural(self.runs_rederived, 'run')} re-derived"
            )
        return (
            f"FAIL: {_plural(len(self.problems), 'problem')} in "
            f"{_plural(self.entries, 'entry', 'entries')} "
            f"({self.checkpoints_verified} of {_plural(self.checkpoints, 'checkpoint')} verified, "
            f"{_plural(self.runs_rederived, 'run')} re-derived)"
        )

    def render(self, max_problems: int = 0) -> str:
        """The verdict, then one line per problem (all of them when ``max_problems`` is 0)."""
        lines = [self.verdict()]
        shown = self.problems if max_problems <= 0 else self.problems[:max_problems]
        lines.extend(f"  {problem}" for problem in shown)
        if len(shown) < len(self.problems):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        lines.append(f"log root: {self.root_hash} (tree_size {self.entries})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "root_hash": self.root_hash,
            "checkpoints": self.checkpoints,
            "checkpoints_verified": self.checkpoints_verified,
            "runs_rederived": self.runs_rederived,
            "problems": [
                {
                    "index": p.index,
                    "type": p.entry_type,
                    "checkpoint": p.checkpoint,
                    "message": p.message,
                }
                for p in self.problems
            ],
        }


@dataclass
class _Run:
    frozen_at: int
    test: bool
    scheme_id: str | None  # test runs only: the scheme whose namespace the allocations are in
    schools: list[dict[str, Any]] | None  # None when the frozen list is unusable
    executed_at: int | None = None


class LogVerifier:
    """Incremental verifier: feed entries in log order, then call ``finish()``.

    ``add_line`` takes exported lines (bytes, with or without the trailing LF) and also checks
    they are canonical; ``add_entry`` takes already-parsed entries, whose leaf is their canonical
    encoding.  Memory stays bounded apart from the frozen lists of runs not yet executed and the
    set of allocated URNs; the Merkle tree is kept as a compact range.
    """

    def __init__(
        self, jwks: Mapping[str, Any] | None = None, checkpoints: Sequence[str] = ()
    ) -> None:
        self._problems: list[Problem] = []
        self._tree = MerkleAccumulator()
        self._prev_hash: str | None = GENESIS_PREV_HASH  # None: unknowable after a broken line
        self._runs: dict[Any, _Run] = {}
        self._abandoned: dict[tuple[str, object], int] = {}  # run key -> first run.abandoned
        self._allocated: dict[tuple[str, int], tuple[Any, int]] = {}  # (namespace, urn)
        self._rederived = 0
        self._checkpoint_count = len(checkpoints)
        self._checkpoints: list[tuple[int, dict[str, Any]]] = []
        for position, token in enumerate(checkpoints):
            try:
                if jwks is None:
                    raise CheckpointError("no JWKS given to check its signature")
                self._checkpoints.append((position, verify_checkpoint(token, jwks)))
            except CheckpointError as exc:
                self._problems.append(Problem(str(exc), checkpoint=position))
        self._wanted = {payload["tree_size"] for _, payload in self._checkpoints}
        self._roots: dict[int, bytes] = {0: EMPTY_ROOT}

    # -- feeding -------------------------------------------------------------------------

    def add_line(self, line: bytes) -> None:
        """Check one exported line (the LF terminator, if any, is not part of the entry)."""
        raw = line[:-1] if line.endswith(b"\n") else line
        position = self._tree.size
        self._absorb(raw)
        try:
            entry = json.loads(raw)
        except ValueError:
            self._fail(position, None, "line is not valid UTF-8 JSON")
            self._prev_hash = None
            return
        if not isinstance(entry, dict):
            self._fail(position, None, "line is not a JSON object")
            self._prev_hash = None
            return
        entry_type = _type_label(entry)
        try:
            canonical = canonical_json(entry)
        except CanonicalJSONError as exc:
            self._fail(position, entry_type, str(exc))
            canonical = None
        if canonical is not None and canonical != raw:
            self._fail(position, entry_type, "line is not the canonical JSON encoding of its entry")
        self._check_entry(entry, position)

    def add_entry(self, entry: Mapping[str, Any]) -> None:
        """Check one already-parsed entry; its leaf is its canonical encoding."""
        position = self._tree.size
        try:
            raw = canonical_json(entry)
        except CanonicalJSONError as exc:
            self._absorb(b"")
            self._fail(position, _type_label(entry), str(exc))
            self._prev_hash = None
            return
        self._absorb(raw)
        self._check_entry(entry, position)

    def finish(self) -> Report:
        """Compare the checkpoints with the log and return the report."""
        size = self._tree.size
        problems = list(self._problems)
        verified = 0
        for position, payload in self._checkpoints:
            tree_size = payload["tree_size"]
            if tree_size > size:
                problems.append(
                    Problem(
                        f"tree_size {tree_size} exceeds the log's {_plural(size, 'entry', 'entries')}",
                        checkpoint=position,
                    )
                )
                continue
            root = self._roots[tree_size]
            if root.hex() != payload["root_hash"]:
                problems.append(
                    Problem(
                        f"root_hash {payload['root_hash']} (tree_size {tree_size}) does not match "
                        f"the Merkle root of entries 0..{tree_size - 1}, {root.hex()}: an entry "
                        f"below index {tree_size} was altered, removed or inserted",
                        checkpoint=position,
                    )
                )
                continue
            verified += 1
        return Report(
            entries=size,
            root_hash=self._tree.root().hex(),
            checkpoints=self._checkpoint_count,
            checkpoints_verified=verified,
            runs_rederived=self._rederived,
            problems=problems,
        )

    # -- checks --------------------------------------------------------------------------

    def _absorb(self, raw: bytes) -> None:
        self._tree.append(leaf_hash(raw))
        size = self._tree.size
        if size in self._wanted:
            self._roots[size] = self._tree.root()

    def _fail(self, index: int, entry_type: str | None, message: str) -> None:
        self._problems.append(Problem(message, index=index, entry_type=entry_type))

    def _check_entry(self, entry: Mapping[str, Any], position: int) -> None:
        entry_type = _type_label(entry)
        fail = self._fail
        missing = [name for name in _ENTRY_FIELDS if name not in entry]
        if missing:
            fail(position, entry_type, f"missing field(s): {', '.join(missing)}")
        index = entry.get("index")
        if "index" in entry and (not _is_int(index) or index != position):
            fail(position, entry_type, f"index field is {index!r}, expected {position}")
        if "timestamp" in entry and not is_rfc3339_utc(entry["timestamp"]):
            fail(position, entry_type, "timestamp is not an RFC 3339 UTC date-time")
        if "actor" in entry and not isinstance(entry["actor"], str):
            fail(position, entry_type, "actor is not a string")
        if "type" in entry and entry_type is None:
            fail(position, None, "type is not a non-empty string")
        if "payload" in entry and not isinstance(entry["payload"], dict):
            fail(position, entry_type, "payload is not a JSON object")
        if "test" in entry and not isinstance(entry["test"], bool):
            fail(position, entry_type, "test is not true or false")

        prev_hash = entry.get("prev_hash")
        if "prev_hash" in entry:
            if not _is_hex64(prev_hash):
                fail(position, entry_type, "prev_hash is not 64 lowercase hex digits")
            elif self._prev_hash is not None and prev_hash != self._prev_hash:
                expected = "the genesis value 0...0" if position == 0 else self._prev_hash
                what = "" if position == 0 else f"entry {position - 1}'s entry_hash "
                fail(position, entry_type, f"prev_hash {prev_hash} is not {what}{expected}")
        stored = entry.get("entry_hash")
        if "entry_hash" in entry:
            if not _is_hex64(stored):
                fail(position, entry_type, "entry_hash is not 64 lowercase hex digits")
            else:
                try:
                    computed = compute_entry_hash(entry)
                except CanonicalJSONError:
                    computed = None  # already reported
                if computed is not None and computed != stored:
                    fail(
                        position,
                        entry_type,
                        f"entry_hash {stored} does not match the entry's content "
                        f"(computed {computed}): the entry was altered",
                    )
        # Chain on the stored hash, so one altered entry is reported once, not at every successor.
        self._prev_hash = stored if _is_hex64(stored) else None

        payload = entry.get("payload")
        if not isinstance(payload, dict):
            return
        test = entry.get("test") is True
        try:
            if entry_type == "run.frozen":
                self._on_frozen(position, payload, test)
            elif entry_type == "run.executed":
                self._on_executed(position, payload, test)
        except (ValueError, TypeError, KeyError) as exc:  # hostile input must not stop the audit
            fail(position, entry_type, f"payload could not be checked: {exc}")
        if entry_type == "run.abandoned":
            key = _run_key(payload.get("run_id"))
            if key is not None:
                self._abandoned.setdefault(key, position)

    def _on_frozen(self, position: int, payload: Mapping[str, Any], test: bool) -> None:
        def fail(message: str) -> None:
            self._fail(position, "run.frozen", message)

        run_id = payload.get("run_id")
        key = _run_key(run_id)
        if key is None:
            fail(f"run_id must be a string or an integer, not {run_id!r}")
            return
        if key in self._runs:
            fail(f"run {run_id!r} was already frozen at entry {self._runs[key].frozen_at}")
            return
        usable = True
        if payload.get("algorithm") != ALGORITHM:
            fail(f"algorithm {payload.get('algorithm')!r} is not {ALGORITHM!r}")
            usable = False
        attributes = payload.get("strata_attributes")
        if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
            fail("strata_attributes is not a list of strings")
        schools = payload.get("schools")
        problem = _frozen_list_problem(schools)
        frozen: list[dict[str, Any]] | None = None
        if problem is not None:
            fail(problem)
        else:
            frozen = cast(list[dict[str, Any]], schools)  # checked by _frozen_list_problem
            digest = list_sha256(frozen)
            if payload.get("list_sha256") != digest:
                fail(
                    f"list_sha256 {payload.get('list_sha256')!r} does not match the frozen "
                    f"schools (computed {digest})"
                )
                frozen = None
        scheme_id: str | None = None
        if test:
            # Test runs are checked for double allocation per test scheme, so the scheme is
            # required here (live entries keep the fixed payload rules).
            given_scheme = payload.get("scheme_id")
            if isinstance(given_scheme, str) and given_scheme:
                scheme_id = given_scheme
            else:
                fail(
                    "a test-mode run.frozen must carry its scheme_id (a non-empty string), "
                    f"not {given_scheme!r}"
                )
        self._runs[key] = _Run(
            frozen_at=position,
            test=test,
            scheme_id=scheme_id,
            schools=frozen if usable else None,
        )

    def _on_executed(self, position: int, payload: Mapping[str, Any], test: bool) -> None:
        def fail(message: str) -> None:
            self._fail(position, "run.executed", message)

        run_id = payload.get("run_id")
        key = _run_key(run_id)
        if key is None:
            fail(f"run_id must be a string or an integer, not {run_id!r}")
            return
        run = self._runs.get(key)
        derivable = True
        if run is None:
            fail(f"no earlier run.frozen entry for run {run_id!r}")
            derivable = False
        else:
            if run.executed_at is not None:
                fail(f"run {run_id!r} was already executed at entry {run.executed_at}")
                derivable = False
            if key in self._abandoned:
                fail(f"run {run_id!r} was abandoned at entry {self._abandoned[key]}")
            if run.test != test:
                fail(f"test flag differs from the run.frozen entry {run.frozen_at}")
            if run.schools is None:
                fail(f"the run.frozen entry {run.frozen_at} is unusable, so nothing can be checked")
                derivable = False

        seed_hex, witness = payload.get("seed"), payload.get("witness")
        computed_seed: bytes | None = None
        if not _is_hex64(seed_hex):
            fail("seed is not 64 lowercase hex digits")
        elif witness is not None and not isinstance(witness, str):
            fail("witness is neither a string nor null")
        elif witness is not None and not _is_unicode(witness):
            fail("witness is not valid Unicode")
        else:
            computed_seed = effective_seed(bytes.fromhex(seed_hex), witness)
            if payload.get("effective_seed") != computed_seed.hex():
                fail(
                    f"effective_seed {payload.get('effective_seed')!r} does not follow from the "
                    f"seed and witness (computed {computed_seed.hex()})"
                )

        allocations = payload.get("allocations")
        given: dict[int, Any] = {}
        if not isinstance(allocations, list) or not all(
            isinstance(a, dict) and _is_int(a.get("urn")) for a in allocations
        ):
            fail('allocations is not a list of {"urn": int, "arm": str}')
            allocations = None
        else:
            given = {a["urn"]: a.get("arm") for a in allocations}

        if derivable and run is not None and computed_seed is not None and allocations is not None:
            expected = allocate(run.schools or [], computed_seed)
            if allocations == expected:
                self._rederived += 1
            else:
                fail(_allocation_difference(allocations, given, expected))
        if run is not None and run.executed_at is None:
            run.executed_at = position
            run.schools = None  # re-derived: the list is no longer needed

        # One URN may be allocated once per namespace: once among all live runs, and once among
        # the runs of each test scheme (named by the test run's run.frozen).
        scheme_id = run.scheme_id if run is not None and run.test and test else None
        namespace = allocation_namespace(test, scheme_id)
        clashes: list[str] = []
        for urn in given:
            earlier = self._allocated.get((namespace, urn))
            if earlier is not None:
                clashes.append(f"URN {urn} (run {earlier[0]!r}, entry {earlier[1]})")
            else:
                self._allocated[(namespace, urn)] = (run_id, position)
        if clashes:
            where = (
                "live run"
                if not test
                else f"test run of scheme {scheme_id!r}"
                if scheme_id is not None
                else "test run"
            )
            shown = ", ".join(clashes[:5]) + (
                f" and {len(clashes) - 5} more" if clashes[5:] else ""
            )
            fail(f"already allocated in an earlier {where}: {shown}")


def _type_label(entry: Mapping[str, Any]) -> str | None:
    entry_type = entry.get("type")
    return entry_type if isinstance(entry_type, str) and entry_type else None


def _run_key(run_id: object) -> tuple[str, object] | None:
    # Keyed by JSON type as well, so run 1 and run "1" stay distinct.
    if isinstance(run_id, str):
        return ("s", run_id)
    if _is_int(run_id):
        return ("i", run_id)
    return None


def _frozen_list_problem(schools: object) -> str | None:
    if not isinstance(schools, list):
        return "schools is not a list"
    previous: tuple[bytes, int] | None = None
    seen: set[int] = set()
    for position, school in enumerate(schools):
        if (
            not isinstance(school, dict)
            or school.keys() != {"urn", "stratum"}
            or not _is_int(school["urn"])
            or not isinstance(school["stratum"], str)
        ):
            return f'schools[{position}] is not {{"urn": int, "stratum": str}}'
        if school["urn"] in seen:
            return f"URN {school['urn']} appears more than once in the frozen list"
        seen.add(school["urn"])
        try:
            order = (school["stratum"].encode("utf-8"), school["urn"])
        except UnicodeEncodeError:  # a lone surrogate, which JSON escapes can smuggle in
            return f"schools[{position}] has a stratum that is not valid Unicode"
        if previous is not None and order < previous:
            return f"schools is not sorted by (stratum, URN) at position {position}"
        previous = order
    return None


def _allocation_difference(
    allocations: list[Any], given: Mapping[int, Any], expected: list[dict[str, Any]]
) -> str:
    wanted = {item["urn"]: item["arm"] for item in expected}
    differing = sorted(
        urn for urn in wanted.keys() | given.keys() if given.get(urn) != wanted.get(urn)
    )
    detail = ""
    if differing:
        urn = differing[0]
        detail = (
            f"; {len(differing)} of {len(wanted)} schools differ, first URN {urn}: "
            f"{given.get(urn)!r}, expected {wanted.get(urn)!r}"
        )
    elif len(allocations) != len(expected):
        detail = "; a URN is listed more than once"
    else:
        detail = "; the list is not ordered by URN"
    return "allocations do not follow from the frozen list and the effective seed" + detail


def verify_log(
    lines: Iterable[bytes], jwks: Mapping[str, Any] | None, checkpoints: Sequence[str] = ()
) -> Report:
    """Verify an exported log (JSON Lines, one entry per line) and its checkpoints.

    Checks that every line is the canonical JSON of an entry, the indexes run 0..n-1, the
    ``prev_hash`` chain and every ``entry_hash``; every checkpoint's signature and that its root
    is the Merkle root of the first ``tree_size`` lines; and that every ``run.executed`` follows
    from its ``run.frozen`` and that no URN is allocated twice (once among live runs, once per
    test scheme).
    Streams: ``lines`` may be an open binary file.
    """
    verifier = LogVerifier(jwks, checkpoints)
    for line in lines:
        verifier.add_line(line)
    return verifier.finish()


def verify_log_entries(
    entries: Iterable[Mapping[str, Any]],
    jwks: Mapping[str, Any] | None = None,
    checkpoints: Sequence[str] = (),
) -> Report:
    """Like ``verify_log`` for already-parsed entries (each leaf is the entry's canonical JSON)."""
    verifier = LogVerifier(jwks, checkpoints)
    for entry in entries:
        verifier.add_entry(entry)
    return verifier.finish()


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _unsigned_copy_problems(
    position: int, token: str, extra: Mapping[str, Any] | None
) -> list[Problem]:
    # The file's unsigned copies must agree with the signed payload, or a reader could be misled.
    if not extra:
        return []
    try:
        signed = json.loads(jws.get_unverified_claims(token.strip()))
    except (JOSEError, ValueError):
        return []  # the signature check reports the malformed token
    return [
        Problem(
            f"the file's unsigned {name} {extra[name]!r} differs from the signed "
            f"{signed.get(name)!r}",
            checkpoint=position,
        )
        for name in ("tree_size", "root_hash", "timestamp")
        if name in extra and isinstance(signed, dict) and extra[name] != signed.get(name)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 OK, 1 FAIL, 2 usage error)."""
    parser = argparse.ArgumentParser(
        # Name the invocation the user typed: "-m" inside the package, the file name outside it.
        prog="python -m randomisation.verifier" if __package__ else None,
        description="Verify an exported RLC randomisation log offline "
        "(hash chain, Merkle checkpoints, re-derived allocations).",
    )
    parser.add_argument("log", metavar="LOG.jsonl", help="the exported log, one entry per line")
    parser.add_argument("--jwks", required=True, metavar="JWKS.json", help="the public keys")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="a checkpoint file (compact JWS, JSON or JSON Lines); may be repeated",
    )
    parser.add_argument(
        "--max-problems",
        type=int,
        default=100,
        metavar="N",
        help="print at most N problems (0: all; default 100)",
    )
    args = parser.parse_args(argv)

    def usage_error(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 2

    try:
        with open(args.jwks, encoding="utf-8") as handle:
            jwks = json.load(handle)
    except (OSError, ValueError) as exc:
        return usage_error(f"cannot read the JWKS {args.jwks}: {exc}")
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        return usage_error(f'{args.jwks} is not a JWKS ({{"keys": [...]}})')

    tokens: list[str] = []
    extras: list[dict[str, Any] | None] = []
    for path in args.checkpoint:
        try:
            with open(path, encoding="utf-8") as handle:
                found = read_checkpoint_file(handle.read())
        except (OSError, ValueError) as exc:
            return usage_error(f"cannot read the checkpoint file {path}: {exc}")
        for token, extra in found:
            tokens.append(token)
            extras.append(extra)

    try:
        with open(args.log, "rb") as log:
            report = verify_log(log, jwks, tokens)
    except OSError as exc:
        return usage_error(f"cannot read the log {args.log}: {exc}")
    for position, (token, extra) in enumerate(zip(tokens, extras, strict=True)):
        report.problems.extend(_unsigned_copy_problems(position, token, extra))

    print(report.render(args.max_problems))
    if report.ok and not tokens:
        print("note: no checkpoint given; the chain shows only that the log is self-consistent")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
