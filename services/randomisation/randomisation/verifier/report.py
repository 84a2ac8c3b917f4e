"""What a verification found: located problems and the report the CLI prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .tree import EMPTY_ROOT


@dataclass(frozen=True)
class Problem:
    """One failed check, located at a log entry, at a checkpoint, or at the log as a whole."""

    message: str
    index: int | None = None  # position of the entry in the log (0-based)
    entry_type: str | None = None
    checkpoint: int | None = None  # position of the checkpoint as given (0-based)

    def __str__(self) -> str:
        if self.index is not None:
            where = f"entry {self.index}"
            if self.entry_type is not None:
                where += f" ({self.entry_type})"
        elif self.checkpoint is not None:
            where = f"checkpoint {self.checkpoint + 1}"
        else:
            where = "log"
        return f"{where}: {self.message}"


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 entry``, ``2 entries``: the count with the noun agreeing."""
    return f"{count} {noun if count == 1 else (plural_noun or noun + 's')}"


@dataclass
class Report:
    """The outcome of verifying a log: counts, the final root, and every problem found."""

    entries: int = 0
    root_hash: str = EMPTY_ROOT.hex()
    checkpoints: int = 0
    checkpoints_verified: int = 0
    runs_rederived: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def verdict(self) -> str:
        """One line: ``OK: ...`` or ``FAIL: ...``."""
        if self.ok:
            return (
                f"OK: {plural(self.entries, 'entry', 'entries')}, chain intact, "
                f"{plural(self.checkpoints_verified, 'checkpoint')} verified, "
                f"{plural(self.runs_rederived, 'run')} re-derived"
            )
        return (
            f"FAIL: {plural(len(self.problems), 'problem')} in "
            f"{plural(self.entries, 'entry', 'entries')} "
            f"({self.checkpoints_verified} of {plural(self.checkpoints, 'checkpoint')} verified, "
            f"{plural(self.runs_rederived, 'run')} re-derived)"
        )

    def render(self, max_problems: int = 0) -> str:
        """The verdict, then one line per problem (all of them when ``max_problems`` is 0)."""
        lines = [self.verdict()]
        shown = self.problems if max_problems <= 0 else self.problems[:max_problems]
        lines.extend(f"  {problem}" for problem in shown)
        if len(shown) < len(self.problems):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        lines.append(f"log root: {self.root_hash} (tree_size {self.entries})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "root_hash": self.root_hash,
            "checkpoints": self.checkpoints,
            "checkpoints_verified": self.checkpoints_verified,
            "runs_rederived": self.runs_rederived,
            "problems": [
                {
                    "index": p.index,
                    "type": p.entry_type,
                    "checkpoint": p.checkpoint,
                    "message": p.message,
                }
                for p in self.problems
            ],
        }
