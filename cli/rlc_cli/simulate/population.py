"""The simulated trial's population: local authorities, schools, staff and what happens to them,
drawn once from a seed so that a run is reproducible. Nothing here talks to a service; the stages
(``rlc_cli.simulate.stages``) play this population through the APIs.

What depends on the arm a school is given (attendance, answers, outcomes) cannot be drawn here:
the randomisation service draws its seed itself. The stages draw it from ``school_rng(seed,
stage, urn)``, so the same school behaves the same way in every run with the same seed,
whatever the allocation's order or the other schools' arms.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property

from rlc_cli.simulate.gias import LOCAL_AUTHORITIES, NAME_STEMS

STAFF_ROLES = ("designated_teacher", "english_subject_lead", "maths_subject_lead")
#: A colleague who sometimes attends a workshop on someone's behalf and answers the survey.
STAND_IN_ROLE = "year6_teacher"
FIRST = (
    "Amara", "Ben", "Chloe", "Dev", "Erin", "Farah", "Gareth", "Hana", "Iwan", "Jas", "Kofi",
    "Lucy", "Mohammed", "Niamh", "Oliver", "Priya", "Quentin", "Rosa", "Sanjay", "Tamsin",
    "Usman", "Verity", "Wyn", "Xavier", "Yasmin", "Zara", "Alfie", "Bethan", "Callum", "Delyth",
)  # fmt: skip
LAST = (
    "Adams", "Bell", "Chen", "Davies", "Evans", "Fox", "Green", "Hughes", "Iqbal", "Jones",
    "Khan", "Lewis", "Morgan", "Nash", "Owen", "Patel", "Quinn", "Roberts", "Shah", "Taylor",
    "Underwood", "Vaughan", "Walsh", "Young", "Ahmed", "Brooks", "Clarke", "Dixon", "Ellis",
    "Foster",
)  # fmt: skip
SUFFIXES = ("Primary School", "Junior School", "Church of England Primary", "Primary Academy")


def school_rng(seed: int, stage: str, urn: int) -> random.Random:
    """The random draws of one school in one stage (str seeds are hashed with SHA-512, so this
    is the same in every process, unlike ``hash()``)."""
    return random.Random(f"{seed}:{stage}:{urn}")


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

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1]

    def teacher(self, role: str) -> Teacher | None:
        return next((t for t in self.teachers if t.role == role), None)


@dataclass
class LocalAuthority:
    code: str
    name: str
    county: str
    town: str
    gor: tuple[str, str]
    #: A domain several of its schools' GIAS addresses share (an LA-wide mail system).
    shared_domain: str
    #: The head of its Virtual School (who attends the cohort's sessions).
    virtual_school_head: str = ""

    @property
    def virtual_school_email(self) -> str:
        council = self.shared_domain.removeprefix("schools.")
        return f"{self.virtual_school_head.replace(' ', '.').lower()}@{council}"

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

    @cached_property
    def by_urn(self) -> dict[int, School]:
        return {s.urn: s for s in self.schools}

    @cached_property
    def by_la_code(self) -> dict[str, LocalAuthority]:
        return {la.code: la for la in self.las}


def _local_authorities(count: int, rng: random.Random) -> list[LocalAuthority]:
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
                virtual_school_head=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            )
        )
    return las


def _teacher(rng: random.Random, role: str, urn: int, taken: set[str]) -> Teacher:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first}.{last}".lower()
    number = 2
    while local in taken:  # two colleagues of the same name: the school numbers the second
        local, number = f"{first}.{last}{number}".lower(), number + 1
    taken.add(local)
    return Teacher(
        role=role,
        name=f"{first} {last}",
        email=f"{local}@school{urn}.sch.uk",
        consents=rng.random() > 0.05,
        withdraws=rng.random() < 0.03,
    )


def draw(*, schools: int = 300, las: int = 10, seed: int = 2021) -> Population:
    """A trial of about ``schools`` GIAS schools across ``las`` local authorities.

    Per LA, most schools are open primaries the Virtual School nominates; a few are out of scope
    (a secondary, a closed school), a few nominated ones are ineligible (no Year 5/6 pupil with a
    social worker), a few decline consent, a few consent late (the late joiners' run). Each
    school has a Designated Teacher and two Subject Leads, some a Year 6 teacher too; the second
    school of every LA had an earlier GIAS email (so a survey sent there is linked through the
    school's history).
    """
    rng = random.Random(seed)
    authorities = _local_authorities(las, rng)
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
            if rng.random() < 0.08 or kind == 1:
                school.old_email = f"admin@old{urn}.sch.uk"
            taken: set[str] = set()
            for role in STAFF_ROLES:
                school.teachers.append(_teacher(rng, role, urn, taken))
            if rng.random() < 0.35:
                school.teachers.append(_teacher(rng, STAND_IN_ROLE, urn, taken))
            if kind == 2:  # in every LA, a Subject Lead who leaves withdraws from the surveys
                school.teachers[1].consents, school.teachers[1].withdraws = True, True
            population.append(school)
    return Population(seed=seed, las=authorities, schools=population)
