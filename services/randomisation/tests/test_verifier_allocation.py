"""The allocation algorithm stratified-balanced-v1: worked example and properties."""

import hashlib
import hmac
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from randomisation.verifier import (
    ALGORITHM,
    GENESIS_PREV_HASH,
    allocate,
    canonical_json,
    effective_seed,
    entry_leaf_hash,
    entry_line,
    freeze_schools,
    list_sha256,
    make_entry,
    merkle_root,
    run_executed_payload,
    run_frozen_payload,
    verify_log,
)

# The worked example of docs/randomisation.md, section "Worked example".
EXAMPLE_SCHOOLS = [
    {"urn": 100234, "stratum": "North"},
    {"urn": 99876, "stratum": "North"},
    {"urn": 140512, "stratum": "South"},
    {"urn": 137001, "stratum": "North"},
    {"urn": 150001, "stratum": "East"},
    {"urn": 100777, "stratum": "South"},
    {"urn": 120045, "stratum": "North"},
    {"urn": 131313, "stratum": "South"},
]
EXAMPLE_SEED = bytes(range(32))
EXAMPLE_WITNESS = "example witness 2025-03-01"
EXAMPLE_FROZEN_JSON = (
    b'[{"stratum":"East","urn":150001},{"stratum":"North","urn":99876},'
    b'{"stratum":"North","urn":100234},{"stratum":"North","urn":120045},'
    b'{"stratum":"North","urn":137001},{"stratum":"South","urn":100777},'
    b'{"stratum":"South","urn":131313},{"stratum":"South","urn":140512}]'
)
EXAMPLE_LIST_SHA256 = "d8b889931181932ac9dac0b8abb74cc6b82ca26d892e0038e45680468c8e3fef"
EXAMPLE_EFFECTIVE_SEED = "003ff5b54362bb3c6ab574a2e58a97284dc2b28e9ade03214ae4edc11e200da3"
INT, CTL = "intervention", "control"
EXAMPLE_WITHOUT_WITNESS = {
    99876: CTL,
    100234: INT,
    100777: CTL,
    120045: CTL,
    131313: INT,
    137001: INT,
    140512: CTL,
    150001: CTL,
}
EXAMPLE_WITH_WITNESS = {
    99876: CTL,
    100234: INT,
    100777: INT,
    120045: INT,
    131313: CTL,
    137001: CTL,
    140512: CTL,
    150001: INT,
}


