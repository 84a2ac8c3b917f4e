"""Analysis plans: registered as drafts, frozen by the evaluator, never changed once frozen.

Versions number the plans in the order they were registered; every version stays readable, so a
report's "plan v2" can always be looked up. A freeze checks the compliance rule the plan names
in the workshops service, over HTTP and outside any transaction. Plain functions; never commit.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import Session, col, select

from analytics.auditing import audit
from analytics.errors import (
    ComplianceRuleNotFrozen,
    NoFrozenPlan,
    PlanChanged,
    PlanFrozen,
    PlanNotFound,
    PlanNotFrozen,
    continuing,
)
from analytics.models import AnalysisPlan, PlanStatus
from analytics.schemas import PlanContent, PlanPublic
from analytics.upstreams import Upstreams
from rlc_shared.audit import utcnow
from rlc_shared.db import Transactions
from rlc_shared.errors import UpstreamError
from rlc_shared.pagination import Page, PageParams, paginate

ENTITY = "analysis_plan"


def canonical_json(content: dict[str, Any]) -> str:
    """One text per meaning: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def _content(data: PlanContent) -> dict[str, Any]:
    return data.model_dump(mode="json")


def public(plan: AnalysisPlan) -> PlanPublic:
    return PlanPublic.model_validate(plan)


def plan_missing(version: int) -> PlanNotFound:
    return PlanNotFound(f"There is no analysis plan version {version}; see GET /plans.")


def get_plan(session: Session, *, version: int, lock: bool = False) -> AnalysisPlan:
    plan = session.get(AnalysisPlan, version, with_for_update=lock or None)
    if plan is None:
        raise plan_missing(version)
    return plan


def list_plans(session: Session, *, page: PageParams) -> Page[PlanPublic]:
    rows, count, cursor = paginate(
        session, select(AnalysisPlan), key=col(AnalysisPlan.version), params=page
    )
    return Page(data=[public(p) for p in rows], count=count, next_cursor=cursor)


def create_plan(session: Session, *, data: PlanContent, actor: Any) -> AnalysisPlan:
    content = _content(data)
    plan = AnalysisPlan(content=content, fingerprint=fingerprint(content), created_by=actor.sub)
    session.add(plan)
    session.flush()
    audit(
        session,
        actor=actor,
        action="plan.registered",
        entity_type=ENTITY,
        entity_id=plan.version,
        new={"status": plan.status, "fingerprint": plan.fingerprint, "content": content},
    )
    return plan


def _require_draft(plan: AnalysisPlan, doing: str) -> None:
    if plan.status == PlanStatus.frozen:
        raise PlanFrozen(
            f"Plan version {plan.version} was frozen on {plan.frozen_at:%Y-%m-%d %H:%M} UTC and "
            f"cannot be {doing}; register a new version with POST /plans.",
            version=plan.version,
        )


def update_plan(
    session: Session, *, plan: AnalysisPlan, data: PlanContent, actor: Any
) -> AnalysisPlan:
    """Replace a draft's content; the same content again changes nothing."""
    _require_draft(plan, "changed")
    content = _content(data)
    new_fingerprint = fingerprint(content)
    if new_fingerprint == plan.fingerprint:
        return plan
    old = {"fingerprint": plan.fingerprint, "content": plan.content}
    plan.content = content
    plan.fingerprint = new_fingerprint
    plan.updated_at = utcnow()
    session.add(plan)
    audit(
        session,
        actor=actor,
        action="plan.updated",
        entity_type=ENTITY,
        entity_id=plan.version,
        old=old,
        new={"fingerprint": new_fingerprint, "content": content},
    )
    return plan


