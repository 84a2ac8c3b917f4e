"""The five services: name, package, default port and environment prefix."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    purpose: str

    @property
    def package(self) -> str:
        return self.name

    @property
    def env_prefix(self) -> str:
        return self.name.upper() + "_"

    @property
    def app_factory(self) -> str:
        return f"{self.package}.main:create_app"

    @property
    def directory(self) -> Path:
        """The service's folder (holding alembic.ini and migrations/)."""
        module = importlib.import_module(self.package)
        return Path(module.__file__ or "").resolve().parent.parent

    def settings(self, **overrides: Any) -> Any:
        return importlib.import_module(f"{self.package}.config").Settings(**overrides)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("recruitment", 8001, "local authorities, schools, eligibility, consent, GIAS"),
    ServiceSpec("randomisation", 8002, "audited, concealed, reproducible allocation of schools"),
    ServiceSpec("surveys", 8003, "teacher questionnaire rounds and survey-export webhooks"),
    ServiceSpec("workshops", 8004, "sessions, attendance, observations, case studies, costs"),
    ServiceSpec("analytics", 8005, "CONSORT flow, balance, response, dosage, impact, CACE, cost"),
)
BY_NAME = {s.name: s for s in SERVICES}


def get(name: str) -> ServiceSpec:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown service {name!r}; one of: {', '.join(BY_NAME)}") from None
