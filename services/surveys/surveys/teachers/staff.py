"""What the recruitment service's staff records say about a teacher's withdrawal (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["WITHDRAWN_FROM", "StaffWithdrawal", "withdrawal_of", "withdrawn"]

#: What a teacher's withdrawal must cover for their questionnaire answers to be left out.
WITHDRAWN_FROM = frozenset({"questionnaires", "data_processing", "all"})


@dataclass(frozen=True)
class StaffWithdrawal:
    """A staff record's withdrawal that covers the questionnaires."""

    withdrawn_on: str
    covers: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"Their staff record in the recruitment service says they withdrew from "
            f"{', '.join(self.covers)} on {self.withdrawn_on}."
        )


def withdrawal_of(record: dict[str, Any]) -> StaffWithdrawal | None:
    """The record's withdrawal if it leaves the teacher's questionnaire answers out, else None
    (not withdrawn, or withdrawn from something else only, such as case-study interviews)."""
    covers = record.get("withdrawal_covers") or []
    if isinstance(covers, str):  # "all" as the request said it (recruitment stores ["all"])
        covers = [covers]
    if not record.get("withdrawn_on") or not set(covers) & WITHDRAWN_FROM:
        return None
    return StaffWithdrawal(withdrawn_on=str(record["withdrawn_on"]), covers=tuple(sorted(covers)))


def withdrawn(records: Iterable[dict[str, Any]]) -> bool:
    """Whether any of a teacher's staff records (one address may hold several) withdrew them."""
    return any(withdrawal_of(record) is not None for record in records)