def _frozen_rule(upstreams: Upstreams, *, plan_version: int, rule_version: int) -> dict[str, Any]:
    """The workshops service's compliance rule ``rule_version``, which must exist and be frozen
    (a plan naming any other could never give its CACE); called outside any transaction."""
    path = f"/compliance-rules/{rule_version}"
    try:
        rule = upstreams.workshops.get_or_none(path)
    except UpstreamError as exc:
        reason = continuing(exc.detail, otherwise="the workshops service failed saying nothing.")
        raise UpstreamError(
            f"Plan version {plan_version} was not frozen: the compliance rule version "
            f"{rule_version} it names must be checked in the workshops service, and {reason}",
            status=exc.status,
            upstream="workshops",
        ) from None
    if rule is None:
        raise ComplianceRuleNotFrozen(
            f"Plan version {plan_version} names compliance rule version {rule_version}, which the "
            f"workshops service does not have: create and freeze the rule there, or name a frozen "
            f"one (PUT /plans/{plan_version}), then freeze the plan.",
            compliance_rule_version=rule_version,
        )
    if (
        not isinstance(rule, dict)
        or rule.get("version") != rule_version
        or rule.get("status") not in ("draft", "frozen")
    ):
        raise UpstreamError(
            f"Plan version {plan_version} was not frozen: the workshops service answered GET "
            f"{path} with something other than that compliance rule.",
            upstream="workshops",
        )
    if rule["status"] != "frozen":
        raise ComplianceRuleNotFrozen(
            f"Plan version {plan_version} names compliance rule version {rule_version}, which is "
            f"still a draft in the workshops service: freeze it there (POST {path}/freeze) "
            f"before the plan, so the rule the CACE uses cannot change after it.",
            compliance_rule_version=rule_version,
        )
    return rule


def freeze_plan(
    transactions: Transactions,
    *,
    upstreams: Upstreams,
    version: int,
    actor: Any,
    reason: str | None,
) -> AnalysisPlan:
    """Freeze a draft: from now on it is the plan outcomes are imported and analysed under.

    The compliance rule it names is checked in the workshops service first (a rule that does not
    exist or is a draft refuses the freeze: 409; workshops unreachable: 503, nothing changed),
    between two short transactions; the draft must not have changed in between."""
    with transactions() as session:
        plan = get_plan(session, version=version)
        _require_draft(plan, "frozen again")
        checked = plan.fingerprint
        rule_version = plan.content.get("compliance_rule_version")
    rule = (
        _frozen_rule(upstreams, plan_version=version, rule_version=rule_version)
        if rule_version is not None
        else None
    )
    with transactions() as session:
        plan = get_plan(session, version=version, lock=True)
        _require_draft(plan, "frozen again")
        if plan.fingerprint != checked:
            raise PlanChanged(
                f"Plan version {version} changed while it was being frozen; read it again "
                f"(GET /plans/{version}) and freeze it then.",
                version=version,
            )
        plan.status = PlanStatus.frozen
        plan.frozen_at = utcnow()
        plan.frozen_by = actor.sub
        session.add(plan)
        checked_rule = (
            # The rule as the workshops service had it frozen when the plan was frozen.
            {"compliance_rule": {k: rule.get(k) for k in ("version", "fingerprint", "frozen_at")}}
            if rule is not None
            else {}
        )
        audit(
            session,
            actor=actor,
            action="plan.frozen",
            entity_type=ENTITY,
            entity_id=plan.version,
            old={"status": PlanStatus.draft.value},
            new={
                "status": plan.status,
                "frozen_at": plan.frozen_at,
                "fingerprint": plan.fingerprint,
                **checked_rule,
            },
            reason=reason,
        )
    return plan


def latest_frozen(session: Session) -> AnalysisPlan | None:
    return session.exec(
        select(AnalysisPlan)
        .where(AnalysisPlan.status == PlanStatus.frozen)
        .order_by(col(AnalysisPlan.version).desc())
        .limit(1)
    ).first()


def frozen_plan(session: Session, *, version: int | None, doing: str) -> AnalysisPlan:
    """The frozen plan ``version`` (default: the latest frozen one), or a 409 saying why not."""
    if version is None:
        plan = latest_frozen(session)
        if plan is None:
            raise NoFrozenPlan(
                f"No analysis plan is frozen yet, so {doing} is not possible: register the plan "
                "(POST /plans) and freeze it (POST /plans/{version}/freeze) first."
            )
        return plan
    plan = get_plan(session, version=version)
    if plan.status != PlanStatus.frozen:
        raise PlanNotFrozen(
            f"Plan version {version} is a draft; freeze it (POST /plans/{version}/freeze) "
            f"before {doing}."
        )
    return plan
