"""Tables of the analytics service, on its own metadata.

Pupil-level data never sits in these tables: an outcome file is kept in object storage (the raw
upload and its validated, normalised copy, each with its SHA-256), and a table row only names it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from rlc_shared.audit import AuditEventFields, utcnow
from rlc_shared.db import service_registry


class ServiceModel(SQLModel, registry=service_registry()):
    """The base of this service's tables, on its own metadata."""


class AuditEvent(AuditEventFields, ServiceModel, table=True):
    __tablename__ = "audit_event"


class PlanStatus(StrEnum):
    draft = "draft"
    frozen = "frozen"


class AnalysisStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class AnalysisPlan(ServiceModel, table=True):
    """A version of the statistical analysis plan: a draft until the evaluator freezes it.

    A frozen plan never changes; a later plan is a new version, and every version stays visible.
    """

    __tablename__ = "analysis_plan"

    version: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=PlanStatus.draft, max_length=20, index=True)
    #: The plan itself (outcomes, covariates, subgroups, compliance rule, effect size), as sent.
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    #: SHA-256 of the content's canonical JSON: two versions saying the same thing compare equal.
    fingerprint: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=200)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    frozen_at: dt.datetime | None = None
    frozen_by: str | None = Field(default=None, max_length=200)


class OutcomeImport(ServiceModel, table=True):
    """One pupil outcomes file: where it is stored, and what its validation found."""

    __tablename__ = "outcome_import"

    id: int | None = Field(default=None, primary_key=True)
    plan_version: int = Field(foreign_key="analysis_plan.version", index=True)
    file_name: str = Field(max_length=255)
    format: str = Field(max_length=20)
    sha256: str = Field(max_length=64, index=True)
    size_bytes: int
    raw_key: str = Field(max_length=300)
    #: The validated rows as Parquet (every row kept, each problem marked): what analyses read.
    normalised_key: str = Field(max_length=300)
    normalised_sha256: str = Field(max_length=64)
    imported_at: dt.datetime = Field(default_factory=utcnow, index=True)
    imported_by: str = Field(max_length=200)
    rows: int
    #: Rows an analysis can use (no problem that excludes the pupil).
    usable_rows: int
    #: Per kind of problem: its count, what it means for the analysis, and a few examples.
    problems: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    #: Column summaries: which optional columns were present, scores given and missing.
    summary: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class Snapshot(ServiceModel, table=True):
    """Every input of one analysis, as pulled from the other services, stored with its SHA-256."""

    __tablename__ = "snapshot"

    id: str = Field(primary_key=True, max_length=40)
    taken_at: dt.datetime = Field(default_factory=utcnow)
    storage_key: str = Field(max_length=300)
    #: SHA-256 of the stored bytes (gzip of the canonical JSON): download and compare.
    sha256: str = Field(max_length=64, index=True)
    size_bytes: int
    plan_version: int = Field(foreign_key="analysis_plan.version")
    outcome_import_id: int | None = Field(default=None, foreign_key="outcome_import.id")
    #: Per input: present or missing (and why), with its count.
    inputs: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class Analysis(ServiceModel, table=True):
    """One analysis job: queued, running (with its progress), then done or failed."""

    __tablename__ = "analysis"

    id: str = Field(primary_key=True, max_length=40)
    status: str = Field(default=AnalysisStatus.queued, max_length=20, index=True)
    stage: str = Field(default="queued", max_length=200)
    progress: int = Field(default=0)
    plan_version: int = Field(foreign_key="analysis_plan.version", index=True)
    outcome_import_id: int | None = Field(default=None, foreign_key="outcome_import.id")
    snapshot_id: str | None = Field(default=None, foreign_key="snapshot.id", max_length=40)
    requested_at: dt.datetime = Field(default_factory=utcnow, index=True)
    requested_by: str = Field(max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
    started_at: dt.datetime | None = None
    heartbeat_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    attempts: int = Field(default=0)
    error: str | None = Field(default=None, max_length=2000)
    #: Stored outputs: name → {"key", "sha256", "content_type", "size"}.
    artefacts: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    #: When done: the missing inputs, counts of warnings and of results not estimated.
    summary: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
