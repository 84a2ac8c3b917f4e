"""Benchmark: verify a 100,000-entry log offline with the CLI, in a subprocess (target < 10 s)."""

import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SERVICE_DIR = Path(__file__).resolve().parents[1] / "services" / "randomisation"
# Use the source tree when the package is not installed.
if importlib.util.find_spec("randomisation") is None:
    sys.path.insert(0, str(SERVICE_DIR))
from randomisation.verifier import (  # noqa: E402
    GENESIS_PREV_HASH,
    MerkleAccumulator,
    checkpoint_payload,
    entry_line,
    leaf_hash,
    make_entry,
    public_jwk_from_pem,
    run_executed_payload,
    run_frozen_payload,
    sign_checkpoint,
)

ENTRIES = 100_000
RUNS = 10  # each: run.created, run.frozen, notification.acknowledged, run.executed
SCHOOLS_PER_RUN = 2_000
CHECKPOINTS = (25_000, 50_000, 75_000, ENTRIES)
TARGET_SECONDS = 10.0
KID = "bench-2025"


def build_log(path: Path, private_pem: bytes) -> list[str]:
    """Write a valid log to ``path``; return checkpoints signed over it."""
    rng = random.Random(100_000)
    start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    run_at = {ENTRIES * (k + 1) // (RUNS + 1): k for k in range(RUNS)}
    pending: list[tuple[str, dict]] = []
    tree = MerkleAccumulator()
    tokens: list[str] = []
    prev = GENESIS_PREV_HASH
    with path.open("wb") as out:
        for index in range(ENTRIES):
            if index in run_at:
                k = run_at[index]
                run_id = f"run-{k:02d}"
                schools = [
                    {"urn": 100_000 + k * SCHOOLS_PER_RUN + i, "stratum": f"r{i % 9};p{i % 2}"}
                    for i in range(SCHOOLS_PER_RUN)
                ]
                frozen = run_frozen_payload(run_id, ["region", "phase"], schools)
                executed = run_executed_payload(run_id, frozen["schools"], rng.randbytes(32), None)
                pending = [
                    ("run.created", {"run_id": run_id, "scheme_id": "main"}),
                    ("run.frozen", frozen),
                    ("notification.acknowledged", {"run_id": run_id, "by": "statistician"}),
                    ("run.executed", executed),
                ]
            filler = False
            if pending:
                entry_type, payload = pending.pop(0)
            elif index == 0:
                entry_type, payload = "scheme.created", {"scheme_id": "main", "name": "RLC"}
            else:
                filler = True
                entry_type = "notification.acknowledged"
                payload = {"notification_id": f"n-{index}", "school_urn": 100_000 + index % 9_000}
            entry = make_entry(
                index=index,
                prev_hash=prev,
                timestamp=(start + timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                actor=f"user:{index % 17}",
                entry_type=entry_type,
                payload=payload,
                test=filler and index % 1000 == 999,  # a sprinkling of test-mode entries
            )
            prev = entry["entry_hash"]
            line = entry_line(entry)
            out.write(line + b"\n")
            tree.append(leaf_hash(line))
            if tree.size in CHECKPOINTS:
                stamp = (start + timedelta(seconds=index, milliseconds=500)).strftime(
                    "%Y-%m-%dT%H:%M:%S.%fZ"
                )
                payload = checkpoint_payload(tree.size, tree.root(), stamp)
                tokens.append(sign_checkpoint(payload, private_pem, KID))
    return tokens


def main() -> int:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log = folder / "log.jsonl"
        tokens = build_log(log, private_pem)
        (folder / "jwks.json").write_text(
            json.dumps({"keys": [public_jwk_from_pem(public_pem, KID)]})
        )
        (folder / "checkpoints.jsonl").write_text(
            "".join(json.dumps({"checkpoint": token}) + "\n" for token in tokens)
        )
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SERVICE_DIR), env.get("PYTHONPATH")]))
        command = [
            sys.executable,
            "-m",
            "randomisation.verifier",
            str(log),
            "--jwks",
            str(folder / "jwks.json"),
            "--checkpoint",
            str(folder / "checkpoints.jsonl"),
        ]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        elapsed = time.perf_counter() - started
        size_mb = log.stat().st_size / 1e6

    verdict = result.stdout.splitlines()[0] if result.stdout else result.stderr.strip()
    print(f"  {verdict}")
    print(
        f"verify {ENTRIES}-entry log offline: {elapsed:.2f} s "
        f"({size_mb:.0f} MB, {len(tokens)} checkpoints; target < {TARGET_SECONDS:g} s)"
    )
    expected = (
        f"OK: {ENTRIES} entries, chain intact, {len(tokens)} checkpoints verified, {RUNS} runs"
    )
    if result.returncode != 0 or not verdict.startswith(expected):
        print("verification did not succeed:\n" + result.stdout + result.stderr, file=sys.stderr)
        return 1
    return 0 if elapsed < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
