"""Linking a response to a trial school through the school email it was sent to.

In order: an evaluator's earlier decision for that address (``manual``); the school whose
current or earlier GIAS email it is, asked of the recruitment service in one bulk call for all
the new addresses of a chunk (``exact``, ``historical``); the only trial school whose GIAS email
uses the address's domain, unless the domain is a shared email provider or one several trial
schools share, such as an LA-wide domain (``domain``). Anything else goes to the unmatched
queue with the reason. An evaluator's decision comes first because a person made it, with a
reason, for exactly this address; an automatic rule should not quietly override it later.

Answers are remembered for the whole export, so an address used by forty teachers is asked
about once, and the trial schools' domains are fetched once, only if some address needs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rlc_shared.emails import InvalidEmail, domain_of
from surveys.models import LinkKind
from surveys.pseudonyms import Pseudonymiser, email_key, redact_email

__all__ = [
    "SHARED_PROVIDERS",
    "Link",
    "Linker",
    "SchoolDirectory",
    "is_shared_domain",
]

#: Domains that many unrelated people use: an address there says nothing about its school.
SHARED_PROVIDERS = frozenset(
    {
        "aol.com",
        "aol.co.uk",
        "blueyonder.co.uk",
        "btconnect.com",
        "btinternet.com",
        "btopenworld.com",
        "gmail.com",
        "gmx.co.uk",
        "gmx.com",
        "googlemail.com",
        "hotmail.co.uk",
        "hotmail.com",
        "icloud.com",
        "live.co.uk",
        "live.com",
        "mac.com",
        "mail.com",
        "me.com",
        "msn.com",
        "ntlworld.com",
        "outlook.co.uk",
        "outlook.com",
        "plus.net",
        "proton.me",
        "protonmail.com",
        "rocketmail.com",
        "sky.com",
        "talktalk.net",
        "tiscali.co.uk",
        "virginmedia.com",
        "yahoo.co.uk",
        "yahoo.com",
        "ymail.com",
        "zoho.com",
    }
)


def is_shared_domain(domain: str) -> bool:
    """A shared provider, or a council's own domain (``camden.gov.uk``): LA-wide addresses are
    used by the council and many schools, so the domain never identifies one school."""
    return domain in SHARED_PROVIDERS or domain == "gov.uk" or domain.endswith(".gov.uk")


class SchoolDirectory(Protocol):
    """What linking needs of the recruitment service (``rlc_clients.RecruitmentClient``)."""

    def schools_by_emails(self, emails: Sequence[str]) -> list[dict[str, Any]]: ...

    def iter_schools(self, *, page_size: int = 500, **filters: Any) -> Iterable[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class Link:
    """Where one school email led. ``kind`` None: unmatched, with ``reason`` and ``detail``."""

    urn: int | None
    la_code: str | None
    kind: LinkKind | None
    email_hash: str | None
    domain: str | None
    display: str | None
    reason: str | None = None
    detail: str | None = None


_NO_EMAIL = Link(
    None, None, None, None, None, None, "no-email", "The response has no school email."
)


class Linker:
    """Links the school emails of one export's chunks (see the module's docstring)."""

    def __init__(
        self,
        *,
        directory: SchoolDirectory,
        pseudonymiser: Pseudonymiser,
        manual: Mapping[str, tuple[int, str | None]],
    ) -> None:
        self._directory = directory
        self._pseudonymiser = pseudonymiser
        self._manual = dict(manual)
        self._found: dict[str, tuple[int, str | None, LinkKind] | None] = {}
        self._domains: dict[str, list[tuple[int, str | None]]] | None = None
        self.lookups = 0  # bulk calls made to the recruitment service (one per chunk at most)

    def link(self, cells: Sequence[Any]) -> list[Link]:
        """One Link per cell (a school email as the export holds it), in order."""
        distinct: dict[Any, Link | str] = {}
        for cell in cells:
            key = cell if _hashable(cell) else str(cell)
            if key in distinct:
                continue
            try:
                address = email_key(cell)
            except InvalidEmail as exc:
                email_hash = self._pseudonymiser.school_email("invalid:" + str(cell).strip())
                manual = self._manual.get(email_hash)
                distinct[key] = (
                    Link(
                        manual[0], manual[1], LinkKind.manual, email_hash, None, "(not an address)"
                    )
                    if manual is not None
                    else Link(
                        None,
                        None,
                        None,
                        email_hash,
                        None,
                        "(not an address)",
                        "invalid-email",
                        f"The school email is not a valid address: {exc.problem}.",
                    )
                )
                continue
            distinct[key] = _NO_EMAIL if address is None else address
        addresses = sorted({v for v in distinct.values() if isinstance(v, str)})
        self._look_up([a for a in addresses if a not in self._found and not self._manual_for(a)])
        resolved = {a: self._resolve(a) for a in addresses}
        return [
            _as_link(distinct[cell if _hashable(cell) else str(cell)], resolved) for cell in cells
        ]

    def blank(self, *, round: str, response_id: str) -> Link:
        """The link of a response without a school email: unmatched, unless an evaluator
        resolved this very response (its hash stands for the response, not for an address)."""
        email_hash = self._pseudonymiser.school_email(f"no-email:{round}:{response_id}")
        manual = self._manual.get(email_hash)
        if manual is not None:
            return Link(manual[0], manual[1], LinkKind.manual, email_hash, None, None)
        return Link(
            None,
            None,
            None,
            email_hash,
            None,
            None,
            "no-email",
            "The response has no school email.",
        )

    def _manual_for(self, address: str) -> tuple[int, str | None] | None:
        return self._manual.get(self._pseudonymiser.school_email(address))

    def _look_up(self, addresses: list[str]) -> None:
        if not addresses:
            return
        self.lookups += 1
        answers = self._directory.schools_by_emails(addresses)
        if len(answers) != len(addresses):
            raise RuntimeError("the recruitment service answered a different number of emails")
        for address, answer in zip(addresses, answers, strict=True):
            urn, match = answer.get("urn"), answer.get("match")
            if urn is None or match not in ("current", "historical"):
                self._found[address] = None
            else:
                kind = LinkKind.exact if match == "current" else LinkKind.historical
                self._found[address] = (int(urn), answer.get("la_code"), kind)

    def _trial_domains(self) -> dict[str, list[tuple[int, str | None]]]:
        if self._domains is None:
            domains: dict[str, list[tuple[int, str | None]]] = {}
            for school in self._directory.iter_schools(in_trial=True):
                email = school.get("gias_email")
                if not email:
                    continue
                try:
                    key = email_key(email)
                except InvalidEmail:
                    continue
                if key is None:
                    continue
                domains.setdefault(domain_of(key), []).append(
                    (int(school["urn"]), school.get("la_code"))
                )
            self._domains = domains
        return self._domains

    def _resolve(self, address: str) -> Link:
        email_hash = self._pseudonymiser.school_email(address)
        domain = domain_of(address)
        display = redact_email(address)
        manual = self._manual.get(email_hash)
        if manual is not None:
            return Link(manual[0], manual[1], LinkKind.manual, email_hash, domain, display)
        found = self._found.get(address)
        if found is not None:
            return Link(found[0], found[1], found[2], email_hash, domain, display)
        if is_shared_domain(domain):
            return Link(
                None,
                None,
                None,
                email_hash,
                domain,
                display,
                "shared-domain",
                "No school has, or has had, this GIAS email, and its domain is a shared email "
                "provider or a council's domain, which does not identify a school.",
            )
        schools = dict(self._trial_domains().get(domain, []))
        if len(schools) == 1:
            ((urn, la_code),) = schools.items()
            return Link(urn, la_code, LinkKind.domain, email_hash, domain, display)
        if len(schools) > 1:
            return Link(
                None,
                None,
                None,
                email_hash,
                domain,
                display,
                "ambiguous-domain",
                f"No school has, or has had, this GIAS email, and {len(schools)} trial schools "
                "use its domain, so it does not say which school it is.",
            )
        return Link(
            None,
            None,
            None,
            email_hash,
            domain,
            display,
            "no-school",
            "No school has, or has had, this GIAS email, and no trial school uses its domain.",
        )


def _hashable(cell: Any) -> bool:
    return isinstance(cell, str | int | float | type(None))


def _as_link(value: Link | str, resolved: Mapping[str, Link]) -> Link:
    return resolved[value] if isinstance(value, str) else value
