"""Analysis plans: registered as drafts, frozen by the evaluator, never changed once frozen.

Versions number the plans in the order they were registered; every version stays readable, so a
report's "plan v2" can always be looked up. Plain functions; never commit.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import Session, col, select

from analytics.auditing import audit
from analytics.errors import NoFrozenPlan, PlanFrozen, PlanNotFound, PlanNotFrozen
from analytics.models import AnalysisPlan, PlanStatus
from analytics.schemas import PlanContent, PlanPublic
from rlc_shared.audit import utcnow
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


def freeze_plan(
    session: Session, *, plan: AnalysisPlan, actor: Any, reason: str | None
) -> AnalysisPlan:
    """Freeze a draft: from now on it is the plan outcomes are imported and analysed under."""
    _require_draft(plan, "frozen again")
    plan.status = PlanStatus.frozen
    plan.frozen_at = utcnow()
    plan.frozen_by = actor.sub
    session.add(plan)
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
