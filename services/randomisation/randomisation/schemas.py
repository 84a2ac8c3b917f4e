"""Request and response models of the randomisation service."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from randomisation import verifier
from rlc_shared.limits import StrictModel
from rlc_shared.types import Bool

ARMS = [verifier.ARM_CONTROL, verifier.ARM_INTERVENTION]


class SchemeCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    arms: list[str] = Field(default_factory=lambda: list(ARMS))
    ratio: str = "1:1"
    strata_attributes: list[str] = Field(default_factory=lambda: ["la_code"], max_length=5)
    algorithm: Literal["stratified-balanced-v1"] = "stratified-balanced-v1"
    test: Bool = False

    @field_validator("arms")
    @classmethod
    def _two_arms(cls, arms: list[str]) -> list[str]:
        if sorted(arms) != ARMS:
            raise ValueError('arms must be ["control", "intervention"]')
        return ARMS

    @field_validator("ratio")
    @classmethod
    def _one_to_one(cls, ratio: str) -> str:
        if ratio.replace(" ", "") != "1:1":
            raise ValueError("only 1:1 allocation is supported by stratified-balanced-v1")
        return "1:1"

    @field_validator("strata_attributes")
    @classmethod
    def _attributes(cls, names: list[str]) -> list[str]:
        if not names:
            raise ValueError("at least one stratification attribute is needed")
        if len(set(names)) != len(names):
            raise ValueError("stratification attributes must not repeat")
        for name in names:
            if not name or len(name) > 60 or not name.replace("_", "").isalnum():
                raise ValueError(f"{name!r} is not an attribute name")
        return names


class SchemePublic(BaseModel):
    id: str
    name: str
    arms: list[str]
    ratio: str
    strata_attributes: list[str]
    algorithm: str
    test: bool
    created_at: dt.datetime
    created_by: str


class RunCreate(StrictModel):
    label: str = Field(default="main", min_length=1, max_length=200)


class NotificationCounts(BaseModel):
    pending: int = 0
    acknowledged: int = 0
    refused: int = 0


class RunPublic(BaseModel):
    id: str
    scheme_id: str
    label: str
    test: bool
    status: str
    created_at: dt.datetime
    created_by: str
    frozen_at: dt.datetime | None
    frozen_entry_index: int | None
    school_count: int | None
    list_sha256: str | None
    executed_at: dt.datetime | None
    executed_entry_index: int | None
    abandoned_at: dt.datetime | None
    abandon_reason: str | None
    notifications: NotificationCounts | None = None


class ExecuteRequest(StrictModel):
    witness: str | None = Field(default=None, max_length=1000)


class ReasonRequest(StrictModel):
    reason: str = Field(min_length=1, max_length=2000)


class AllocationPublic(BaseModel):
    urn: int
    arm: str
    run_id: str
    stratum: str
    la_code: str | None
    test: bool
    allocated_at: dt.datetime
    in_error: bool
    in_error_reason: str | None
    in_error_at: dt.datetime | None


class DrainResult(BaseModel):
    attempted: int
    acknowledged: int
    refused: int
    failed: int


class CheckpointPublic(BaseModel):
    checkpoint: str
    tree_size: int
    root_hash: str
    timestamp: str
    kid: str


class InclusionProof(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    proof: list[str]


class ConsistencyProof(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


class VerifyProblem(BaseModel):
    index: int | None
    type: str | None
    checkpoint: int | None
    message: str


class VerifyReport(BaseModel):
    ok: bool
    entries: int
    root_hash: str
    runs_rederived: int
    problems: list[VerifyProblem]


LogEntryPublic = dict[str, Any]
