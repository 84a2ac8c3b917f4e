"""The codebook: which export columns hold what, and how the three outcome scales are scored.

It is part of the API (the ``codebook`` field of ``PUT /rounds/{round}``), so its field names
are a contract. ``canonical_json()`` and ``fingerprint()`` give one text and one hash per
meaning: putting the same codebook again changes nothing, and two rounds' versions compare.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from surveys.formats import SCHOOL_EMAIL_COLUMNS, ColumnWanted, MissingColumns, find_column

__all__ = [
    "SCALE_NAMES",
    "Codebook",
    "CodebookColumns",
    "Scale",
    "ScaleName",
    "answers_needed",
]

ScaleName = Literal["knowledge", "attitudes", "use"]
SCALE_NAMES: Final[tuple[ScaleName, ...]] = ("knowledge", "attitudes", "use")

# One line of text: a column name never holds a control character (nor can a database's text).
ColumnName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]


def _repeated(names: Sequence[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def answers_needed(*, items: int, min_answered: float) -> int:
    """ceil(min_answered x items), at least 1: the answers a scale score needs.

    A small tolerance keeps 0.7 x 10 = 7.000000000000001 from demanding 8.
    """
    return max(1, math.ceil(min_answered * items - 1e-9))


class Scale(BaseModel):
    """One outcome scale: its item columns, the answer range, and the reverse-worded items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: list[ColumnName] = Field(min_length=1, description="Export columns of the items.")
    min: int = Field(description="The lowest answer, e.g. 1 (strongly disagree).")
    max: int = Field(description="The highest answer, e.g. 5 (strongly agree).")
    reverse: list[ColumnName] = Field(
        default_factory=list, description="Items scored as min + max - answer."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if repeated := _repeated(self.items):
            raise ValueError(f"items are listed more than once: {', '.join(repeated)}")
        if repeated := _repeated(self.reverse):
            raise ValueError(f"reverse lists items more than once: {', '.join(repeated)}")
        if strays := [r for r in self.reverse if r not in self.items]:
            raise ValueError(f"reverse names columns that are not items: {', '.join(strays)}")
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be less than max ({self.max})")
        # One canonical order (the items'), so the same meaning has one fingerprint.
        object.__setattr__(self, "reverse", [i for i in self.items if i in self.reverse])
        return self

    def needed(self, min_answered: float) -> int:
        """How many of this scale's items must be answered for a score."""
        return answers_needed(items=len(self.items), min_answered=min_answered)


@dataclass(frozen=True, slots=True)
class CodebookColumns:
    """The export's actual column for each column the codebook names (see ``resolve``)."""

    email: str
    respondent_id: str
    role: str
    respondent_email: str | None
    items: dict[str, str]  # codebook item -> export column


class Codebook(BaseModel):
    """How to read and score one round's export.

    ``email_column`` is the school's GIAS email, which links a response to a trial school;
    omitted, the columns ``RecipientEmail``, ``school_email`` and ``email`` are tried in that
    order. ``min_answered`` is the share of a scale's items that must be answered for it to be
    scored.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "email_column": "RecipientEmail",
                    "respondent_id_column": "ResponseId",
                    "role_column": "Q2_role",
                    "scales": {
                        "knowledge": {"items": ["K1", "K2", "K3"], "min": 1, "max": 5},
                        "attitudes": {
                            "items": ["A1", "A2", "A3", "A4"],
                            "min": 1,
                            "max": 5,
                            "reverse": ["A3"],
                        },
                        "use": {"items": ["U1", "U2", "U3"], "min": 1, "max": 5},
                    },
                    "min_answered": 0.8,
                }
            ]
        },
    )

    email_column: ColumnName | None = None
    respondent_id_column: ColumnName
    role_column: ColumnName
    respondent_email_column: ColumnName | None = None
    scales: dict[ScaleName, Scale] = Field(min_length=1)
    min_answered: float = Field(default=0.8, gt=0, le=1)

    @model_validator(mode="after")
    def _items_are_distinct(self) -> Self:
        items = [item for scale in self.scales.values() for item in scale.items]
        if repeated := _repeated(items):
            raise ValueError(f"items belong to more than one scale: {', '.join(repeated)}")
        named = {
            self.email_column,
            self.respondent_id_column,
            self.role_column,
            self.respondent_email_column,
        }
        if clash := sorted(set(items) & named):
            raise ValueError(f"items are also the email, id or role column: {', '.join(clash)}")
        return self

    # -- columns -------------------------------------------------------------------------------

    def email_columns(self) -> tuple[str, ...]:
        """The school email column, or the default alternatives in order of preference."""
        return (self.email_column,) if self.email_column else SCHOOL_EMAIL_COLUMNS

    def item_columns(self) -> list[str]:
        return [item for scale in self.scales.values() for item in scale.items]

    def required_columns(self) -> list[ColumnWanted]:
        """What ``read_export(required_columns=...)`` should insist on."""
        wanted: list[ColumnWanted] = [
            self.email_columns(),
            self.respondent_id_column,
            self.role_column,
        ]
        if self.respondent_email_column:
            wanted.append(self.respondent_email_column)
        return wanted + list(self.item_columns())

    def label_columns(self) -> list[ColumnWanted]:
        """Columns read as text (SPSS value labels applied): the role, which is a category."""
        return [self.role_column]

    def resolve(self, columns: Sequence[str]) -> CodebookColumns:
        """Match the codebook's names to an export's columns (exactly, then ignoring case and
        spaces); raise ``MissingColumns`` naming every one that is absent."""
        matched: dict[str | tuple[str, ...], str] = {}
        missing: list[ColumnWanted] = []
        for wanted in self.required_columns():
            key = wanted if isinstance(wanted, str) else tuple(wanted)
            column = find_column(columns, wanted)
            if column is None:
                missing.append(wanted)
            else:
                matched[key] = column
        if missing:
            raise MissingColumns(missing=missing, found=list(columns))
        return CodebookColumns(
            email=matched[self.email_columns()],
            respondent_id=matched[self.respondent_id_column],
            role=matched[self.role_column],
            respondent_email=(
                matched[self.respondent_email_column] if self.respondent_email_column else None
            ),
            items={item: matched[item] for item in self.item_columns()},
        )

    # -- identity ------------------------------------------------------------------------------

    def canonical_json(self) -> str:
        """The codebook as JSON with sorted keys and no spaces: equal meanings, equal text."""
        return json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON, as 64 hex digits."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()
