"""GIAS email normalisation and the URN,email register; no message may echo an address."""

from __future__ import annotations

import io
import traceback

import pytest

from recruitment.emails import (
    EmailRegisterFormatError,
    EmailRejection,
    EmailRow,
    InvalidEmail,
    normalise_email,
    parse_email_register,
)

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


# --- parse_email_register ----------------------------------------------------------------------


def _register(text: str, encoding: str = "utf-8") -> list[EmailRow | EmailRejection]:
    return list(parse_email_register(io.BytesIO(text.encode(encoding))))


def test_register_rows_and_rejections() -> None:
    items = _register(
        "URN,email\r\n"
        "126416, Office@StThomas.Wilts.SCH.UK \r\n"
        "117137,head@fleetville.herts.sch.uk\r\n"
        "\r\n"
        "12A,admin@a.sch.uk\r\n"
        ",admin@b.sch.uk\r\n"
        "148847,not-an-address\r\n"
        "106653,\r\n"
        "126416,other@stthomas.wilts.sch.uk\r\n"
        "100000,shared@federation.sch.uk\r\n"
        "100001,shared@federation.sch.uk\r\n"
    )
    rows = [i for i in items if isinstance(i, EmailRow)]
    rejections = [i for i in items if isinstance(i, EmailRejection)]
    assert rows == [
        EmailRow(2, 126416, "Office@stthomas.wilts.sch.uk"),
        EmailRow(3, 117137, "head@fleetville.herts.sch.uk"),
        EmailRow(10, 100000, "shared@federation.sch.uk"),  # schools may share an address
        EmailRow(11, 100001, "shared@federation.sch.uk"),
    ]
    assert [(r.line, r.urn) for r in rejections] == [
        (5, "12A"),
        (6, None),
        (7, "148847"),
        (8, "106653"),
        (9, "126416"),
    ]
    reasons = [r.reason for r in rejections]
    assert "URN '12A' is not a positive whole number" in reasons[0]
    assert "URN is missing" in reasons[1]
    assert reasons[2] == "The email on line 7 is not a valid address: missing @"
    assert reasons[3] == "the email is missing"
    assert "URN 126416 already appears on line 2" in reasons[4]
    assert not any("@" in r and "sch.uk" in r for r in reasons)  # no address in any reason


def test_register_header_is_case_insensitive_and_extra_columns_are_ignored() -> None:
    items = _register(
        "School name,Email ,urn,Notes\n"
        "St Thomas à Becket,office@st-thomas.sch.uk,126416,x\n"
        "Fleetville,head@fleetville.sch.uk,117137\n"  # fewer fields is fine
        "Padded,pad@padded.sch.uk,100000,,,,\n"  # trailing empty cells from a spreadsheet
        "Too many,x@y.sch.uk,100001,a,b\n"
    )
    assert items[:3] == [
        EmailRow(2, 126416, "office@st-thomas.sch.uk"),
        EmailRow(3, 117137, "head@fleetville.sch.uk"),
        EmailRow(4, 100000, "pad@padded.sch.uk"),
    ]
    assert isinstance(items[3], EmailRejection)
    assert "5 fields but the header has 4" in items[3].reason


@pytest.mark.parametrize(
    "data",
    [
        "\ufeffURN,email\r\n126416,bénédicte@école.fr\r\n".encode(),  # UTF-8 with BOM
        "URN,email\r\n126416,bénédicte@école.fr\r\n".encode(),  # UTF-8 without
        "URN,email\r\n126416,bénédicte@école.fr\r\n".encode("latin-1"),  # legacy fallback
    ],
)
def test_register_encodings(data: bytes) -> None:
    assert list(parse_email_register(io.BytesIO(data))) == [
        EmailRow(2, 126416, "bénédicte@école.fr")
    ]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"\r\n", "empty"),
        (b"URN,address\r\n1,a@b.sch.uk\r\n", r"missing the column\(s\) 'email'.*'URN', 'address'"),
        (b"school,mail\r\n", r"'URN', 'email'"),
        (b"URN,email,EMAIL\r\n", "more than one"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel"),
        (b"\x00\x01\x02\x03binary", "binary"),
    ],
)
def test_register_that_cannot_be_read(data: bytes, match: str) -> None:
    with pytest.raises(EmailRegisterFormatError, match=match):
        parse_email_register(io.BytesIO(data))