def reference_allocate(schools, seed):
    """The specification transcribed as plainly as possible, as an independent re-implementation."""
    by_stratum = {}
    for school in schools:
        by_stratum.setdefault(school["stratum"], []).append(school["urn"])
    result = {}
    for stratum in sorted(by_stratum, key=lambda s: s.encode("utf-8")):
        a = sorted(by_stratum[stratum])
        n = len(a)
        for i in range(n - 1, 0, -1):
            digest = hmac.new(seed, f"{stratum}|{i}".encode(), hashlib.sha256).digest()
            j = int.from_bytes(digest, "big") % (i + 1)
            a[i], a[j] = a[j], a[i]
        for position, urn in enumerate(a):
            if position < n // 2:
                result[urn] = "intervention"
            elif position < 2 * (n // 2):
                result[urn] = "control"
            else:
                digest = hmac.new(seed, f"{stratum}|odd".encode(), hashlib.sha256).digest()
                result[urn] = "intervention" if int.from_bytes(digest, "big") % 2 else "control"
    return [{"urn": urn, "arm": result[urn]} for urn in sorted(result)]


def test_worked_example_frozen_list_and_digest():
    frozen = freeze_schools(EXAMPLE_SCHOOLS)
    assert canonical_json(frozen) == EXAMPLE_FROZEN_JSON
    assert list_sha256(frozen) == EXAMPLE_LIST_SHA256


def test_worked_example_allocation_without_witness():
    allocation = allocate(EXAMPLE_SCHOOLS, effective_seed(EXAMPLE_SEED, None))
    assert allocation == [{"urn": urn, "arm": arm} for urn, arm in EXAMPLE_WITHOUT_WITNESS.items()]


def test_worked_example_allocation_with_witness():
    seed = effective_seed(EXAMPLE_SEED, EXAMPLE_WITNESS)
    assert seed.hex() == EXAMPLE_EFFECTIVE_SEED
    allocation = allocate(EXAMPLE_SCHOOLS, seed)
    assert allocation == [{"urn": urn, "arm": arm} for urn, arm in EXAMPLE_WITH_WITNESS.items()]


def test_worked_example_payloads():
    frozen = run_frozen_payload("example-run-1", ["region"], EXAMPLE_SCHOOLS)
    assert frozen["algorithm"] == ALGORITHM == "stratified-balanced-v1"
    assert frozen["list_sha256"] == EXAMPLE_LIST_SHA256
    executed = run_executed_payload(
        "example-run-1", frozen["schools"], EXAMPLE_SEED, EXAMPLE_WITNESS
    )
    assert executed["seed"] == EXAMPLE_SEED.hex()
    assert executed["effective_seed"] == EXAMPLE_EFFECTIVE_SEED
    assert {a["urn"]: a["arm"] for a in executed["allocations"]} == EXAMPLE_WITH_WITNESS


def test_effective_seed_definition():
    assert effective_seed(b"\x07" * 32, None) == b"\x07" * 32
    assert effective_seed(b"\x07" * 32, "é") == hashlib.sha256(b"\x07" * 32 + b"\xc3\xa9").digest()
    assert effective_seed(b"\x07" * 32, "") == hashlib.sha256(b"\x07" * 32).digest()


def test_freeze_orders_strata_by_utf8_bytes_and_urns_as_integers():
    schools = [
        {"urn": 100, "stratum": "b", "name": "dropped"},
        {"urn": 99, "stratum": "b"},
        {"urn": 5, "stratum": "é"},  # U+00E9 sorts after "z" as UTF-8 bytes
        {"urn": 7, "stratum": "z"},
        {"urn": 1000, "stratum": "B"},
    ]
    assert freeze_schools(schools) == [
        {"urn": 1000, "stratum": "B"},
        {"urn": 99, "stratum": "b"},
        {"urn": 100, "stratum": "b"},
        {"urn": 7, "stratum": "z"},
        {"urn": 5, "stratum": "é"},
    ]


@pytest.mark.parametrize(
    ("schools", "message"),
    [
        ([{"urn": 1, "stratum": "a"}, {"urn": 1, "stratum": "b"}], "more than once"),
        ([{"urn": "1", "stratum": "a"}], "integer"),
        ([{"urn": True, "stratum": "a"}], "integer"),
        ([{"urn": 1, "stratum": 3}], "string"),
    ],
)
def test_invalid_school_lists_are_refused(schools, message):
    with pytest.raises(ValueError, match=message):
        allocate(schools, bytes(32))
    with pytest.raises(ValueError, match=message):
        freeze_schools(schools)


def test_seed_must_be_32_bytes():
    with pytest.raises(ValueError, match="32 bytes"):
        allocate(EXAMPLE_SCHOOLS, bytes(31))
    with pytest.raises(ValueError, match="32 bytes"):
        allocate(EXAMPLE_SCHOOLS, "00" * 32)  # type: ignore[arg-type]


def test_empty_list_gives_empty_allocation():
    assert allocate([], bytes(32)) == []


def test_each_school_is_equally_likely_to_get_either_arm():
    # Five schools in one stratum over 4,000 seeds: each school's share of "intervention" is
    # 2.5/5 = 0.5 in expectation; 0.04 is about five standard deviations.
    schools = [{"urn": urn, "stratum": "s"} for urn in range(1, 6)]
    counts: Counter[int] = Counter()
    runs = 4000
    for k in range(runs):
        seed = hashlib.sha256(k.to_bytes(4, "big")).digest()
        counts.update(a["urn"] for a in allocate(schools, seed) if a["arm"] == "intervention")
    for urn in range(1, 6):
        assert abs(counts[urn] / runs - 0.5) < 0.04, (urn, counts[urn])


STRATA = st.one_of(st.sampled_from(["A", "B", "C", "Nörth", "ζ", "", "a|1"]), st.text(max_size=3))
SCHOOL_LISTS = st.lists(
    st.tuples(st.integers(min_value=1, max_value=10**7), STRATA),
    min_size=1,
    max_size=60,
    unique_by=lambda pair: pair[0],
).map(lambda pairs: [{"urn": urn, "stratum": stratum} for urn, stratum in pairs])
SEEDS = st.binary(min_size=32, max_size=32)


@given(schools=SCHOOL_LISTS, seed=SEEDS)
def test_every_stratum_is_balanced_and_every_school_gets_one_arm(schools, seed):
    allocation = allocate(schools, seed)
    assert [a["urn"] for a in allocation] == sorted(s["urn"] for s in schools)
    assert all(set(a) == {"urn", "arm"} for a in allocation)
    assert {a["arm"] for a in allocation} <= {"intervention", "control"}
    arm = {a["urn"]: a["arm"] for a in allocation}
    per_stratum: dict[str, Counter[str]] = {}
    for school in schools:
        per_stratum.setdefault(school["stratum"], Counter())[arm[school["urn"]]] += 1
    for counts in per_stratum.values():
        assert abs(counts["intervention"] - counts["control"]) <= 1


@given(schools=SCHOOL_LISTS, seed=SEEDS, shuffler=st.randoms(use_true_random=False))
def test_same_seed_and_list_give_the_same_allocation_in_any_input_order(schools, seed, shuffler):
    first = allocate(schools, seed)
    shuffled = list(schools)
    shuffler.shuffle(shuffled)
    assert allocate(shuffled, seed) == first
    assert allocate(freeze_schools(shuffled), seed) == first
    assert freeze_schools(shuffled) == freeze_schools(schools)


@given(schools=SCHOOL_LISTS, seed=SEEDS)
def test_matches_a_plain_transcription_of_the_specification(schools, seed):
    assert allocate(schools, seed) == reference_allocate(schools, seed)


LARGE_LIST = [{"urn": 100000 + i, "stratum": f"stratum {i % 5}"} for i in range(200)]


@settings(max_examples=50)
@given(first=SEEDS, second=SEEDS)
def test_a_different_seed_gives_a_different_allocation_for_a_large_list(first, second):
    assume(first != second)
    assert allocate(LARGE_LIST, first) != allocate(LARGE_LIST, second)


# The three-entry example log of docs/randomisation.md.
DOC_EXAMPLE_HASHES = [
    "69bea49069b9f88fd15bf0af5133274a485b26233f78b440459a7b821838ddfb",
    "81894cdb0bde74b115f153f936cb355e681947be4207b83949fe903f719bf90c",
    "cdd1632989c17c476e38f205e9cd521bcc24e41f8f930d3066a8230e9c1dd3e4",
]
DOC_EXAMPLE_ROOT = "60600a5f2261296b731bfad71a8d82b9c01760541b50a028e28125b2d5fc17f3"


def test_the_documented_example_log():
    frozen = run_frozen_payload("example-run-1", ["region"], EXAMPLE_SCHOOLS)
    executed = run_executed_payload(
        "example-run-1", frozen["schools"], EXAMPLE_SEED, EXAMPLE_WITNESS
    )
    steps = [
        (
            "2025-03-01T09:00:00Z",
            "scheme.created",
            {"scheme_id": "example", "name": "Worked example"},
        ),
        ("2025-03-01T09:05:00Z", "run.frozen", frozen),
        ("2025-03-01T09:10:00.250Z", "run.executed", executed),
    ]
    entries: list[dict] = []
    for index, (moment, entry_type, payload) in enumerate(steps):
        entries.append(
            make_entry(
                index=index,
                prev_hash=entries[-1]["entry_hash"] if entries else GENESIS_PREV_HASH,
                timestamp=moment,
                actor="user:trial-manager",
                entry_type=entry_type,
                payload=payload,
            )
        )
    assert [e["entry_hash"] for e in entries] == DOC_EXAMPLE_HASHES
    assert merkle_root([entry_leaf_hash(e) for e in entries]).hex() == DOC_EXAMPLE_ROOT
    docs = (Path(__file__).resolve().parents[3] / "docs" / "randomisation.md").read_text(
        encoding="utf-8"
    )
    for entry in entries:
        assert entry_line(entry).decode() in docs
    report = verify_log([entry_line(e) + b"\n" for e in entries], None)
    assert report.ok and report.runs_rederived == 1 and report.root_hash == DOC_EXAMPLE_ROOT
