"""Email normalisation and extraction; no message may echo an address."""

from __future__ import annotations

import traceback

import pytest

from rlc_shared.emails import InvalidEmail, domain_of, extract_address, normalise_email

# --- normalise_email ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("head@school.sch.uk", "head@school.sch.uk"),
        ("  Office@Stmarys.Herts.SCH.UK \t", "Office@stmarys.herts.sch.uk"),
        ("Admin.Office@EXAMPLE-School.org.uk", "Admin.Office@example-school.org.uk"),
        ("x@xn--mnchen-3ya.de", "x@münchen.de"),  # IDNA: one spelling, whichever was given
        ("x@MÜNCHEN.de", "x@münchen.de"),
    ],
)
def test_normalises_domain_and_keeps_local_part(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("secret.person.school.sch.uk", "missing @"),
        ("secret@person@school.sch.uk", "more than one @"),
        ("@school.sch.uk", "nothing before the @"),
        ("secret.person@", "nothing after the @"),
        ("secret person@school.sch.uk", "it contains a space"),
        ("secret.person@school", "should have a period"),
        ("secret,person@school.sch.uk", "invalid characters before the @-sign: ','"),
        ("secret.person@school..sch.uk", "two periods in a row"),
        ("Secret Person <secret.person@school.sch.uk>", "it contains a space"),
        ("secret.person@school.local", "special-use or reserved name"),
    ],
)
def test_invalid_addresses_are_rejected_without_echoing_them(raw: str, problem: str) -> None:
    with pytest.raises(InvalidEmail) as error:
        normalise_email(raw, line=12)
    message = str(error.value)
    assert message.startswith("The email on line 12 is not a valid address: ")
    assert problem in message
    assert error.value.line == 12 and problem in error.value.problem
    # Neither the address nor any recognisable part of it appears, even in a traceback.
    shown = message + "".join(traceback.format_exception(error.value))
    for secret in ("secret", "person", "school.sch", "school.local"):
        assert secret not in shown


def test_invalid_email_is_a_value_error_and_line_is_optional() -> None:
    with pytest.raises(ValueError, match="^The email is not a valid address: missing @$"):
        normalise_email("nobody")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("head@school.sch.uk", "head@school.sch.uk"),
        ("  mailto:head@school.sch.uk ", "head@school.sch.uk"),
        ("MAILTO:head@school.sch.uk?subject=Survey", "head@school.sch.uk"),
        ("<head@school.sch.uk>", "head@school.sch.uk"),
        ("Head Teacher <head@school.sch.uk>", "head@school.sch.uk"),
        ('"Office, St Mary\'s" <office@stmarys.sch.uk>', "office@stmarys.sch.uk"),
        ("<mailto:head@school.sch.uk>", "head@school.sch.uk"),
        ("'head@school.sch.uk'", "head@school.sch.uk"),
        ("not an address", "not an address"),
    ],
)
def test_extract_address(raw: str, expected: str) -> None:
    assert extract_address(raw) == expected


def test_extracted_display_name_then_normalised() -> None:
    assert normalise_email(extract_address("Jo <Jo.Bloggs@School.SCH.UK>")) == (
        "Jo.Bloggs@school.sch.uk"
    )
    assert domain_of("Jo.Bloggs@school.sch.uk") == "school.sch.uk"
