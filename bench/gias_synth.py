"""Write a synthetic GIAS establishment extract for the benchmarks and tests (the writer lives in
``rlc_cli.simulate.gias``, which the trial simulator uses too).

    python bench/gias_synth.py OUT.csv --rows 50000 --seed 1   # prints the stats as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from rlc_cli.simulate.gias import COLUMNS, SynthStats, write_extract

__all__ = ["COLUMNS", "SynthStats", "write_extract"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic GIAS extract.")
    # Optional because `make bench` runs every bench/*.py without arguments: then the file goes to
    # a temporary directory and only the stats and the time taken are reported.
    parser.add_argument("out", type=Path, nargs="?", help="where to write the CSV")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--malformed-every", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch) / "edubasealldata_synthetic.csv"
        started = time.perf_counter()
        stats = write_extract(out, args.rows, seed=args.seed, malformed_every=args.malformed_every)
        seconds = round(time.perf_counter() - started, 3)
    report = {k: v for k, v in asdict(stats).items() if k != "rejected_lines"}
    json.dump(report | {"out": str(args.out or "(temporary)"), "seconds": seconds}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
