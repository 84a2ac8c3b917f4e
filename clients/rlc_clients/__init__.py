"""Typed clients for the services' public APIs, one module per service called.

A service that calls another builds the client in its lifespan from its settings
(``<SERVICE>_<OTHER>_URL`` and its service token) and passes it to its service functions. They
speak HTTP only: no service package is imported, so a service's image needs only this package
and the shared library to call the others.
"""

from rlc_clients.randomisation import RandomisationClient
from rlc_clients.recruitment import RecruitmentClient
from rlc_clients.surveys import SurveysClient
from rlc_clients.workshops import WorkshopsClient

__all__ = ["RandomisationClient", "RecruitmentClient", "SurveysClient", "WorkshopsClient"]
