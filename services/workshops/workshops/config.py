"""Settings of the workshops service: every variable is read with the `WORKSHOPS_` prefix."""

from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from rlc_shared.config import ServiceSettings, settings_config


class Settings(ServiceSettings):
    model_config = settings_config("WORKSHOPS_")

    service_name: str = "workshops"
    port: int = 8004

    #: Where the recruitment service answers (schools, staff, local authorities, address lookups).
    recruitment_url: str = "http://127.0.0.1:8001"
    #: Where the randomisation service answers (each school's live allocation).
    randomisation_url: str = "http://127.0.0.1:8002"
    #: How long an allocation the randomisation service gave may be reused by the contamination
    #: guard (seconds; 0 asks every time). Kept short: an allocation marked in error must stop
    #: enrolments within this long.
    allocation_cache_seconds: float = Field(30.0, ge=0, le=300)
    #: The time zone the platforms' exports write their local times in (stored as UTC).
    report_timezone: str = "Europe/London"
    #: The largest attendance report accepted (bytes); checked before the file is parsed.
    max_report_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    #: What a control-group case-study school is owed for taking part (the protocol's £1,500).
    case_study_incentive: Decimal = Field(Decimal("1500.00"), ge=0, le=100000, decimal_places=2)
    #: How many case-study schools may be selected (withdrawn ones not counted); unset: the
    #: programme's published number (``programme_2021_22.json``: 14).
    case_study_target: int | None = Field(None, ge=1, le=1000)

    @field_validator("report_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/London)") from exc
        return name
