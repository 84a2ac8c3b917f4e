"""Benchmark: import a full-size GIAS extract through the recruitment service's import code.

Writes a synthetic 50,000-row, 135-column latin-1 extract (bench/gias_synth.py), migrates a fresh
database (SQLite in a temp dir, or PostgreSQL at RLC_BENCH_DATABASE_URL), then imports the file in
a child process three times: the first import inserts every school, the second finds them all
unchanged, and a third (next month's extract, every open school now "proposed to close") updates
and audits most of them. Prints rows/second and the child's peak RSS, and exits 1 if an import
takes longer than the target or the peak RSS exceeds it.

    .venv/bin/python bench/gias_import.py [--rows 50000] [--max-seconds 20] [--max-rss-mb 300]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(database_url: str, path: Path) -> None:
    """One import, as the upload endpoint runs it: hash, parse, upsert in batches, commit."""
    from sqlmodel import Session

    from recruitment.config import Settings
    from recruitment.gias import service
    from rlc_shared.db import make_engine

    settings = Settings(database_url=database_url)
    engine = make_engine(database_url)
    started = time.perf_counter()
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    with path.open("rb") as stream, Session(engine) as session:
        record = service.import_establishments(
            session,
            stream=stream,
            file_name=path.name,
            sha256=digest.hexdigest(),
            size_bytes=size,
            actor="bench",
            batch_size=settings.gias_batch_size,
            keep_rejections=settings.import_rejections_kept,
        )
        session.commit()
        counts = {k: getattr(record, k) for k in ("inserted", "updated", "unchanged", "rejected")}
    seconds = time.perf_counter() - started
    engine.dispose()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    json.dump({"seconds": seconds, "peak_rss_mb": peak_kb / 1024, **counts}, sys.stdout)


def run_import(database_url: str, path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", database_url, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"the import failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--max-seconds", type=float, default=20.0)
    parser.add_argument("--max-rss-mb", type=float, default=300.0)
    parser.add_argument(
        "--child", nargs=2, metavar=("DATABASE_URL", "FILE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0

    sys.path.insert(0, str(HERE))
    from gias_synth import write_extract

    from rlc_cli import services
    from rlc_shared.migrations import upgrade

    with tempfile.TemporaryDirectory(prefix="rlc-bench-gias-") as tmp:
        database_url = os.environ.get("RLC_BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        backend = database_url.split(":", 1)[0]
        path = Path(tmp) / "edubasealldata20250101.csv"
        stats = write_extract(path, args.rows, seed=1)
        print(
            f"extract: {stats.rows:,} rows, {stats.bytes / 1e6:.1f} MB latin-1, "
            f"{stats.rejected} malformed rows; database: {backend}"
        )
        # Next month's extract: every open school "proposed to close" (an update + audit each).
        changed = Path(tmp) / "edubasealldata20250201.csv"
        with path.open("rb") as src, changed.open("wb") as dst:
            for line in src:
                dst.write(line.replace(b',"Open",', b',"Open, but proposed to close",', 1))
        upgrade(services.get("recruitment").directory, database_url)
        failed = False
        for label, extract in (
            ("first import", path),
            ("re-import", path),
            ("changed extract", changed),
        ):
            result = run_import(database_url, extract)
            rate = stats.rows / result["seconds"]
            print(
                f"{label}: {result['seconds']:.2f} s, {rate:,.0f} rows/s, "
                f"peak RSS {result['peak_rss_mb']:.0f} MB; inserted {result['inserted']:,}, "
                f"updated {result['updated']:,}, unchanged {result['unchanged']:,}, "
                f"rejected {result['rejected']:,}"
            )
            if result["rejected"] != stats.rejected:
                print(f"  expected {stats.rejected} rejected rows")
                failed = True
            if result["seconds"] > args.max_seconds:
                print(f"  over the {args.max_seconds:.0f} s target")
                failed = True
            if result["peak_rss_mb"] > args.max_rss_mb:
                print(f"  over the {args.max_rss_mb:.0f} MB peak RSS target")
                failed = True
        print("FAIL" if failed else "OK: within target")
        return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
