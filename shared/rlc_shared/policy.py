"""The platform's one authorisation policy: which role may take which action, on which objects.

A request is allowed only when **one** of the token's roles both grants the action and covers the
object: a token with the roles ``auditor`` and ``virtual_school`` may read every school (as an
auditor) but change only its own LA's (as a Virtual School), never another LA's.

Every action of every service is listed in :data:`POLICY` (role → scope). Scopes:

- ``all``: every object;
- ``own_la``: objects of the token's ``la_code`` (a Virtual School acts for its local authority);
- ``own_school``: the token's own ``urn`` (a school sees only itself).

A grant may also name the one token subject it is for: only the randomisation service itself
(``sub=service:randomisation``) may record a school's arm.

Answers: no role of the token grants the action at all → 403 (nothing about the object is
looked at, or revealed). A role grants it but no role's scope covers the object → the object is
answered exactly as a missing one (404) when the token cannot even read it, and 403 when it can.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fastapi import Depends, Request

from rlc_shared.auth import Principal, Role, principal_of
from rlc_shared.errors import Forbidden, ProblemError


class Scope(StrEnum):
    all = "all"
    own_la = "own_la"
    own_school = "own_school"


@dataclass(frozen=True)
class Grant:
    scope: Scope
    #: Only a token with exactly this subject (e.g. one service's own identity).
    subject: str | None = None


@dataclass(frozen=True)
class Action:
    name: str
    description: str
    writes: bool
    grants: Mapping[Role, Grant]


@dataclass(frozen=True)
class Target:
    """What an action is about: a local authority (``la_code``) or a school (``urn`` and its LA)."""

    la_code: str | None = None
    urn: int | None = None


ALL, OWN_LA, OWN_SCHOOL = Grant(Scope.all), Grant(Scope.own_la), Grant(Scope.own_school)
RANDOMISATION_SERVICE = "service:randomisation"

R = Role
_TRIAL_TEAM_READ = {R.trial_manager: ALL, R.evaluator: ALL, R.delivery: ALL, R.auditor: ALL}
_SCHOOL_READERS = {
    **_TRIAL_TEAM_READ,
    R.service: ALL,
    R.virtual_school: OWN_LA,
    R.school: OWN_SCHOOL,
}
_SCHOOL_EDITORS = {R.trial_manager: ALL, R.virtual_school: OWN_LA, R.school: OWN_SCHOOL}
_LA_EDITORS = {R.trial_manager: ALL, R.virtual_school: OWN_LA}


def _actions(*actions: tuple[str, str, bool, Mapping[Role, Grant]]) -> dict[str, Action]:
    return {name: Action(name, text, writes, grants) for name, text, writes, grants in actions}


#: The whole policy, every service's actions: (action, what it is, writes?, role → scope).
POLICY: dict[str, Action] = _actions(
    # --- every service
    ("audit.read", "read the service's audit trail", False,
     {R.trial_manager: ALL, R.auditor: ALL}),
    # --- recruitment: local authorities
    ("la.read", "read registered local authorities and their Virtual School", False,
     {**_TRIAL_TEAM_READ, R.service: ALL, R.virtual_school: OWN_LA}),
    ("la.register", "register a local authority's expression of interest", True, _LA_EDITORS),
    ("la.update", "change an LA's name or target", True, {R.trial_manager: ALL}),
    ("la.sign_dsa", "record the signed data sharing agreement", True, _LA_EDITORS),
    ("la.read_dsa_document", "download the signed data sharing agreement", False,
     {R.trial_manager: ALL, R.auditor: ALL, R.virtual_school: OWN_LA}),
    ("la.set_virtual_school", "set the LA's Virtual School", True, _LA_EDITORS),
    ("funnel.read", "read the recruitment funnel", False,
     {**_TRIAL_TEAM_READ, R.virtual_school: OWN_LA}),
    # --- recruitment: GIAS
    ("gias.import", "import a GIAS extract or email register", True, {R.trial_manager: ALL}),
    ("gias.read_imports", "read GIAS import records", False,
     {R.trial_manager: ALL, R.auditor: ALL}),
    # --- recruitment: schools and staff
    ("school.read", "read schools, their history and staff", False, _SCHOOL_READERS),
    ("school.list_randomisable", "list schools ready for randomisation", False,
     {R.trial_manager: ALL, R.service: ALL}),
    ("school.nominate", "nominate a school for the trial", True, _LA_EDITORS),
    ("school.assess_eligibility", "enter Year 5/6 counts and decide eligibility", True,
     _LA_EDITORS),
    ("school.consent", "record the head teacher's consent", True, _SCHOOL_EDITORS),
    ("school.read_consent_form", "download the signed consent form", False,
     {R.trial_manager: ALL, R.auditor: ALL, R.virtual_school: OWN_LA, R.school: OWN_SCHOOL}),
    ("school.record_allocation", "record the arm the randomisation service allocated", True,
     {R.service: Grant(Scope.all, subject=RANDOMISATION_SERVICE)}),
    ("school.withdraw", "withdraw a school from the trial", True, _SCHOOL_EDITORS),
    ("school.set_email", "set a school's GIAS email", True, {R.trial_manager: ALL}),
    ("staff.edit", "add staff, record their consent or withdrawal", True, _SCHOOL_EDITORS),
    ("staff.lookup", "find staff records by email address", False,
     {R.trial_manager: ALL, R.service: ALL}),
    # --- randomisation
    ("randomisation.read", "read schemes and runs", False,
     {R.trial_manager: ALL, R.evaluator: ALL, R.auditor: ALL}),
    ("randomisation.manage", "define schemes, freeze, execute, abandon and notify runs", True,
     {R.trial_manager: ALL}),
    ("allocation.read", "read executed live allocations", False, _SCHOOL_READERS),
    ("allocation.read_test", "read test-mode allocations", False, {R.trial_manager: ALL}),
    ("allocation.mark_in_error", "flag an allocation as made in error", True,
     {R.trial_manager: ALL}),
    ("log.read", "read the randomisation log, proofs and checkpoints", False,
     {R.trial_manager: ALL, R.auditor: ALL}),
    # --- surveys
    ("survey.manage", "manage rounds, codebooks, exports and the unmatched queue", True,
     {R.evaluator: ALL}),
    ("survey.upload_export", "upload a survey export by hand", True,
     {R.evaluator: ALL, R.trial_manager: ALL}),
    ("survey.read", "read rounds, exports, scores and pseudonymised responses", False,
     {R.evaluator: ALL, R.trial_manager: ALL, R.auditor: ALL, R.service: ALL}),
    ("survey.read_response_rates", "read response rates", False,
     {R.evaluator: ALL, R.trial_manager: ALL, R.auditor: ALL, R.service: ALL,
      R.virtual_school: OWN_LA, R.school: OWN_SCHOOL}),
    ("survey.read_non_responders", "read the schools with no response yet (for reminders)", False,
     {R.evaluator: ALL, R.trial_manager: ALL, R.auditor: ALL, R.virtual_school: OWN_LA}),
    # --- workshops
    ("workshop.manage", "manage the programme, cohorts, sessions and attendance", True,
     {R.delivery: ALL}),
    ("workshop.read", "read the programme, cohorts, sessions and evaluation records", False,
     {R.delivery: ALL, R.evaluator: ALL, R.trial_manager: ALL, R.auditor: ALL, R.service: ALL}),
    ("workshop.read_attendance",
     "read attendance and dosage, and the cohorts and sessions they belong to", False,
     {R.delivery: ALL, R.evaluator: ALL, R.trial_manager: ALL, R.auditor: ALL, R.service: ALL,
      R.virtual_school: OWN_LA, R.school: OWN_SCHOOL}),
    ("evaluation.manage",
     "manage observations, case studies, incentives, costs and the compliance rule", True,
     {R.evaluator: ALL}),
    # --- analytics
    ("analysis.manage", "register and freeze plans, import outcomes, run analyses", True,
     {R.evaluator: ALL}),
    ("analysis.read", "read reports, tables and pictures", False,
     {R.evaluator: ALL, R.trial_manager: ALL, R.auditor: ALL}),
    ("design.calculate", "use the power calculator", False,
     {R.evaluator: ALL, R.trial_manager: ALL, R.auditor: ALL}),
)  # fmt: skip


def action(name: str) -> Action:
    try:
        return POLICY[name]
    except KeyError:
        raise KeyError(f"{name!r} is not an action of the policy") from None


def _grants(principal: Principal, act: Action) -> list[Grant]:
    """The grants of ``act`` held through the token's roles (its subject permitting)."""
    found = []
    for role in principal.roles:
        grant = act.grants.get(role)  # type: ignore[call-overload]
        if grant is not None and (grant.subject is None or grant.subject == principal.sub):
            found.append(grant)
    return found


