"""The allocation algorithm ``stratified-balanced-v1`` and its two log payloads.

docs/randomisation.md, sections 6 and 7: the frozen list, the effective seed, the allocation,
and the ``run.frozen`` / ``run.executed`` payloads the service writes and the verifier re-derives.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .canonical import canonical_json, is_int

ALGORITHM = "stratified-balanced-v1"
ARM_INTERVENTION = "intervention"
ARM_CONTROL = "control"
SEED_BYTES = 32
LIVE_NAMESPACE = "live"


def _stratum_order(stratum: str) -> bytes:
    # Strata sort by their UTF-8 bytes (section 7), which differs from UTF-16 order.
    return stratum.encode("utf-8")


def _checked_schools(schools: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    pairs: list[tuple[str, int]] = []
    seen: set[int] = set()
    for school in schools:
        urn, stratum = school["urn"], school["stratum"]
        if not is_int(urn):
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


def frozen_list_problem(schools: object) -> str | None:
    """Why a stored frozen list is not what ``freeze_schools`` writes, or None if it is.

    The verifier's counterpart of ``freeze_schools``: exactly ``{"urn", "stratum"}`` per school,
    each URN once, sorted by (stratum bytes, URN).  Hostile input gives a message, not an error.
    """
    if not isinstance(schools, list):
        return "schools is not a list"
    previous: tuple[bytes, int] | None = None
    seen: set[int] = set()
    for position, school in enumerate(schools):
        if (
            not isinstance(school, dict)
            or school.keys() != {"urn", "stratum"}
            or not is_int(school["urn"])
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


def allocation_difference(
    allocations: list[Any], given: Mapping[int, Any], expected: list[dict[str, Any]]
) -> str:
    """Say how logged ``allocations`` (``given``: URN -> arm) differ from the ``expected`` ones."""
    wanted = {item["urn"]: item["arm"] for item in expected}
    differing = sorted(
        urn for urn in wanted.keys() | given.keys() if given.get(urn) != wanted.get(urn)
    )
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
