"""Offline verifier for the RLC Trial randomisation log.

This package is the single implementation of everything an outside auditor needs to re-check the
randomisation of the RLC trial: canonical JSON, the hash-chained log, the RFC 6962 Merkle tree and
its proofs, signed checkpoints, and the allocation algorithm ``stratified-balanced-v1``.  The
randomisation service imports the same functions, so what the service writes and what an auditor
checks cannot drift apart.  The specification is ``docs/randomisation.md``.

It deliberately depends on nothing but the Python standard library and python-jose, and its
modules import one another only relatively, so the folder can be copied out of the repository
and run on its own::

    python -m verifier LOG.jsonl --jwks JWKS.json [--checkpoint FILE]...   # beside the copy
    python -m randomisation.verifier LOG.jsonl --jwks JWKS.json [--checkpoint FILE]...

The modules, each importing only those before it:

- ``canonical``: canonical JSON, entries, ``entry_hash`` and the JSON type guards;
- ``tree``: RFC 6962 leaf and node hashes, roots, the compact range and proofs;
- ``allocation``: the frozen list, the effective seed, ``allocate`` and the run payloads;
- ``checkpoints``: signing and verifying checkpoints (the only user of python-jose);
- ``report``: ``Problem`` and ``Report``;
- ``runs``: ``RunLedger``, the checks on frozen and executed runs and on double allocation;
- ``log``: ``LogVerifier``, ``verify_log`` and ``verify_log_entries``;
- ``cli``: ``main``, the command line (exit 0 OK, 1 FAIL, 2 usage or input error).
"""

from .allocation import (
    ALGORITHM,
    ARM_CONTROL,
    ARM_INTERVENTION,
    LIVE_NAMESPACE,
    SEED_BYTES,
    allocate,
    allocation_namespace,
    effective_seed,
    freeze_schools,
    list_sha256,
    run_executed_payload,
    run_frozen_payload,
)
from .canonical import (
    GENESIS_PREV_HASH,
    CanonicalJSONError,
    canonical_json,
    compute_entry_hash,
    entry_line,
    is_rfc3339_utc,
    make_entry,
    seal_entry,
)
from .checkpoints import (
    CHECKPOINT_ALGORITHM,
    CheckpointError,
    checkpoint_payload,
    public_jwk_from_pem,
    read_checkpoint_file,
    sign_checkpoint,
    verify_checkpoint,
)
from .cli import main
from .log import LogVerifier, verify_log, verify_log_entries
from .report import Problem, Report
from .tree import (
    EMPTY_ROOT,
    MerkleAccumulator,
    consistency_proof,
    entry_leaf_hash,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    roots_at_sizes,
    verify_consistency,
    verify_inclusion,
)

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
