"""The command line: ``python -m randomisation.verifier LOG.jsonl --jwks JWKS.json ...``.

Exit status: 0 when every check passes, 1 when any fails, 2 on a usage or input error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .checkpoints import read_checkpoint_file, unverified_payload
from .log import verify_log
from .report import Problem, Report

# The fields a checkpoint file may copy, unsigned, next to the signed token.
_COPIED_FIELDS = ("tree_size", "root_hash", "timestamp")


class _UsageError(Exception):
    """An argument or input file the verifier cannot start from (exit status 2)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        # Name the invocation the user typed: the package's own name, which is "verifier" when
        # the folder was copied out of the platform.
        prog=f"python -m {__package__}",
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
    return parser


def _read_jwks(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            jwks = json.load(handle)
    except (OSError, ValueError) as exc:
        raise _UsageError(f"cannot read the JWKS {path}: {exc}") from exc
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise _UsageError(f'{path} is not a JWKS ({{"keys": [...]}})')
    return jwks


def _read_checkpoints(paths: Sequence[str]) -> list[tuple[str, dict[str, Any] | None]]:
    """Every checkpoint of every file, in order: ``(compact JWS, unsigned copies or None)``."""
    found: list[tuple[str, dict[str, Any] | None]] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                found.extend(read_checkpoint_file(handle.read()))
        except (OSError, ValueError) as exc:
            raise _UsageError(f"cannot read the checkpoint file {path}: {exc}") from exc
    return found


def _verify_log_file(path: str, jwks: Mapping[str, Any], tokens: Sequence[str]) -> Report:
    try:
        with open(path, "rb") as log:
            return verify_log(log, jwks, tokens)
    except OSError as exc:
        raise _UsageError(f"cannot read the log {path}: {exc}") from exc


def _unsigned_copy_problems(
    position: int, token: str, extra: Mapping[str, Any] | None
) -> list[Problem]:
    """The file's unsigned copies must agree with the signed payload, or a reader is misled."""
    if not extra:
        return []
    signed = unverified_payload(token)
    if not isinstance(signed, dict):
        return []  # the signature check reports the malformed token
    return [
        Problem(
            f"the file's unsigned {name} {extra[name]!r} differs from the signed "
            f"{signed.get(name)!r}",
            checkpoint=position,
        )
        for name in _COPIED_FIELDS
        if name in extra and extra[name] != signed.get(name)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 OK, 1 FAIL, 2 usage error)."""
    args = _parser().parse_args(argv)
    try:
        jwks = _read_jwks(args.jwks)
        checkpoints = _read_checkpoints(args.checkpoint)
        report = _verify_log_file(args.log, jwks, [token for token, _ in checkpoints])
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for position, (token, extra) in enumerate(checkpoints):
        report.problems.extend(_unsigned_copy_problems(position, token, extra))

    print(report.render(args.max_problems))
    if report.ok and not checkpoints:
        print("note: no checkpoint given; the chain shows only that the log is self-consistent")
    return 0 if report.ok else 1