def _covers(principal: Principal, grant: Grant, target: Target) -> bool:
    if grant.scope is Scope.all:
        return True
    if grant.scope is Scope.own_la:
        return principal.la_code is not None and target.la_code == principal.la_code
    return principal.urn is not None and target.urn == principal.urn


def permits(principal: Principal, name: str, target: Target | None = None) -> bool:
    """Whether one of the token's roles grants ``name`` and (if given) covers ``target``."""
    grants = _grants(principal, action(name))
    if target is None:
        return bool(grants)
    return any(_covers(principal, g, target) for g in grants)


def _roles_granting(act: Action) -> str:
    return ", ".join(sorted(str(r) for r in act.grants))


def require_action(principal: Principal, name: str) -> None:
    """403 unless some role of the token grants the action (at least for some objects)."""
    act = action(name)
    if not _grants(principal, act):
        raise Forbidden(
            f"Your token's roles do not allow you to {act.description}; "
            f"roles that may: {_roles_granting(act)}.",
            action=name,
        )


def authorize(
    principal: Principal,
    name: str,
    target: Target,
    *,
    hidden: Callable[[], ProblemError],
    visible_via: str | None = None,
) -> None:
    """Allow ``name`` on ``target`` or raise.

    ``hidden`` builds the error for an object the token may not even see (``visible_via``, the
    read action of that kind of object): it must be identical to the not-found error, so that
    403 versus 404 cannot tell anyone whether the object exists.
    """
    require_action(principal, name)
    if permits(principal, name, target):
        return
    if visible_via is not None and visible_via != name and permits(principal, visible_via, target):
        raise Forbidden(
            f"Your token's roles do not allow you to {action(name).description} for this "
            f"{'school' if target.urn is not None else 'local authority'}.",
            action=name,
        )
    raise hidden()


