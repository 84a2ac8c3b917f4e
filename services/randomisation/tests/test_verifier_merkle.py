"""RFC 6962 Merkle tree: published test vectors, proof round trips and tampered proofs."""

import hashlib

import pytest

from randomisation.verifier import (
    EMPTY_ROOT,
    MerkleAccumulator,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    roots_at_sizes,
    verify_consistency,
    verify_inclusion,
)

# The Certificate Transparency test vectors (google/certificate-transparency merkle_test.py,
# google/trillian merkle/log_verifier_test.go); these roots were checked against both.
VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
VECTOR_ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
# Trillian's inclusion vectors: (0-based leaf index, tree size, audit path).
VECTOR_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# Trillian's consistency vectors: (first, second, proof).
VECTOR_CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

VECTOR_HASHES = [leaf_hash(leaf) for leaf in VECTOR_LEAVES]
MAX_LEAVES = 40
LEAVES = [leaf_hash(f"leaf {i}".encode()) for i in range(MAX_LEAVES)]
ROOTS = [merkle_root(LEAVES[:n]) for n in range(MAX_LEAVES + 1)]
BOGUS = hashlib.sha256(b"bogus").digest()


def reference_root(hashes: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, transcribed literally (recursive split at the largest 2^k < n)."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_root(hashes[:k]), reference_root(hashes[k:]))


def test_hash_primitives_use_the_rfc_domain_separation():
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert EMPTY_ROOT.hex() == VECTOR_ROOTS[0]


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_published_vectors(size):
    assert merkle_root(VECTOR_HASHES[:size]).hex() == VECTOR_ROOTS[size]


def test_roots_at_sizes_matches_the_vectors_in_one_pass():
    roots = roots_at_sizes(iter(VECTOR_HASHES), range(9))
    assert {size: root.hex() for size, root in roots.items()} == VECTOR_ROOTS


def test_roots_at_sizes_stops_at_the_largest_size_and_rejects_too_large():
    consumed = []

    def leaves():
        for leaf in LEAVES:
            consumed.append(leaf)
            yield leaf

    assert roots_at_sizes(leaves(), [5, 3]) == {3: ROOTS[3], 5: ROOTS[5]}
    assert len(consumed) <= 6
    with pytest.raises(ValueError, match="exceeds"):
        roots_at_sizes(LEAVES[:4], [5])
    with pytest.raises(ValueError):
        roots_at_sizes(LEAVES, [-1])


def test_iterative_root_and_accumulator_agree_with_the_literal_recursion():
    accumulator = MerkleAccumulator()
    assert accumulator.root() == EMPTY_ROOT
    for n in range(1, MAX_LEAVES + 1):
        accumulator.append(LEAVES[n - 1])
        assert accumulator.size == n
        assert accumulator.root() == ROOTS[n] == reference_root(LEAVES[:n])
    assert roots_at_sizes(LEAVES, range(MAX_LEAVES + 1)) == dict(enumerate(ROOTS))


@pytest.mark.parametrize(("index", "size", "expected"), VECTOR_INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(index, size, expected):
    proof = inclusion_proof(VECTOR_HASHES, index, size)
    assert [node.hex() for node in proof] == expected
    root = bytes.fromhex(VECTOR_ROOTS[size])
    assert verify_inclusion(VECTOR_HASHES[index], index, size, proof, root)


@pytest.mark.parametrize(("first", "second", "expected"), VECTOR_CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(first, second, expected):
    proof = consistency_proof(VECTOR_HASHES, first, second)
    assert [node.hex() for node in proof] == expected
    first_root, second_root = (bytes.fromhex(VECTOR_ROOTS[s]) for s in (first, second))
    assert verify_consistency(first, second, first_root, second_root, proof)


def inclusion_tamperings(index, size, proof, root):
    """Variations of a valid inclusion proof, every one of which must be refused."""
    leaf = LEAVES[index]
    yield BOGUS, index, size, proof, root
    yield leaf, index, size, proof, BOGUS
    yield leaf, index, size, [*proof, BOGUS], root
    yield leaf, index, size, [*proof, root], root
    yield leaf, index, size, [BOGUS, *proof], root
    yield leaf, index, size * 2, proof, root
    for wrong in {index - 1, index + 1, index ^ 2} - {index}:
        if 0 <= wrong < size and LEAVES[wrong] != leaf:
            yield leaf, wrong, size, proof, root
    if proof:
        yield leaf, index, size, proof[:-1], root
        for position in range(len(proof)):
            changed = list(proof)
            changed[position] = BOGUS
            yield leaf, index, size, changed, root
        if size // 2 > index:
            yield leaf, index, size // 2, proof, root


def test_every_inclusion_proof_round_trips_and_tampering_fails():
    for size in range(1, MAX_LEAVES + 1):
        for index in range(size):
            proof = inclusion_proof(LEAVES, index, size)
            assert verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size]), (index, size)
            for args in inclusion_tamperings(index, size, proof, ROOTS[size]):
                assert not verify_inclusion(*args), (index, size, args[1:3])


def consistency_tamperings(first, second, proof):
    first_root, second_root = ROOTS[first], ROOTS[second]
    yield first, second, BOGUS, second_root, proof
    yield first, second, first_root, BOGUS, proof
    yield first, second, second_root, first_root, proof
    yield first, second, first_root, second_root, []
    yield first, second, first_root, second_root, [*proof, BOGUS]
    yield first, second, first_root, second_root, [*proof, first_root]
    yield first, second, first_root, second_root, [proof[0], *proof]
    yield first, second, first_root, second_root, [BOGUS, *proof]
    yield first, second, first_root, second_root, proof[:-1]
    for position in range(len(proof)):
        changed = list(proof)
        changed[position] = BOGUS
        yield first, second, first_root, second_root, changed
    for wrong_first in (first - 1, first + 1):
        if 0 < wrong_first < second:
            yield wrong_first, second, first_root, second_root, proof
    yield first, second * 2, first_root, second_root, proof


def test_every_consistency_proof_round_trips_and_tampering_fails():
    for second in range(1, MAX_LEAVES + 1):
        for first in range(0, second + 1):
            proof = consistency_proof(LEAVES, first, second)
            assert verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)
            if first in (0, second):
                assert proof == []
                continue
            for args in consistency_tamperings(first, second, proof):
                assert not verify_consistency(*args), (first, second, args[:2])


def test_degenerate_consistency_cases():
    assert verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    assert not verify_consistency(3, 3, ROOTS[3], ROOTS[4], [])
    assert not verify_consistency(3, 3, ROOTS[3], ROOTS[3], [ROOTS[3]])
    assert not verify_consistency(4, 3, ROOTS[4], ROOTS[3], [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [ROOTS[5]])
    assert not verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])


def test_invalid_inclusion_arguments():
    assert not verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(LEAVES[2], 2, 1, [], LEAVES[2])
    assert verify_inclusion(LEAVES[0], 0, 1, [], ROOTS[1])
    with pytest.raises(ValueError):
        inclusion_proof(LEAVES, 5, 5)
    with pytest.raises(ValueError):
        consistency_proof(LEAVES[:4], 2, 5)
