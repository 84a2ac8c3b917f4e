"""Benchmark: freeze and execute a 20,000-school, 150-stratum run through the randomisation
service's own code path (the database writes, the log entries, the outbox), not just the
algorithm. SQLite in a temporary folder, or the database in RLC_BENCH_DATABASE_URL (migrated
first). Prints the seconds of each step; exits non-zero over the target."""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import Session, func, select

from randomisation.models import Allocation, LogEntry, Notification
from randomisation.runs import service as runs
from randomisation.schemas import SchemeCreate
from rlc_cli import services
from rlc_shared.auth import Principal
from rlc_shared.db import make_engine
from rlc_shared.migrations import upgrade

SCHOOLS, STRATA = 20_000, 150
TARGET_SECONDS = 5.0  # freeze + execute, end to end in the service
TM = Principal(sub="bench-trial-manager", roles=frozenset({"trial_manager"}))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("RLC_BENCH_DATABASE_URL") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(services.get("randomisation").directory, url)
        engine = make_engine(url)
        rng = random.Random(2021)
        items = [
            {"urn": 100000 + i, "la_code": f"{800 + rng.randrange(STRATA)}", "name": f"S{i}"}
            for i in range(SCHOOLS)
        ]
        with Session(engine) as session:
            scheme = runs.create_scheme(session, data=SchemeCreate(name="bench"), actor=TM)
            run = runs.create_run(session, scheme=scheme, label="main", actor=TM)
            session.commit()
            run_id = run.id
        started = time.perf_counter()
        with Session(engine) as session:
            runs.freeze_run(session, run_id=run_id, items=items, actor=TM)
            session.commit()
        frozen = time.perf_counter()
        with Session(engine) as session:
            runs.execute_run(session, run_id=run_id, witness="bench", actor=TM)
            session.commit()
        executed = time.perf_counter()
        with Session(engine) as session:
            allocations = session.exec(select(func.count()).select_from(Allocation)).one()
            outbox = session.exec(select(func.count()).select_from(Notification)).one()
            entries = session.exec(select(func.count()).select_from(LogEntry)).one()
        engine.dispose()
    total = executed - started
    print(
        f"randomisation service, {SCHOOLS} schools / {STRATA} strata ({engine.dialect.name}): "
        f"freeze {frozen - started:.2f} s, execute {executed - frozen:.2f} s, total {total:.2f} s "
        f"(target < {TARGET_SECONDS:.0f} s); {allocations} allocations, {outbox} queued "
        f"notifications, {entries} log entries"
    )
    ok = total < TARGET_SECONDS and allocations == SCHOOLS == outbox
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