@dataclass(frozen=True)
class Visibility:
    """The objects an action reaches for one token: everything, or these LAs and schools."""

    everything: bool = False
    la_codes: frozenset[str] = field(default_factory=frozenset)
    urns: frozenset[int] = field(default_factory=frozenset)

    @property
    def nothing(self) -> bool:
        return not (self.everything or self.la_codes or self.urns)

    def covers(self, target: Target) -> bool:
        return (
            self.everything
            or (target.la_code is not None and target.la_code in self.la_codes)
            or (target.urn is not None and target.urn in self.urns)
        )


def visibility(principal: Principal, name: str) -> Visibility:
    """Union of the scopes of every role of the token that grants ``name``: the scope filter
    of list queries."""
    las: set[str] = set()
    urns: set[int] = set()
    for grant in _grants(principal, action(name)):
        if grant.scope is Scope.all:
            return Visibility(everything=True)
        if grant.scope is Scope.own_la and principal.la_code is not None:
            las.add(principal.la_code)
        if grant.scope is Scope.own_school and principal.urn is not None:
            urns.add(principal.urn)
    return Visibility(la_codes=frozenset(las), urns=frozenset(urns))


def scope_filter(vis: Visibility, *, la_code: Any = None, urn: Any = None) -> Any:
    """A SQL condition for ``vis`` on the given columns (``None`` when everything is visible)."""
    from sqlalchemy import false, or_

    if vis.everything:
        return None
    conditions = []
    if la_code is not None and vis.la_codes:
        conditions.append(la_code.in_(sorted(vis.la_codes)))
    if urn is not None and vis.urns:
        conditions.append(urn.in_(sorted(vis.urns)))
    return or_(*conditions) if conditions else false()


def requires(name: str) -> Any:
    """Route dependency: 403 before anything else when no role of the token grants ``name``."""
    action(name)  # fail at import time for a misspelt action

    async def _check(request: Request) -> Principal:  # no I/O: no thread-pool hop
        principal = principal_of(request)
        require_action(principal, name)
        return principal

    _check.__name__ = f"requires_{name.replace('.', '_')}"
    return Depends(_check)


def object_loader(action_name: str, load: Callable[..., Any], *, name: str) -> Any:
    """``load`` (a validating loader of the object in the path, for ``action_name``) as a
    dependency: ``async`` for a read action (a bounded lookup on the event loop is cheaper than a
    thread-pool hop), a plain ``def`` for a write, which may wait for a row lock and must not hold
    up the event loop meanwhile (docs/architecture.md, "Sync or async")."""
    if action(action_name).writes:
        fn = load
    else:

        async def fn(**kwargs: Any) -> Any:
            return load(**kwargs)

        # Resolved here: the wrapper lives in this module, the annotations in the loader's.
        fn.__signature__ = inspect.signature(load, eval_str=True)  # type: ignore[attr-defined]
    fn.__name__ = f"{name}_{action_name.replace('.', '_')}"
    return Depends(fn)


def table(actions: Iterable[Action] | None = None) -> list[dict[str, Any]]:
    """The policy as rows (for docs/security.md and its test)."""
    rows = []
    for act in actions or POLICY.values():
        rows.append(
            {
                "action": act.name,
                "writes": act.writes,
                "grants": {
                    str(role): grant.scope.value
                    + (f" (sub={grant.subject})" if grant.subject else "")
                    for role, grant in sorted(act.grants.items())
                },
            }
        )
    return rows


def markdown_table() -> str:
    """The policy as the markdown table docs/security.md holds (a test keeps the two equal)."""
    roles = list(Role)
    short = {"all": "all", "own_la": "own LA", "own_school": "own school"}
    lines = [
        "| action | writes | " + " | ".join(str(r) for r in roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for act in POLICY.values():
        cells = []
        for role in roles:
            grant = act.grants.get(role)
            if grant is None:
                cells.append("–")
            else:
                cell = short[grant.scope.value]
                cells.append(cell + (f" (`{grant.subject}` only)" if grant.subject else ""))
        lines.append(
            f"| `{act.name}` {act.description} | {'yes' if act.writes else 'no'} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
