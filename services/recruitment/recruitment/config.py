"""Settings of the recruitment service: every variable is read with the `RECRUITMENT_` prefix."""

from datetime import date

from rlc_shared.config import ServiceSettings, settings_config


class Settings(ServiceSettings):
    model_config = settings_config("RECRUITMENT_")

    service_name: str = "recruitment"
    port: int = 8001

    # The trial's dates (the LA information sheet and the September 2021 webinar).
    #: Expressions of interest received after this day are refused unless a trial manager overrides.
    eoi_deadline: date = date(2021, 6, 25)
    #: Schools' signed consent forms were due on this day ("Friday, 24th September").
    consent_deadline: date = date(2021, 9, 24)
    #: Teachers can withdraw "at any time up until the end of May 2022".
    teacher_withdrawal_cutoff: date = date(2022, 5, 31)
    #: A school waiting longer than this at one stage is reported as stuck by the funnel.
    stuck_after_days: int = 14

    #: The randomisation service's public keys: a school's arm is recorded only from an
    #: allocation statement signed by one of them (the file wins when set; tests use it).
    randomisation_jwks_url: str = "http://127.0.0.1:8002/.well-known/jwks.json"
    randomisation_jwks_file: str | None = None

    #: GIAS rows compared and written per batch; bounds memory and the size of each statement.
    gias_batch_size: int = 1000
    #: How many rejected rows an import record keeps (all are counted).
    import_rejections_kept: int = 200
