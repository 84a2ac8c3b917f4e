"""The simulated trial's calendar: the 2021/22 trial's dates moved forward by whole weeks, so that
the day the simulation runs falls in the recruitment window.

The services date what they record by their own clock (an LA's registration, a teacher's
withdrawal are "today"), and check it against their settings' deadlines. The simulation runs
today, not in 2021, so ``rlc up --demo`` gives the services this calendar's deadlines
(``service_environment``) and the simulator dates what it sends by it: the programme's sessions,
the survey rounds and their answers. Weekdays are kept (the workshops stay on Mondays).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: The real trial's dates (the LA information sheet, the September 2021 webinar, the survey
#: windows of the evaluation's protocol).
EOI_DEADLINE = dt.date(2021, 6, 25)
CONSENT_DEADLINE = dt.date(2021, 9, 24)
TEACHER_WITHDRAWAL_CUTOFF = dt.date(2022, 5, 31)
PRE_SURVEY = (dt.date(2021, 10, 1), dt.date(2021, 10, 22))
POST_SURVEY = (dt.date(2022, 5, 3), dt.date(2022, 5, 27))


@dataclass(frozen=True)
class Timeline:
    #: How far the 2021/22 calendar is moved (a whole number of weeks, never backwards).
    offset: dt.timedelta

    @classmethod
    def for_today(cls, today: dt.date) -> Timeline:
        """The calendar in which the LAs' expression-of-interest deadline is the first day,
        on the same weekday as in 2021, that is not before ``today``."""
        weeks = max(0, -(-(today - EOI_DEADLINE).days // 7))
        return cls(offset=dt.timedelta(weeks=weeks))

    def on(self, day: dt.date) -> dt.date:
        """A 2021/22 date in this calendar."""
        return day + self.offset

    @property
    def eoi_deadline(self) -> dt.date:
        return self.on(EOI_DEADLINE)

    @property
    def consent_deadline(self) -> dt.date:
        return self.on(CONSENT_DEADLINE)

    @property
    def teacher_withdrawal_cutoff(self) -> dt.date:
        return self.on(TEACHER_WITHDRAWAL_CUTOFF)

    def survey_window(self, round_: str) -> tuple[dt.date, dt.date]:
        opens, closes = PRE_SURVEY if round_ == "pre" else POST_SURVEY
        return self.on(opens), self.on(closes)

    def service_environment(self) -> dict[str, str]:
        """The services' settings that hold this calendar's deadlines."""
        return {
            "RECRUITMENT_EOI_DEADLINE": self.eoi_deadline.isoformat(),
            "RECRUITMENT_CONSENT_DEADLINE": self.consent_deadline.isoformat(),
            "RECRUITMENT_TEACHER_WITHDRAWAL_CUTOFF": self.teacher_withdrawal_cutoff.isoformat(),
        }


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
