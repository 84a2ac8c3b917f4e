"""Background work in a service process: a thread that runs one step at a time until stopped,
and the claim that lets several workers (processes or threads) share a queue table.

A step returns True when it found work (run it again at once) and False when there was none
(wait ``interval`` seconds). A step that raises is logged and retried after the interval: the
worker outlives any one failure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

log = logging.getLogger("rlc.worker")


class PeriodicWorker:
    def __init__(self, *, name: str, step: Callable[[], bool], interval: float) -> None:
        self.name = name
        self._step = step
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            busy = False
            try:
                busy = self._step()
            except Exception:  # noqa: BLE001 - the worker must outlive any one failure
                log.exception("%s: a step failed; retrying after the interval", self.name)
            if not busy:
                self._stop.wait(self._interval)


def claimable(session: Session, statement: Any) -> Any:
    """``statement`` locking the rows it returns so that no other worker claims them too.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` (several workers take different rows at once). SQLite
    has a single writer: the claiming transaction's write serialises workers anyway.
    """
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement
