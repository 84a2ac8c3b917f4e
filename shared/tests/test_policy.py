"""The one authorisation policy: one role must both grant the action and cover the object."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select

from rlc_shared.auth import Principal, Role
from rlc_shared.errors import Forbidden, NotFound
from rlc_shared.policy import (
    POLICY,
    RANDOMISATION_SERVICE,
    Scope,
    Target,
    authorize,
    permits,
    require_action,
    scope_filter,
    table,
    visibility,
)


def who(*roles: str, la: str | None = None, urn: int | None = None, sub: str = "t") -> Principal:
    return Principal(sub=sub, roles=frozenset(roles), la_code=la, urn=urn)


SCHOOL_202 = Target(la_code="202", urn=100001)
SCHOOL_370 = Target(la_code="370", urn=100003)
LA_370 = Target(la_code="370")


def missing() -> NotFound:
    return NotFound("There is no such school.")


# --- the findings of the security probe ------------------------------------------------------


def test_auditor_and_virtual_school_cannot_write_another_la() -> None:
    token = who("auditor", "virtual_school", la="202")
    assert permits(token, "la.read", LA_370)  # as an auditor
    assert not permits(token, "la.set_virtual_school", LA_370)
    with pytest.raises(Forbidden):  # it can see LA 370, so 403 rather than 404
        authorize(token, "la.set_virtual_school", LA_370, hidden=missing, visible_via="la.read")
    authorize(
        token, "la.set_virtual_school", Target(la_code="202"), hidden=missing, visible_via="la.read"
    )


def test_evaluator_and_school_cannot_act_for_another_school() -> None:
    token = who("evaluator", "school", urn=100001)
    with pytest.raises(Forbidden):
        authorize(token, "school.withdraw", SCHOOL_370, hidden=missing, visible_via="school.read")
    with pytest.raises(Forbidden):
        authorize(
            token, "school.read_consent_form", SCHOOL_370, hidden=missing, visible_via="school.read"
        )
    authorize(token, "school.withdraw", SCHOOL_202, hidden=missing, visible_via="school.read")


def test_out_of_scope_object_is_answered_as_missing() -> None:
    school = who("school", urn=100001)
    with pytest.raises(NotFound, match="no such school"):
        authorize(school, "school.read", SCHOOL_370, hidden=missing, visible_via="school.read")
    vs = who("virtual_school", la="202")
    with pytest.raises(NotFound):
        authorize(vs, "allocation.read", SCHOOL_370, hidden=missing, visible_via="allocation.read")


def test_no_granting_role_is_403_before_the_object_is_considered() -> None:
    with pytest.raises(Forbidden, match="roles that may: trial_manager"):
        require_action(who("auditor"), "school.set_email")
    with pytest.raises(Forbidden):
        authorize(who("auditor"), "school.set_email", SCHOOL_202, hidden=missing)


def test_only_the_randomisation_service_records_an_arm() -> None:
    assert permits(who("service", sub=RANDOMISATION_SERVICE), "school.record_allocation")
    assert not permits(who("service", sub="service:surveys"), "school.record_allocation")
    assert not permits(who("trial_manager"), "school.record_allocation")
    assert not permits(who("trial_manager", "service", sub="tm"), "school.record_allocation")


def test_a_scope_claim_is_needed_for_a_scoped_role() -> None:
    assert not permits(who("virtual_school"), "school.read", SCHOOL_202)
    assert not permits(who("school"), "school.read", SCHOOL_202)
    assert visibility(who("school"), "school.read").nothing


# --- the table -------------------------------------------------------------------------------


def test_auditors_only_read() -> None:
    for act in POLICY.values():
        if act.writes:
            assert Role.auditor not in act.grants, act.name


def test_every_grant_is_a_known_role_and_scope() -> None:
    for act in POLICY.values():
        assert act.grants, act.name
        for role, grant in act.grants.items():
            assert role in set(Role) and grant.scope in set(Scope)
    rows = table()
    assert {r["action"] for r in rows} == set(POLICY)
    assert rows[0]["grants"]


def test_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="not an action"):
        permits(who("trial_manager"), "school.delete_everything")


# --- scope filters for queries ---------------------------------------------------------------


def test_visibility_is_the_union_of_granting_roles() -> None:
    both = visibility(who("virtual_school", "school", la="202", urn=100003), "school.read")
    assert both.la_codes == {"202"} and both.urns == {100003} and not both.everything
    assert both.covers(SCHOOL_202) and both.covers(SCHOOL_370)
    assert not both.covers(Target(la_code="865", urn=100009))
    # A role that does not grant the action adds nothing.
    assert visibility(who("school", urn=100001), "school.list_randomisable").nothing
    assert visibility(who("auditor", "school", urn=1), "school.read").everything


def test_scope_filter_sql() -> None:
    schools = Table(
        "school", MetaData(), Column("urn", Integer, primary_key=True), Column("la_code", String)
    )
    cond = scope_filter(
        visibility(who("virtual_school", "school", la="202", urn=100003), "school.read"),
        la_code=schools.c.la_code,
        urn=schools.c.urn,
    )
    sql = str(select(schools).where(cond).compile(compile_kwargs={"literal_binds": True}))
    assert "school.la_code IN ('202')" in sql and "school.urn IN (100003)" in sql
    nothing = scope_filter(visibility(who("school"), "school.read"), urn=schools.c.urn)
    assert "false" in str(nothing.compile()).lower() or str(nothing.compile()) in ("0", "1 != 1")
    assert scope_filter(visibility(who("trial_manager"), "school.read"), urn=schools.c.urn) is None
