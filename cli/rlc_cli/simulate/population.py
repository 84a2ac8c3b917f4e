"""The simulated trial's population: local authorities, schools, staff and what happens to them,
drawn once from a seed so that a run is reproducible. Nothing here talks to a service; the stages
(``rlc_cli.simulate.stages``) play this population through the APIs."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from rlc_cli.simulate.gias import LOCAL_AUTHORITIES, NAME_STEMS

STAFF_ROLES = ("designated_teacher", "english_subject_lead", "maths_subject_lead")
FIRST = ("Amara", "Ben", "Chloe", "Dev", "Erin", "Farah", "Gareth", "Hana", "Iwan", "Jas", "Kofi")
LAST = ("Adams", "Bell", "Chen", "Davies", "Evans", "Fox", "Green", "Hughes", "Iqbal", "Jones")
SUFFIXES = ("Primary School", "Junior School", "Church of England Primary", "Primary Academy")


@dataclass
class Teacher:
    role: str
    name: str
    email: str
    consents: bool = True
    withdraws: bool = False
    #: Given by the recruitment service when the simulation adds the teacher.
    staff_id: int | None = None


@dataclass
class School:
    urn: int
    la_code: str
    name: str
    phase: str = "Primary"
    status: str = "Open"
    email: str = ""
    #: An earlier GIAS email (the register changed it during the trial), if any.
    old_email: str | None = None
    nominated: bool = True
    social_worker_pupils: int = 0
    looked_after_pupils: int = 0
    consents: bool = True
    late_joiner: bool = False
    pupils: int = 210
    teachers: list[Teacher] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return self.phase == "Primary" and self.status == "Open" and self.social_worker_pupils > 0


@dataclass
class LocalAuthority:
    code: str
    name: str
    county: str
    town: str
    gor: tuple[str, str]
    #: A domain several of its schools' GIAS addresses share (an LA-wide mail system).
    shared_domain: str

    @property
    def gias_la(self) -> tuple[int, str, str, str, str, str]:
        return (int(self.code), self.name, self.county, self.town, *self.gor)


@dataclass
class Population:
    seed: int
    las: list[LocalAuthority]
    schools: list[School]

    def of_la(self, code: str) -> list[School]:
        return [s for s in self.schools if s.la_code == code]

    @property
    def trial_schools(self) -> list[School]:
        return [s for s in self.schools if s.nominated]


def _local_authorities(count: int) -> list[LocalAuthority]:
    las = []
    for i in range(count):
        if i < len(LOCAL_AUTHORITIES):
            code, name, county, town, gor_code, gor_name = LOCAL_AUTHORITIES[i]
        else:  # more than the table holds (--las 30): plausible, made-up authorities
            code, name = 800 + i, f"Shire {i}"
            county, town, gor_code, gor_name = name, f"{name} Town", "J", "South East"
        slug = name.lower().replace(" ", "")
        las.append(
            LocalAuthority(
                code=f"{code:03d}",
                name=name,
                county=county,
                town=town,
                gor=(gor_code, gor_name),
                shared_domain=f"schools.{slug}.gov.uk",
            )
        )
    return las


def draw(*, schools: int = 300, las: int = 10, seed: int = 2021) -> Population:
    """A trial of about ``schools`` GIAS schools across ``las`` local authorities.

    Per LA, most schools are open primaries the Virtual School nominates; a few are out of scope
    (a secondary, a closed school), a few nominated ones are ineligible (no Year 5/6 pupil with a
    social worker), a few decline consent, a few consent late (the late joiners' run).
    """
    rng = random.Random(seed)
    authorities = _local_authorities(las)
    per_la = max(4, schools // max(1, las))
    urn = 400_000 + rng.randrange(0, 1000) * 100
    population: list[School] = []
    for la in authorities:
        for i in range(per_la):
            urn += rng.randint(1, 5)
            stem = rng.choice(NAME_STEMS)
            school = School(
                urn=urn,
                la_code=la.code,
                name=f"{stem} {rng.choice(SUFFIXES)}",
                pupils=rng.randint(90, 450),
            )
            kind = i % 12
            if kind == 10:
                school.phase, school.nominated = "Secondary", False
                school.name = f"{la.town} {rng.choice(('Academy', 'High School'))}"
            elif kind == 11:
                school.status, school.nominated = "Closed", False
            else:
                school.social_worker_pupils = 0 if kind == 9 else rng.randint(1, 6)
                school.looked_after_pupils = rng.randint(0, 3)
                school.consents = kind != 8
                school.late_joiner = kind == 7
            # Most schools have their own domain; some use the LA-wide one (so a survey response
            # from it cannot be linked by domain alone).
            if rng.random() < 0.2:
                school.email = f"office.{urn}@{la.shared_domain}"
            else:
                school.email = f"office@school{urn}.sch.uk"
            if rng.random() < 0.08:
                school.old_email = f"admin@old{urn}.sch.uk"
            for role in STAFF_ROLES:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                school.teachers.append(
                    Teacher(
                        role=role,
                        name=f"{first} {last}",
                        email=f"{first}.{last}.{urn}@school{urn}.sch.uk".lower(),
                        consents=rng.random() > 0.05,
                        withdraws=rng.random() < 0.03,
                    )
                )
            population.append(school)
    return Population(seed=seed, las=authorities, schools=population)
