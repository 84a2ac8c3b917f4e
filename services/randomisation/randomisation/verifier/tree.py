"""The RFC 6962 / RFC 9162 Merkle tree over the exported lines (docs/randomisation.md, section 4).

Leaves are the exact exported bytes of each entry; the functions here take and return raw
32-byte hashes, which callers hex-encode where the log or a checkpoint spells them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .canonical import canonical_json, is_int

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def entry_leaf_hash(entry: Mapping[str, Any]) -> bytes:
    """The Merkle leaf hash of a sealed entry: ``leaf_hash(entry_line(entry))``."""
    return leaf_hash(canonical_json(entry))


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
        if not is_int(size) or size < 0:
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


# --------------------------------------------------------------------------------------------
# Proofs
# --------------------------------------------------------------------------------------------


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
