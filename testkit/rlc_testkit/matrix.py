"""The authorisation matrix every service's ``test_*_authorisation.py`` checks: identities (single
roles and combined-role tokens) × every endpoint × own and other object.

A request is allowed only when ONE role of the token both grants the action and covers the
object. Each test writes out its own specification (action → role → scope), independently of
``rlc_shared.policy``; this module only reads a specification, it holds none. A role keyed
``"service@<sub>"`` grants the action to a service token with that subject alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

ALL, OWN_LA, OWN_SCHOOL = "all", "own_la", "own_school"

#: action → role → scope (``ALL``, ``OWN_LA`` or ``OWN_SCHOOL``).
Spec = Mapping[str, Mapping[str, str]]
Expected = Literal["allowed", "forbidden", "hidden"]


@dataclass(frozen=True)
class Identity:
    name: str
    roles: tuple[str, ...]
    la_code: str | None = None
    urn: int | None = None
    sub: str | None = None

    def claims(self) -> dict[str, Any]:
        """The token's claims besides its roles (``sub`` defaults to one naming the identity)."""
        claims: dict[str, Any] = {"sub": self.sub or f"matrix-{self.name}"}
        if self.la_code:
            claims["la_code"] = self.la_code
        if self.urn:
            claims["urn"] = self.urn
        return claims


@dataclass(frozen=True)
class Target:
    """The object a request acts on: its LA and, for a school's object, the school's URN."""

    la_code: str
    urn: int | None = None


def each_role_alone(la_code: str, urn: int, services: Iterable[str]) -> list[Identity]:
    """The trial team's four roles, a service token per subject (``service:<name>``), the Virtual
    School of ``la_code``, the school ``urn``, then a token with no role at all."""
    return [
        Identity("trial_manager", ("trial_manager",)),
        Identity("evaluator", ("evaluator",)),
        Identity("delivery", ("delivery",)),
        Identity("auditor", ("auditor",)),
        *(
            Identity(f"{sub.removeprefix('service:')} service", ("service",), sub=sub)
            for sub in services
        ),
        Identity("virtual school", ("virtual_school",), la_code=la_code),
        Identity("school", ("school",), urn=urn),
        Identity("no roles", ()),
    ]


def covers(scope: str, who: Identity, target: Target) -> bool:
    """Whether a grant over ``scope`` reaches the target (a missing claim reaches nothing)."""
    if scope == ALL:
        return True
    if scope == OWN_LA:
        return who.la_code is not None and who.la_code == target.la_code
    return who.urn is not None and target.urn is not None and who.urn == target.urn


def scopes(spec: Spec, who: Identity, action: str) -> list[str]:
    """The scope of each of the token's roles that grants the action."""
    grants = spec[action]
    found = []
    for role in who.roles:
        if role in grants:
            found.append(grants[role])
        elif role == "service" and f"service@{who.sub}" in grants:
            found.append(grants[f"service@{who.sub}"])
    return found


def grants(spec: Spec, who: Identity, action: str, target: Target) -> bool:
    """Whether one role of the token both grants the action and covers the target."""
    return any(covers(scope, who, target) for scope in scopes(spec, who, action))


def expected(
    spec: Spec,
    who: Identity,
    actions: str | tuple[str, ...],
    target: Target | None = None,
    *,
    read: str | None = None,
) -> Expected:
    """``forbidden`` unless a role grants every action; then ``allowed`` if there is no target or
    one role granting the first action covers it; otherwise ``hidden``, unless the token may
    ``read`` the target (then it sees the object and is ``forbidden`` to act on it)."""
    needed = (actions,) if isinstance(actions, str) else actions
    if any(not scopes(spec, who, action) for action in needed):
        return "forbidden"
    if target is None or grants(spec, who, needed[0], target):
        return "allowed"
    if read and read != needed[0] and grants(spec, who, read, target):
        return "forbidden"
    return "hidden"


def outcome(resp: httpx.Response, hidden_code: str | None) -> Expected:
    """What the service answered: ``forbidden`` (403), ``hidden`` (404 with the problem type
    ``hidden_code``) or ``allowed`` (anything else, but never 401 or 500)."""
    if resp.status_code == 403:
        return "forbidden"
    if resp.status_code == 404 and resp.json().get("type", "").endswith(f"/{hidden_code}"):
        return "hidden"
    assert resp.status_code not in (401, 500), resp.text
    return "allowed"
