"""Settings of the analytics service: every variable is read with the `ANALYTICS_` prefix."""

from rlc_shared.config import ServiceSettings, settings_config


class Settings(ServiceSettings):
    model_config = settings_config("ANALYTICS_")

    service_name: str = "analytics"
    port: int = 8005

    #: Where the other services answer; every analysis snapshot is pulled from them over HTTP.
    recruitment_url: str = "http://127.0.0.1:8001"
    randomisation_url: str = "http://127.0.0.1:8002"
    surveys_url: str = "http://127.0.0.1:8003"
    workshops_url: str = "http://127.0.0.1:8004"
    #: Page size asked of the other services when pulling a snapshot.
    upstream_page_size: int = 500

    #: The analysis worker: whether it runs in this process, and how often it looks for work.
    analysis_worker_enabled: bool = True
    analysis_interval_seconds: float = 2.0
    #: A running analysis whose worker has not reported for this long is taken over (the worker
    #: died): it starts again from its stored snapshot.
    analysis_stale_after_seconds: float = 300.0
    #: Attempts before an analysis that keeps failing is reported as failed.
    analysis_max_attempts: int = 3

    #: Pupil outcome files are read in chunks of this many rows (bounded memory).
    outcomes_chunk_rows: int = 50_000
    #: How many examples an outcome import keeps per kind of problem (all are counted).
    outcomes_examples_kept: int = 10
