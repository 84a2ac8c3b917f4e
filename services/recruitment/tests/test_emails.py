"""The URN,email register; no message may echo an address."""

from __future__ import annotations

import io

import pytest

from recruitment.emails import (
    EmailRegisterFormatError,
    EmailRejection,
    EmailRow,
    parse_email_register,
)

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
    assert "URN '12A' is not a whole number" in reasons[0]
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
