"""Email addresses: normalisation and extraction from what people and exports actually write.

Email addresses are personal data as far as this code is concerned: no message, exception or
reason built here contains an address, or its local part or domain. Callers should keep it that
way (log line numbers, not values).
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

__all__ = ["InvalidEmail", "domain_of", "extract_address", "normalise_email"]


class InvalidEmail(ValueError):
    """An address that is not valid. ``problem`` is the short cause; neither echoes the address."""

    def __init__(self, problem: str, *, line: int | None = None) -> None:
        where = f"on line {line} " if line is not None else ""
        super().__init__(f"The email {where}is not a valid address: {problem}")
        self.problem = problem
        self.line = line


def _problem(address: str) -> str | None:
    """The common mistakes, worded briefly; None means ask email_validator."""
    if "@" not in address:
        return "missing @"
    if address.count("@") > 1:  # quoted local parts, the only legal way, are refused anyway
        return "more than one @"
    local, _, domain = address.rpartition("@")
    if not local:
        return "nothing before the @"
    if not domain:
        return "nothing after the @"
    if any(c.isspace() for c in address):
        return "it contains a space"
    return None


def _redact(message: str, address: str) -> str:
    """email_validator's message with any echo of the address, or of its parts, removed."""
    local, _, domain = address.rpartition("@")
    for part in sorted({address, local, domain}, key=len, reverse=True):
        if len(part) > 1:  # single characters ("," "@") are the useful part of the message
            message = message.replace(part, "…")
    message = message.strip().rstrip(".")
    return message[:1].lower() + message[1:]


def normalise_email(raw: str, *, line: int | None = None) -> str:
    """Trim, validate (syntax only, no DNS) and return the address with its domain lower-cased.

    The local part is kept as given (case matters to some mail servers); the domain is
    lower-cased and an internationalised domain is given in its Unicode form, so the punycode
    and Unicode spellings of one address normalise alike. Raises ``InvalidEmail``.
    """
    address = raw.strip()
    if not address:
        raise InvalidEmail("it is empty", line=line)
    problem = _problem(address)
    if problem is None:
        try:
            return validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            problem = _redact(str(exc), address)
    # from None: the chained exception's message could carry the domain into a log.
    raise InvalidEmail(problem, line=line) from None


_MAILTO = re.compile(r"^\s*mailto:", re.IGNORECASE)
_ANGLED = re.compile(r"<([^<>]*)>")


def extract_address(raw: str) -> str:
    """The bare address in what an export or a form holds: ``mailto:a@b``, ``<a@b>``,
    ``"Head, Office" <a@b>``, ``Head Office <a@b>``, or ``a@b`` with stray spaces or quotes.

    Only extracts; call :func:`normalise_email` on the result to validate it. Returns the input
    trimmed if no address-like part is found.
    """
    text = raw.strip()
    angled = _ANGLED.findall(text)
    if angled:
        text = angled[-1]  # a display name comes first: "Name <address>"
    text = _MAILTO.sub("", text.strip().strip("'\"").strip())
    return text.split("?", 1)[0].strip()  # mailto:a@b?subject=...


def domain_of(address: str) -> str:
    """The lower-cased domain of a normalised address."""
    return address.rpartition("@")[2].casefold()
