"""The other services' clients, built once at start-up from the settings and closed on shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from analytics.config import Settings
from rlc_clients import RandomisationClient, RecruitmentClient, SurveysClient, WorkshopsClient
from rlc_shared.http import ServiceClient, TokenProvider

Client = TypeVar("Client", bound=ServiceClient)


@dataclass
class Upstreams:
    recruitment: RecruitmentClient
    randomisation: RandomisationClient
    surveys: SurveysClient
    workshops: WorkshopsClient
    page_size: int = 500

    @classmethod
    def from_settings(cls, settings: Settings) -> Upstreams:
        tokens = TokenProvider.from_settings(settings)

        def make(kind: type[Client], url: str) -> Client:
            return kind(
                url,
                tokens=tokens,
                timeout=settings.outbound_timeout_seconds,
                retries=settings.outbound_retries,
            )

        return cls(
            recruitment=make(RecruitmentClient, settings.recruitment_url),
            randomisation=make(RandomisationClient, settings.randomisation_url),
            surveys=make(SurveysClient, settings.surveys_url),
            workshops=make(WorkshopsClient, settings.workshops_url),
            page_size=settings.upstream_page_size,
        )

    def close(self) -> None:
        for client in (self.recruitment, self.randomisation, self.surveys, self.workshops):
            client.close()
