"""Annotated dependencies: settings, storage, the other services' clients, the pseudonymiser,
and the path parameters' types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.engine import Engine

from rlc_clients import RecruitmentClient
from rlc_clients.randomisation import LiveAllocations
from rlc_shared.auth import CurrentPrincipal
from rlc_shared.db import SessionDep, Transactions, TransactionsDep
from rlc_shared.storage import ObjectStorage
from surveys.config import Settings
from surveys.exports.bucket import EvaluatorBucket
from surveys.models import RoundName
from surveys.pseudonyms import Pseudonymiser

__all__ = [
    "CurrentPrincipal",
    "EngineDep",
    "EvaluatorBucketDep",
    "PseudonymiserDep",
    "AllocationsDep",
    "ReadEngineDep",
    "ReadTransactionsDep",
    "RecruitmentDep",
    "RoundPath",
    "SessionDep",
    "SettingsDep",
    "StorageDep",
    "TransactionsDep",
]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_storage(request: Request) -> ObjectStorage:
    return request.app.state.storage


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_read_engine(request: Request) -> Engine:
    """The engine of reads: its SQLite transactions begin deferred, beside the worker's writes."""
    return request.app.state.read_engine


async def get_read_transactions(request: Request) -> Transactions:
    """Short read-only units of work, for reads that call another service in between."""
    return Transactions(request.app.state.read_engine)


async def get_recruitment(request: Request) -> RecruitmentClient:
    return request.app.state.recruitment


async def get_allocations(request: Request) -> LiveAllocations:
    return request.app.state.allocations


async def get_pseudonymiser(request: Request) -> Pseudonymiser:
    return request.app.state.pseudonymiser


async def get_evaluator_bucket(request: Request) -> EvaluatorBucket | None:
    return request.app.state.evaluator_bucket


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[ObjectStorage, Depends(get_storage)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ReadEngineDep = Annotated[Engine, Depends(get_read_engine)]
ReadTransactionsDep = Annotated[Transactions, Depends(get_read_transactions)]
RecruitmentDep = Annotated[RecruitmentClient, Depends(get_recruitment)]
AllocationsDep = Annotated[LiveAllocations, Depends(get_allocations)]
PseudonymiserDep = Annotated[Pseudonymiser, Depends(get_pseudonymiser)]
EvaluatorBucketDep = Annotated[EvaluatorBucket | None, Depends(get_evaluator_bucket)]
RoundPath = Annotated[RoundName, Path(description="the questionnaire round: pre or post")]
