"""Concurrent changes of one school are serialised by a row lock (PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text

from recruitment.config import Settings
from rlc_shared.db import make_engine
from rlc_testkit.recruitment import Api, assert_problem

URN = 100001


@pytest.mark.postgres_only
def test_a_change_waits_for_a_concurrent_one_and_sees_its_result(
    api: Api, settings: Settings
) -> None:
    api.school_at("consented", URN)
    engine = make_engine(settings.database_url)
    result: dict[str, Any] = {}

    def randomise() -> None:
        result["resp"] = api.randomised(URN, run_id="run-9", arm="control")

    try:
        with engine.connect() as conn:
            tx = conn.begin()
            # Another transaction is withdrawing the school and holds its row.
            conn.execute(text("SELECT urn FROM school WHERE urn = :u FOR UPDATE"), {"u": URN})
            worker = threading.Thread(target=randomise)
            worker.start()
            worker.join(timeout=1.0)
            assert worker.is_alive(), "the request should wait for the row lock"
            conn.execute(text("UPDATE school SET status = 'withdrawn' WHERE urn = :u"), {"u": URN})
            tx.commit()
        worker.join(timeout=30)
        assert not worker.is_alive()
    finally:
        engine.dispose()
    # Without the lock the request would have overwritten the withdrawal with "randomised".
    assert_problem(result["resp"], 409, "is 'withdrawn' and cannot become 'randomised'")
    assert api.get_school(URN)["status"] == "withdrawn"
