"""Linking responses to trial schools through the school email: every path, against the live
recruitment service, and what is (not) kept of the addresses."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from rlc_clients import RecruitmentClient
from rlc_shared.http import TokenProvider
from surveys.config import DEV_PSEUDONYM_SECRET
from surveys.models import ServiceModel, SurveyResponse
from surveys.processing.linking import Linker
from surveys.pseudonyms import Pseudonymiser

#: (the cell as the export holds it, the school it should link to, how) — None: unmatched, why.
CASES: list[tuple[str, str | None, str]] = [
    ("office@hillside.sch.uk", "hillside", "exact"),
    ("old-office@hillside-old.sch.uk", "hillside", "historical"),
    ('"Hillside Office" <OFFICE@Hillside.SCH.UK>', "hillside", "exact"),
    ("mailto:admin@brookside.sch.uk", "brookside", "exact"),
    ("  Admin@Brookside.sch.uk ", "brookside", "exact"),
    ("j.smith@valleyprimary.co.uk", "valley", "domain"),
    ("headteacher.720002@gmail.com", "gmail", "exact"),
    ("teacher@federation-schools.org.uk", None, "ambiguous-domain"),
    ("someone.else@gmail.com", None, "shared-domain"),
    ("teacher@camden.gov.uk", None, "shared-domain"),
    ("nobody@unknown-school.sch.uk", None, "no-school"),
    ("not an email address", None, "invalid-email"),
    ("", None, "no-email"),
]
PLAIN = [
    "office@hillside.sch.uk",
    "old-office",
    "j.smith",
    "someone.else",
    "teacher@",
    "nobody@",
    "headteacher.720002",
    "admin@brookside",
]


def case_rows(sv: Any) -> list[dict[str, Any]]:
    rows = sv.rows([cell for cell, _, _ in CASES], seed=21)
    for i, row in enumerate(rows):
        row["ResponseId"] = f"R_link_{i:02d}"
    return rows


def test_every_linking_path(sv: Any) -> None:
    sv.put_round()
    export = sv.ingest(sv.fx.csv_export(case_rows(sv), qualtrics=False))
    assert export["status"] == "done", export
    assert export["links"] == {"exact": 5, "historical": 1, "domain": 1, "manual": 0}
    assert (export["rows"], export["linked"], export["unmatched"]) == (13, 7, 6)
    engine = sv.client.app.state.engine
    with engine.connect() as conn:
        found = {
            r.response_id: r
            for r in conn.execute(select(SurveyResponse)).all()  # type: ignore[call-overload]
        }
    for i, (cell, school, how) in enumerate(CASES):
        response = found[f"R_link_{i:02d}"]
        if school is None:
            assert response.urn is None and response.link_kind is None, cell
        else:
            expected = sv.world[school]
            assert (response.urn, response.la_code, response.link_kind) == (
                expected.urn,
                expected.la_code,
                how,
            ), cell
    queue = {item["response_id"]: item for item in sv.unmatched()}
    assert {queue[f"R_link_{i:02d}"]["reason"] for i in range(7, 13)} == {
        "ambiguous-domain",
        "shared-domain",
        "no-school",
        "invalid-email",
        "no-email",
    }
    ambiguous = queue["R_link_07"]
    assert ambiguous["email_domain"] == "federation-schools.org.uk"
    assert ambiguous["email_display"] == "t***@federation-schools.org.uk"
    assert "2 trial schools use its domain" in ambiguous["detail"]
    assert queue["R_link_09"]["detail"].endswith("which does not identify a school.")
    assert queue["R_link_11"]["email_display"] == "(not an address)"
    assert queue["R_link_12"]["email_display"] is None
    assert all(item["export_id"] == export["id"] for item in queue.values())


def test_no_plain_email_is_kept_or_answered(sv: Any) -> None:
    sv.put_round()
    sv.ingest(sv.fx.csv_export(case_rows(sv), qualtrics=False))
    answered = (
        json.dumps(sv.unmatched())
        + sv.client.get("/rounds/pre/responses.csv", headers=sv.evaluator()).text
    )
    engine = sv.client.app.state.engine
    metadata: MetaData = ServiceModel.metadata
    with engine.connect() as conn:
        dump = json.dumps(
            [
                [list(map(str, row)) for row in conn.execute(table.select()).all()]
                for table in metadata.sorted_tables
            ]
        )
    for text in PLAIN:
        assert text not in dump, f"{text!r} is stored"
        assert text not in answered, f"{text!r} is answered"


class CountingDirectory:
    """The real recruitment client, counting the calls linking makes through it."""

    def __init__(self, client: RecruitmentClient) -> None:
        self.client = client
        self.lookups: list[int] = []
        self.listings = 0

    def schools_by_emails(self, emails: Sequence[str]) -> list[dict[str, Any]]:
        self.lookups.append(len(emails))
        return self.client.schools_by_emails(emails)

    def iter_schools(self, **filters: Any) -> Iterator[dict[str, Any]]:
        self.listings += 1
        return self.client.iter_schools(**filters)


@pytest.fixture
def directory(stack: Any, keys: Any) -> Iterator[CountingDirectory]:
    client = RecruitmentClient(
        stack.recruitment.url,
        tokens=TokenProvider(token=keys.token("service", sub="service:surveys")),
    )
    try:
        yield CountingDirectory(client)
    finally:
        client.close()


def test_one_bulk_lookup_per_chunk_for_new_addresses_only(directory: CountingDirectory) -> None:
    linker = Linker(
        directory=directory, pseudonymiser=Pseudonymiser(DEV_PSEUDONYM_SECRET), manual={}
    )
    chunk = ["office@hillside.sch.uk", "admin@brookside.sch.uk", "x@valleyprimary.co.uk"] * 300
    links = linker.link(chunk)
    assert [link.urn for link in links[:3]] == [710001, 710002, 720001]
    assert directory.lookups == [3]  # 900 rows, three addresses: one call
    assert directory.listings == 1  # the trial schools' domains, once the domain rule is needed
    linker.link(chunk)  # the next chunk: nothing new to ask
    assert directory.lookups == [3] and directory.listings == 1
    linker.link([*chunk, "office@ridge.sch.uk", "y@valleyprimary.co.uk"])
    assert directory.lookups == [3, 2] and directory.listings == 1


def test_an_evaluator_decision_comes_before_the_rules(directory: CountingDirectory) -> None:
    pseudonyms = Pseudonymiser(DEV_PSEUDONYM_SECRET)
    decided = pseudonyms.school_email("office@hillside.sch.uk")
    linker = Linker(
        directory=directory, pseudonymiser=pseudonyms, manual={decided: (710002, "202")}
    )
    (link,) = linker.link(["Office@Hillside.sch.uk"])
    assert (link.urn, link.kind) == (710002, "manual")
    assert directory.lookups == []  # decided: recruitment is not asked
