"""Write a synthetic GIAS establishment extract (edubasealldata*.csv) for the trial simulator,
benchmarks and tests.

The file looks like the real one where it matters to the importer: the 135 column names of a 2025
extract in file order, ISO-8859-1 (latin-1) bytes with accented names, CRLF line endings, every
header and text value quoted while URN, ages, capacity, UKPRN, easting and northing are bare
numbers, dates as dd-mm-yyyy, unknown values empty or "..", open and closed schools of every phase,
and a few malformed records whose number and lines are known in advance (see ``SynthStats``).
Rows are generated and written one at a time, so any size can be produced in bounded memory.

    python bench/gias_synth.py OUT.csv --rows 50000 --seed 1   # prints the stats as JSON

``write_extract`` writes a random national-looking file; the simulator builds its own trial's
records with ``gias_record`` (a chosen LA, phase and status) and ``write_records``.

Deterministic for a given (rows, seed, malformed_every).
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import BinaryIO

# The extract's columns in file order, as downloaded after 2025-04-22 (see
# /work/shared/reference/gias/edubasealldata_columns.tsv; the five retired columns are left out).
COLUMNS: tuple[str, ...] = tuple(
    """URN
LA (code)
LA (name)
EstablishmentNumber
EstablishmentName
TypeOfEstablishment (code)
TypeOfEstablishment (name)
EstablishmentTypeGroup (code)
EstablishmentTypeGroup (name)
EstablishmentStatus (code)
EstablishmentStatus (name)
ReasonEstablishmentOpened (code)
ReasonEstablishmentOpened (name)
OpenDate
ReasonEstablishmentClosed (code)
ReasonEstablishmentClosed (name)
CloseDate
PhaseOfEducation (code)
PhaseOfEducation (name)
StatutoryLowAge
StatutoryHighAge
Boarders (code)
Boarders (name)
NurseryProvision (name)
OfficialSixthForm (code)
OfficialSixthForm (name)
Gender (code)
Gender (name)
ReligiousCharacter (code)
ReligiousCharacter (name)
ReligiousEthos (name)
Diocese (code)
Diocese (name)
AdmissionsPolicy (code)
AdmissionsPolicy (name)
SchoolCapacity
SpecialClasses (code)
SpecialClasses (name)
CensusDate
NumberOfPupils
NumberOfBoys
NumberOfGirls
PercentageFSM
TrustSchoolFlag (code)
TrustSchoolFlag (name)
Trusts (code)
Trusts (name)
SchoolSponsorFlag (name)
SchoolSponsors (name)
FederationFlag (name)
Federations (code)
Federations (name)
UKPRN
FEHEIdentifier
FurtherEducationType (name)
LastChangedDate
Street
Locality
Address3
Town
County (name)
Postcode
SchoolWebsite
TelephoneNum
HeadTitle (name)
HeadFirstName
HeadLastName
HeadPreferredJobTitle
BSOInspectorateName (name)
InspectorateReport
DateOfLastInspectionVisit
NextInspectionVisit
TeenMoth (name)
TeenMothPlaces
CCF (name)
SENPRU (name)
EBD (name)
PlacesPRU
FTProv (name)
EdByOther (name)
Section41Approved (name)
SEN1 (name)
SEN2 (name)
SEN3 (name)
SEN4 (name)
SEN5 (name)
SEN6 (name)
SEN7 (name)
SEN8 (name)
SEN9 (name)
SEN10 (name)
SEN11 (name)
SEN12 (name)
SEN13 (name)
TypeOfResourcedProvision (name)
ResourcedProvisionOnRoll
ResourcedProvisionCapacity
SenUnitOnRoll
SenUnitCapacity
GOR (code)
GOR (name)
DistrictAdministrative (code)
DistrictAdministrative (name)
AdministrativeWard (code)
AdministrativeWard (name)
ParliamentaryConstituency (code)
ParliamentaryConstituency (name)
UrbanRural (code)
UrbanRural (name)
GSSLACode (name)
Easting
Northing
MSOA (name)
LSOA (name)
InspectorateName (name)
SENStat
SENNoStat
BoardingEstablishment (name)
PropsName
PreviousLA (code)
PreviousLA (name)
PreviousEstablishmentNumber
Country (name)
UPRN
SiteName
QABName (code)
QABName (name)
EstablishmentAccredited (code)
EstablishmentAccredited (name)
QABReport
CHNumber
MSOA (code)
LSOA (code)
FSM
AccreditationExpiryDate""".split("\n")
)
assert len(COLUMNS) == 135

_I = {name: i for i, name in enumerate(COLUMNS)}

# (code, name, county, town, GOR code, GOR name)
_LAS = (
    (370, "Barnsley", "South Yorkshire", "Barnsley", "D", "Yorkshire and the Humber"),
    (865, "Wiltshire", "Wiltshire", "Salisbury", "K", "South West"),
    (919, "Hertfordshire", "Hertfordshire", "St Albans", "G", "East of England"),
    (354, "Rochdale", "Lancashire", "Rochdale", "B", "North West"),
    (202, "Camden", "Greater London", "London", "H", "London"),
    (330, "Birmingham", "West Midlands", "Birmingham", "F", "West Midlands"),
    (926, "Norfolk", "Norfolk", "Norwich", "G", "East of England"),
    (878, "Devon", "Devon", "Exeter", "K", "South West"),
    (929, "Northumberland", "Northumberland", "Hexham", "A", "North East"),
    (886, "Kent", "Kent", "Canterbury", "J", "South East"),
    (380, "Bradford", "West Yorkshire", "Bradford", "D", "Yorkshire and the Humber"),
)

# (phase code, phase name, weight, [(low, high)], name suffixes, pupils range)
_PHASES = (
    (
        "2",
        "Primary",
        50,
        ((4, 11), (3, 11), (7, 11), (4, 7), (4, 9)),
        (
            "Primary School",
            "Junior School",
            "Infant School",
            "Church of England Aided Primary School",
            "Primary Academy",
            "First School",
        ),
        (40, 700),
    ),
    (
        "4",
        "Secondary",
        12,
        ((11, 16), (11, 18)),
        ("High School", "Academy", "Grammar School", "Community College"),
        (400, 2000),
    ),
    ("7", "All-through", 2, ((4, 18), (3, 19)), ("All-through Academy", "School"), (600, 2200)),
    ("3", "Middle deemed primary", 1, ((8, 12), (9, 13)), ("Middle School",), (200, 600)),
    ("5", "Middle deemed secondary", 1, ((9, 13), (10, 14)), ("Middle School",), (300, 800)),
    ("6", "16 plus", 4, ((16, 19),), ("Sixth Form College", "College"), (300, 3000)),
    ("1", "Nursery", 3, ((2, 5), (3, 5)), ("Nursery School",), (30, 150)),
    (
        "0",
        "Not applicable",
        27,
        ((2, 19), (5, 16), (4, 11), (11, 18)),
        ("Special School", "Pupil Referral Unit", "Independent School", "Children's Centre"),
        (10, 400),
    ),
)
_PHASE_WEIGHTS = tuple(p[2] for p in _PHASES)

# (type code, type name, group code, group name) by phase kind.
_MAINSTREAM_TYPES = (
    ("01", "Community school", "4", "Local authority maintained schools"),
    ("02", "Voluntary aided school", "4", "Local authority maintained schools"),
    ("03", "Voluntary controlled school", "4", "Local authority maintained schools"),
    ("05", "Foundation school", "4", "Local authority maintained schools"),
    ("28", "Academy sponsor led", "10", "Academies"),
    ("34", "Academy converter", "10", "Academies"),
    ("35", "Free schools", "11", "Free Schools"),
)
_OTHER_TYPES = (
    ("07", "Community special school", "5", "Special schools"),
    ("11", "Other independent school", "3", "Independent schools"),
    ("10", "Pupil referral unit", "4", "Local authority maintained schools"),
    ("36", "Free schools special", "11", "Free Schools"),
)
_NURSERY_TYPE = ("15", "Local authority nursery school", "4", "Local authority maintained schools")

# (code, name, weight). Real extracts keep closed establishments, about a third of all rows.
_STATUSES = (
    ("1", "Open", 60),
    ("2", "Closed", 34),
    ("3", "Open, but proposed to close", 2),
    ("4", "Proposed to open", 4),
)
_STATUS_WEIGHTS = tuple(s[2] for s in _STATUSES)

# Latin-1 letters on purpose: the importer must decode 0xE0 as "à", not as UTF-8 garbage.
_NAME_STEMS = (
    "St Thomas à Becket",
    "St Mary's",
    "Holy Trinity",
    "Oakfield",
    "Hillside",
    "Brontë",
    "Sainte-Thérèse",
    "Our Lady of Lourdes",
    "Fleetville",
    "Penistone",
    "Ysgol Gymraeg Bro Hafrén",
    "St Peter's, Eaton Square",
    "Côte Park",
    "Greenacres",
    "Müller Memorial",
    "Riverside",
    "Ashgrove",
    "St John the Baptist",
    "Kingsmead",
    "Château Lane",
    "Beech Hill",
    "Meadowbank",
)
_STREETS = ("High Street", "Church Lane", "School Road", "Station Road", "Mill Lane", "Park Avenue")
_FIRST = ("Paul", "Lisa", "John", "Amélie", "Siân", "Olu", "Priya", "Zoë", "Tomás", "Fatima")
_LAST = ("Crook", "Meredith", "Watson", "O'Neill", "Nováková", "Smith", "Khan", "Jones", "Brönte")

_MALFORMED_KINDS = (
    "extra_fields",  # like the real extract's row with 139 fields against 133 headers
    "unquoted_comma",  # an unquoted name with a comma: one field too many
    "bad_date",  # OpenDate 31-02-2020
    "duplicate_urn",  # the previous row's URN again
    "too_few_fields",  # a truncated row
    "bad_age",  # StatutoryLowAge "four"
)


@dataclass
class SynthStats:
    """What was written, so a test or benchmark knows what the parser should report."""

    rows: int = 0  # records after the header, one physical line each
    valid: int = 0  # records the parser should accept
    rejected: int = 0  # records the parser should reject
    rejected_lines: list[int] = field(default_factory=list)  # physical lines (header is 1)
    malformed: dict[str, int] = field(default_factory=dict)  # kind -> count
    statuses: dict[str, int] = field(default_factory=dict)  # of valid rows
    phases: dict[str, int] = field(default_factory=dict)  # of valid rows
    bytes: int = 0


def _d(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def _postcode(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTUWYZ"
    return (
        f"{rng.choice(letters)}{rng.choice(letters)}{rng.randint(1, 29)} "
        f"{rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"
    )


def _row(
    rng: random.Random,
    urn: int,
    *,
    la: tuple[int, str, str, str, str, str] | None = None,
    phase_name: str | None = None,
    status_name: str | None = None,
    name: str | None = None,
) -> tuple[list[object], str, str]:
    """One record as values (ints are written bare, strings quoted), its status and its phase.

    ``la``, ``phase_name`` and ``status_name`` choose them instead of drawing them at random.
    """
    la_code, la_name, county, town, gor_code, gor_name = la or rng.choice(_LAS)
    if phase_name is None:
        phase = rng.choices(_PHASES, _PHASE_WEIGHTS)[0]
    else:
        phase = next(p for p in _PHASES if p[1] == phase_name)
    p_code, p_name, _, ages, suffixes, (pmin, pmax) = phase
    if status_name is None:
        s_code, s_name, _ = rng.choices(_STATUSES, _STATUS_WEIGHTS)[0]
    else:
        s_code, s_name, _ = next(s for s in _STATUSES if s[1] == status_name)
    if p_name == "Nursery":
        etype = _NURSERY_TYPE
    elif p_name == "Not applicable":
        etype = rng.choice(_OTHER_TYPES)
    else:
        etype = rng.choice(_MAINSTREAM_TYPES)
    low, high = rng.choice(ages) if phase_name != "Primary" else (4, 11)
    name = name or f"{rng.choice(_NAME_STEMS)} {rng.choice(suffixes)}"
    opened = date(1950, 1, 1) + timedelta(days=rng.randint(0, 27_000))
    closed = s_name == "Closed"
    pupils = "" if closed else str(rng.randint(pmin, pmax))
    boys = "" if not pupils else str(int(pupils) // 2)
    fsm = "" if closed else rng.choice(("..", "0", f"{rng.uniform(0, 60):.1f}", "12.5", "3.4"))
    close_date = ""
    if closed:
        close_date = _d(opened + timedelta(days=rng.randint(400, 9000)))
    elif s_name == "Open, but proposed to close":
        close_date = _d(date(2026, 8, 31))

    v: list[object] = [""] * len(COLUMNS)

    def put(column: str, value: object) -> None:
        v[_I[column]] = value

    put("URN", urn)
    put("LA (code)", str(la_code))
    put("LA (name)", la_name)
    put("EstablishmentNumber", str(rng.randint(1000, 7999)))
    put("EstablishmentName", name)
    put("TypeOfEstablishment (code)", etype[0])
    put("TypeOfEstablishment (name)", etype[1])
    put("EstablishmentTypeGroup (code)", etype[2])
    put("EstablishmentTypeGroup (name)", etype[3])
    put("EstablishmentStatus (code)", s_code)
    put("EstablishmentStatus (name)", s_name)
    put("ReasonEstablishmentOpened (code)", rng.choice(("00", "06", "10")))
    put("ReasonEstablishmentOpened (name)", "Not applicable")
    put("OpenDate", rng.choice(("", _d(opened))))
    put("ReasonEstablishmentClosed (code)", "10" if closed else "00")
    put("ReasonEstablishmentClosed (name)", "Academy Converter" if closed else "Not applicable")
    put("CloseDate", close_date)
    put("PhaseOfEducation (code)", p_code)
    put("PhaseOfEducation (name)", p_name)
    put("StatutoryLowAge", low)
    put("StatutoryHighAge", high)
    put("Boarders (code)", "1")
    put("Boarders (name)", "No boarders")
    put("NurseryProvision (name)", "No Nursery Classes")
    put("OfficialSixthForm (code)", "1" if high >= 18 else "2")
    put(
        "OfficialSixthForm (name)",
        "Has a sixth form" if high >= 18 else "Does not have a sixth form",
    )
    put("Gender (code)", "3")
    put("Gender (name)", "Mixed")
    put("ReligiousCharacter (code)", "00")
    put("ReligiousCharacter (name)", "Does not apply")
    put("ReligiousEthos (name)", "Does not apply")
    put("Diocese (code)", "0000")
    put("Diocese (name)", "Not applicable")
    put("AdmissionsPolicy (code)", "0")
    put("AdmissionsPolicy (name)", "Not applicable")
    put("SchoolCapacity", rng.randint(pmin, pmax + 200))
    put("SpecialClasses (code)", "2")
    put("SpecialClasses (name)", "No Special Classes")
    put("CensusDate", "" if closed else "16-01-2025")
    put("NumberOfPupils", pupils)
    put("NumberOfBoys", boys)
    put("NumberOfGirls", "" if not pupils else str(int(pupils) - int(boys)))
    put("PercentageFSM", fsm)
    put("TrustSchoolFlag (code)", "0")
    put("TrustSchoolFlag (name)", "Not applicable")
    put("SchoolSponsorFlag (name)", "Not applicable")
    put("FederationFlag (name)", "Not under a federation")
    put("UKPRN", rng.randint(10_000_000, 10_099_999))
    put("FurtherEducationType (name)", "Not applicable")
    put("LastChangedDate", _d(date(2024, 1, 1) + timedelta(days=rng.randint(0, 480))))
    put("Street", f"{rng.randint(1, 300)} {rng.choice(_STREETS)}")
    put("Town", town)
    put("County (name)", county)
    put("Postcode", _postcode(rng))
    put("SchoolWebsite", f"http://www.school{urn}.sch.uk/")
    put("TelephoneNum", f"01{rng.randint(100_000_000, 999_999_999)}")
    put("HeadTitle (name)", rng.choice(("Mr", "Mrs", "Ms", "Dr")))
    put("HeadFirstName", rng.choice(_FIRST))
    put("HeadLastName", rng.choice(_LAST))
    put("HeadPreferredJobTitle", "Headteacher")
    for column in ("TeenMoth (name)", "CCF (name)", "SENPRU (name)", "EBD (name)"):
        put(column, "Not applicable")
    put("EdByOther (name)", "Not applicable")
    put("Section41Approved (name)", "Not applicable")
    put("GOR (code)", gor_code)
    put("GOR (name)", gor_name)
    put("DistrictAdministrative (code)", f"E0{rng.randint(6_000_000, 8_000_100)}")
    put("DistrictAdministrative (name)", la_name)
    put("AdministrativeWard (code)", f"E05{rng.randint(0, 999_999):06d}")
    put("AdministrativeWard (name)", f"{town} Central")
    put("ParliamentaryConstituency (code)", f"E14{rng.randint(0, 999_999):06d}")
    put("ParliamentaryConstituency (name)", town)
    put("UrbanRural (code)", rng.choice(("A1", "C1", "E1")))
    put("UrbanRural (name)", "Urban city and town")
    put("GSSLACode (name)", f"E0{rng.randint(6_000_000, 8_000_100)}")
    put("Easting", rng.randint(100_000, 650_000))
    put("Northing", rng.randint(10_000, 650_000))
    put("MSOA (name)", f"{la_name} {rng.randint(1, 60):03d}")
    put("LSOA (name)", f"{la_name} {rng.randint(1, 60):03d}{rng.choice('ABCDEF')}")
    put("InspectorateName (name)", "Not applicable")
    put("PreviousLA (code)", "999")
    put("Country (name)", rng.choice(("", "United Kingdom")))
    put("UPRN", str(rng.randint(10_000_000, 200_000_000_000)))
    put("QABName (code)", "0")
    put("QABName (name)", "Not applicable")
    put("EstablishmentAccredited (code)", "0")
    put("EstablishmentAccredited (name)", "Not applicable")
    put("MSOA (code)", f"E02{rng.randint(0, 999_999):06d}")
    put("LSOA (code)", f"E01{rng.randint(0, 999_999):06d}")
    put("FSM", "" if closed else str(rng.randint(0, 200)))
    return v, s_name, p_name


LOCAL_AUTHORITIES = _LAS
NAME_STEMS = _NAME_STEMS


def gias_record(
    rng: random.Random,
    urn: int,
    *,
    la: tuple[int, str, str, str, str, str],
    phase: str = "Primary",
    status: str = "Open",
    name: str | None = None,
) -> list[object]:
    """One record of a chosen LA, phase and status (the simulator's schools)."""
    return _row(rng, urn, la=la, phase_name=phase, status_name=status, name=name)[0]


def write_records(target: BinaryIO, records: list[list[object]], *, broken: int = 0) -> None:
    """The header and ``records`` as GIAS writes them (latin-1, CRLF, quoted text), with the last
    ``broken`` records damaged as real extracts sometimes are (a row with extra fields, a
    truncated row, a bad date), each of which the importer must reject by line."""
    text = io.TextIOWrapper(target, encoding="latin-1", newline="", write_through=False)
    try:
        quoted = csv.writer(text, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        quoted.writerow(COLUMNS)
        kinds = ("extra_fields", "too_few_fields", "bad_date")
        for i, values in enumerate(records):
            damage = i - (len(records) - broken)
            if damage < 0:
                quoted.writerow(values)
            elif kinds[damage % len(kinds)] == "extra_fields":
                quoted.writerow(values + [""] * 4)
            elif kinds[damage % len(kinds)] == "too_few_fields":
                quoted.writerow(values[:90])
            else:
                damaged = list(values)
                damaged[_I["OpenDate"]] = "31-02-2020"
                quoted.writerow(damaged)
        text.flush()
    finally:
        text.detach()


def write_extract(
    target: str | Path | BinaryIO,
    rows: int,
    *,
    seed: int = 0,
    malformed_every: int = 500,
) -> SynthStats:
    """Write a header and ``rows`` records to a path or a binary file object.

    Every ``malformed_every``-th record (0 for none), starting half-way into the first block, is
    broken in one of the ways in ``_MALFORMED_KINDS``, in turn.
    """
    if isinstance(target, str | Path):
        with open(target, "wb") as f:
            return write_extract(f, rows, seed=seed, malformed_every=malformed_every)
    rng = random.Random(seed)
    stats = SynthStats()
    statuses: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    malformed: Counter[str] = Counter()
    text = io.TextIOWrapper(target, encoding="latin-1", newline="", write_through=False)
    try:
        quoted = csv.writer(text, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        bare = csv.writer(text, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        quoted.writerow(COLUMNS)
        kind_no = 0
        urn = prev_urn = 100_000
        for i in range(rows):
            prev_urn, urn = urn, urn + rng.randint(1, 3)
            values, status, phase = _row(rng, urn)
            line = i + 2
            broken = malformed_every and i % malformed_every == malformed_every // 2
            if not broken:
                quoted.writerow(values)
                statuses[status] += 1
                phases[phase] += 1
                continue
            kind = _MALFORMED_KINDS[kind_no % len(_MALFORMED_KINDS)]
            if kind == "duplicate_urn" and i == 0:
                kind = "bad_date"  # nothing to duplicate yet
            kind_no += 1
            malformed[kind] += 1
            stats.rejected_lines.append(line)
            if kind == "extra_fields":
                quoted.writerow(values + [""] * 6)
            elif kind == "unquoted_comma":
                n = _I["EstablishmentName"]
                values[n : n + 1] = ["Smith", " Jones and Partners Primary School"]
                bare.writerow(values)
            elif kind == "bad_date":
                values[_I["OpenDate"]] = "31-02-2020"
                quoted.writerow(values)
            elif kind == "duplicate_urn":
                # The previous record is always one whose URN counts (valid, or a bad date).
                values[_I["URN"]] = prev_urn
                quoted.writerow(values)
            elif kind == "too_few_fields":
                quoted.writerow(values[:100])
            else:
                values[_I["StatutoryLowAge"]] = "four"
                quoted.writerow(values)
        text.flush()
    finally:
        text.detach()  # leave the caller's file object open
    stats.rows = rows
    stats.rejected = len(stats.rejected_lines)
    stats.valid = rows - stats.rejected
    stats.statuses = dict(statuses)
    stats.phases = dict(phases)
    stats.malformed = dict(malformed)
    try:
        stats.bytes = target.tell()
    except (OSError, ValueError):
        stats.bytes = 0
    return stats
