"""The withdrawal check: teachers who withdraw in the recruitment service after their answers
were parsed are left out without anyone asking for it.

When an export is parsed, each respondent email is looked up among recruitment's staff records
(``POST /staff/by-emails``); the records it matched are kept per teacher (``teacher_staff``:
the teacher's pseudonym, a keyed hash of the record's id, the record's school). This service
keeps no respondent email, so it cannot ask by address again; instead, every
``SURVEYS_WITHDRAWAL_CHECK_INTERVAL_SECONDS`` a background thread reads, for each school with
such a record of a teacher not yet withdrawn, the school's staff (``GET
/schools/{urn}/staff``: one request per school, no email addresses in the answer), hashes the
ids of the records whose withdrawal covers questionnaires or data processing, and hands the
matching teachers to :func:`surveys.teachers.service.apply_staff_withdrawals` (one short
transaction: recorded, responses deleted, audited). No transaction is open during the
requests; recruitment unreachable: what was read so far is applied, the rest waits for the
next check.

Teachers named by a response id only (the codebook names no ``respondent_email_column``), or
whose address matched no staff record, cannot be checked: their withdrawal still needs
``POST /teachers/withdrawals``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from rlc_shared.db import transaction
from rlc_shared.errors import UpstreamError
from rlc_shared.worker import PeriodicWorker
from surveys.models import TeacherStaff, TeacherWithdrawal
from surveys.pseudonyms import Pseudonymiser
from surveys.teachers import service
from surveys.teachers.staff import StaffWithdrawal, withdrawal_of

__all__ = ["StaffDirectory", "WithdrawalCheck", "withdrawal_check_worker"]

log = logging.getLogger("surveys.withdrawals")


class StaffDirectory(Protocol):
    def staff(self, urn: int) -> list[dict[str, Any]]: ...


class WithdrawalCheck:
    """One check at a time (see the module's docstring); ``step`` is the worker's step."""

    def __init__(
        self,
        *,
        engine: Engine,
        directory: StaffDirectory,
        pseudonymiser: Pseudonymiser,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.engine = engine
        self.directory = directory
        self.pseudonymiser = pseudonymiser
        self.should_stop = should_stop

    def step(self) -> bool:
        self.run()
        return False  # a whole check was made: wait for the interval

    def run(self) -> service.Applied:
        """Ask recruitment about the teachers' staff records, then apply what it says."""
        found: dict[str, StaffWithdrawal] = {}
        pending = self._pending()
        asked = 0
        for urn, records in sorted(pending.items()):
            if self.should_stop():
                break
            try:
                members = self.directory.staff(urn)
            except UpstreamError as exc:
                if exc.extensions.get("upstream_status") == 404:
                    continue  # recruitment no longer knows the school: nothing to find there
                log.warning(
                    "withdrawal check: recruitment could not be asked (%s); %d of %d schools "
                    "checked, the rest at the next check",
                    exc.detail,
                    asked,
                    len(pending),
                )
                break
            asked += 1
            for member in members:
                withdrawal = withdrawal_of(member)
                if withdrawal is None or member.get("id") is None:
                    continue
                for key in records.get(self.pseudonymiser.staff_record(member["id"]), ()):
                    found.setdefault(key, withdrawal)
        with transaction(self.engine) as session:
            applied = service.apply_staff_withdrawals(session, found=found)
        if applied.teachers or applied.responses:
            log.info(
                "withdrawal check: %d school(s) asked, %d teacher(s) newly withdrawn, "
                "%d response(s) deleted",
                asked,
                applied.teachers,
                applied.responses,
            )
        return applied

    def _pending(self) -> dict[int, dict[str, set[str]]]:
        """Per school, the staff records (hashed ids) of teachers not yet withdrawn, each with
        the teachers (pseudonyms) whose email matched it."""
        pending: dict[int, dict[str, set[str]]] = {}
        with transaction(self.engine) as session:
            rows = session.exec(
                select(TeacherStaff.urn, TeacherStaff.staff_hash, TeacherStaff.teacher_key).where(
                    col(TeacherStaff.teacher_key).not_in(select(TeacherWithdrawal.teacher_key))
                )
            ).all()
        for urn, staff_hash, key in rows:
            pending.setdefault(urn, {}).setdefault(staff_hash, set()).add(key)
        return pending


def withdrawal_check_worker(
    *,
    engine: Engine,
    directory: StaffDirectory,
    pseudonymiser: Pseudonymiser,
    interval: float,
) -> tuple[PeriodicWorker, WithdrawalCheck]:
    """The check's thread (a check at start-up, then one per ``interval``) and the check."""
    worker: PeriodicWorker | None = None
    check = WithdrawalCheck(
        engine=engine,
        directory=directory,
        pseudonymiser=pseudonymiser,
        should_stop=lambda: worker is not None and worker.stopping,
    )
    worker = PeriodicWorker(name="surveys-withdrawal-check", step=check.step, interval=interval)
    return worker, check
