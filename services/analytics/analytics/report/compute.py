"""The whole report from one snapshot: CONSORT, balance, impact, CACE, costs, response, dosage.

Pure: the snapshot's document and the pupil outcomes (or None) in; the report (plain JSON), its
tables (rows for the CSV downloads) and its pictures out. Each section whose input is missing,
or whose model did not converge, says so and carries no numbers; every table row and the report
itself name the snapshot and the plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analytics.balance import balance_table
from analytics.charts import (
    Attendance,
    Effect,
    Picture,
    ResponseRate,
    attendance_chart,
    consort_diagram,
    forest_plot,
    response_rates_chart,
)
from analytics.consort import consort_flow
from analytics.consort_boxes import ConsortFlow
from analytics.costs import CostItem, CostSchool, cost_summary
from analytics.outcomes.validation import EFFECTS, Problems, classify
from analytics.records import CONTROL, INTERVENTION, PupilOutcome, SchoolRecord
from analytics.report import impact
from analytics.report.inputs import Inputs, Missing, arms_of, intervention_urns, stratum_of
from analytics.schemas import PlanContent
from analytics.stats import CrtResult

Progress = Callable[[str, int], None]
SESSIONS_OFFERED = 8
#: School-level reasons: the pupil's row is fine; CONSORT counts (and warns about) them itself.
SCHOOL_REASONS = frozenset(
    {"unknown_urn", "school_not_randomised", "withdrawn_school", "allocation_in_error"}
)


@dataclass
class Bundle:
    report: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]
    pictures: dict[str, Picture]
    missing_pictures: dict[str, str] = field(default_factory=dict)


def _number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _pupils_for_consort(frame: pd.DataFrame, reason: pd.Series) -> list[PupilOutcome]:
    keep = reason.isna() | reason.isin(SCHOOL_REASONS)
    rows = frame.loc[keep.to_numpy()]
    return [
        PupilOutcome(
            urn=int(urn),
            cin=bool(cin),
            lac=bool(lac),
            reading=None if pd.isna(reading) else float(reading),
            maths=None if pd.isna(maths) else float(maths),
        )
        for urn, cin, lac, reading, maths in zip(
            rows["urn"],
            rows["cin"],
            rows["lac"],
            rows["ks2_reading"],
            rows["ks2_maths"],
            strict=True,
        )
    ]


def _outcome_data(
    frame: pd.DataFrame | None,
    reason: pd.Series | None,
    problems: Problems | None,
    label: dict[str, Any] | None,
) -> dict[str, Any]:
    if frame is None or reason is None or problems is None:
        return {"status": "missing_input", "outcome_import": label}
    excluded = reason.dropna().value_counts().to_dict()
    return {
        "status": "present",
        "outcome_import": label,
        "rows": len(frame),
        "analysed_rows": int(reason.isna().sum()),
        "not_analysed": [
            {"kind": kind, "count": int(n), "effect": EFFECTS.get(str(kind), "")}
            for kind, n in sorted(excluded.items(), key=lambda item: str(item[0]))
        ],
        # Found when the rows were checked against this snapshot's schools and allocations, with
        # examples (row numbers and URNs only: no pupil ids here) ...
        "problems": problems.as_list(with_pupil_ids=False),
        # ... and what the import's own checks found (scores out of range, bad flags...).
        "import_problems": (label or {}).get("problems", []),
    }


def _consort_rows(flow: ConsortFlow) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(stage: str, arm: str | None, box: Any) -> None:
        reasons = "; ".join(f"{r} ({n})" for r, n in box.ordered_reasons())
        rows.append(
            {
                "stage": stage,
                "arm": arm or "",
                "box": box.label,
                "schools": box.count,
                "reasons": reasons,
            }
        )

    add("enrolment", None, flow.assessed)
    for box in flow.excluded.boxes().values():
        add("enrolment: excluded", None, box)
    add("enrolment", None, flow.randomised)
    for name, arm in flow.arms.items():
        add("allocation", name, arm.allocated)
        if arm.received is not None:
            for box in arm.received.boxes().values():
                add("allocation: receipt", name, box)
        add("follow-up", name, arm.lost_to_follow_up)
        for key in ("analysed", "excluded_from_analysis", "analysis_pending"):
            add("analysis", name, arm.terminal_boxes()[key])
    return rows


def _teacher_rates(flow: ConsortFlow) -> list[ResponseRate]:
    rates = []
    for name, arm in flow.arms.items():
        if arm.teachers is None or name not in (INTERVENTION, CONTROL):
            continue
        rates.append(ResponseRate(name, "pre", arm.teachers.responded_pre, arm.teachers.consented))
        rates.append(
            ResponseRate(name, "post", arm.teachers.responded_post, arm.teachers.consented)
        )
    return rates


def _dosage(
    inputs: Inputs, arms: dict[int, str] | None, rule_version: int | None
) -> tuple[dict[str, Any], list[Attendance], list[dict[str, Any]]]:
    data = inputs.data("dosage")
    if data is None:
        return {"status": "missing_input", "reason": inputs.why_missing("dosage")}, [], []
    preferred = [
        d for d in data if rule_version and str(d.get("rule_version")) == str(rule_version)
    ]
    rows_used = preferred or data
    chosen: dict[int, dict[str, Any]] = {}
    for d in rows_used:
        chosen.setdefault(int(d["urn"]), d)
    attendance: list[Attendance] = []
    invalid: list[int] = []
    table: list[dict[str, Any]] = []
    for urn, d in sorted(chosen.items()):
        arm = (arms or {}).get(urn, "not randomised")
        sessions = d.get("sessions_attended")
        table.append(
            {
                "urn": urn,
                "arm": arm,
                **{
                    k: d.get(k)
                    for k in (
                        "workshops_attended",
                        "sessions_attended",
                        "minutes",
                        "complier",
                        "rule_version",
                    )
                },
            }
        )
        if isinstance(sessions, int) and 0 <= sessions <= SESSIONS_OFFERED and arms is not None:
            attendance.append(Attendance(urn=urn, arm=arm, sessions_attended=sessions))
        else:
            invalid.append(urn)
    by_arm: dict[str, dict[str, Any]] = {}
    for row in table:
        arm_rows = by_arm.setdefault(row["arm"], {"schools": 0, "compliers": 0, "sessions": []})
        arm_rows["schools"] += 1
        arm_rows["compliers"] += bool(row["complier"])
        if isinstance(row["sessions_attended"], int):
            arm_rows["sessions"].append(row["sessions_attended"])
    summary = {
        arm: {
            "schools": v["schools"],
            "compliers": v["compliers"],
            "mean_sessions_attended": (sum(v["sessions"]) / len(v["sessions"]))
            if v["sessions"]
            else None,
        }
        for arm, v in by_arm.items()
    }
    section = {
        "status": "present",
        "rule_version_used": rule_version if preferred else None,
        "by_arm": summary,
        "schools_not_charted": invalid,
    }
    return section, attendance, table


def _costs(
    inputs: Inputs,
    allocations: list[Any] | None,
    schools: dict[int, SchoolRecord],
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    why = inputs.why_missing("costs", "allocations")
    if why is not None or allocations is None:
        return {"status": "missing_input", "message": why}, [], []
    items: list[CostItem] = []
    bad: list[str] = []
    for position, raw in enumerate(inputs.data("costs")):
        try:
            items.append(CostItem.from_mapping(raw))
        except (KeyError, ValueError, TypeError) as exc:
            bad.append(f"item {raw.get('id', position + 1)}: {exc}")
    if bad:
        return (
            {
                "status": "error",
                "message": "cost items the analysis cannot read (no totals are given until they "
                "are corrected): " + "; ".join(bad[:20]),
            },
            [],
            [],
        )
    cost_schools = [
        CostSchool.from_school(schools[urn]) if urn in schools else CostSchool(urn=urn, pupils=None)
        for urn in intervention_urns(allocations)
    ]
    try:
        summary = cost_summary(items, schools=cost_schools)
    except ValueError as exc:
        return {"status": "error", "message": str(exc)}, [], []
    data = summary.to_dict()
    category_rows = [
        {"category": name, **values} for name, values in data["by_category"].items()
    ] + [
        {
            "category": "total",
            "one_off": data["one_off"],
            "recurring": data["recurring"],
            "total_over_years": data["total_over_years"],
        }
    ]
    return {"status": "present", **data}, category_rows, list(data["school_costs"])


def _effects(
    itt: list[dict[str, Any]], teachers: list[dict[str, Any]], caces: list[dict[str, Any]]
) -> list[Effect]:
    effects = []
    for entry in [*itt, *caces, *teachers]:
        head = entry.get("headline")
        if entry["status"] == "not_planned":
            continue
        if head and head.get("g") is not None and head.get("ci"):
            effects.append(Effect(entry["label"], head["g"], head["ci"][0], head["ci"][1]))
        else:
            effects.append(Effect(entry["label"], math.nan, math.nan, math.nan))
    return effects


def _flatten_effect(entry: dict[str, Any], kind: str) -> dict[str, Any]:
    head = entry.get("headline") or {}
    ci = head.get("ci") or (None, None)
    result = entry.get("result") or {}
    row = {
        "analysis": kind,
        "label": entry["label"],
        "status": entry["status"],
        "message": entry["message"],
        "convention": head.get("convention"),
        "g": head.get("g"),
        "g_ci_lower": ci[0],
        "g_ci_upper": ci[1],
        "beta": result.get("beta", result.get("cace")),
        "se": result.get("se"),
        "p_value": result.get("p_value"),
        "beta_ci_lower": (result.get("ci") or (None, None))[0],
        "beta_ci_upper": (result.get("ci") or (None, None))[1],
    }
    if kind == "itt":
        row |= {
            "icc": result.get("icc"),
            "var_school": result.get("var_school"),
            "var_pupil": result.get("var_pupil"),
            "schools_intervention": (entry.get("schools_per_arm") or {}).get(INTERVENTION),
            "schools_control": (entry.get("schools_per_arm") or {}).get(CONTROL),
            "pupils_intervention": (entry.get("pupils_per_arm") or {}).get(INTERVENTION),
            "pupils_control": (entry.get("pupils_per_arm") or {}).get(CONTROL),
        }
    return row


def _balance_rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for row in table.get("rows", []):
        flat = {"key": row["key"], "label": row["label"], "unit": row["unit"]}
        for arm in (INTERVENTION, CONTROL):
            for k, v in row[arm].items():
                flat[f"{arm}_{k}"] = v
        flat["difference"] = row["difference"]
        flat["smd"] = row["smd"]
        rows.append(flat)
    return rows


def build(
    doc: dict[str, Any],
    outcomes: pd.DataFrame | None,
    *,
    analysis_id: str,
    snapshot: dict[str, Any],
    generated_at: str,
    progress: Progress,
    examples_kept: int = 10,
) -> Bundle:
    """The report of one analysis. ``snapshot``: its ``id``, ``sha256`` and ``taken_at``."""
    plan_label = doc["plan"]
    plan = PlanContent.model_validate(plan_label["content"])
    inputs = Inputs(doc["inputs"])
    warnings: list[str] = []
    missing_pictures: dict[str, str] = {}
    schools_list = inputs.schools()
    school_by_urn = {s.urn: s for s in schools_list or []}
    allocations = inputs.allocations()
    alloc_by_urn = {a.urn: a for a in allocations} if allocations is not None else None
    arms = arms_of(allocations) if allocations is not None else None
    strata = stratum_of(allocations, school_by_urn) if allocations is not None else {}

    # --- pupil outcomes ---
    progress("checking pupil outcomes against the snapshot", 40)
    import_label = doc.get("outcome_import")
    reason: pd.Series | None = None
    problems: Problems | None = None
    analysable: pd.DataFrame | None = None
    pupils_missing: str | None = None
    if outcomes is None:
        pupils_missing = (
            "no pupil outcomes were imported under this plan"
            if import_label is None
            else "the pupil outcomes file could not be read"
        )
        inputs.missing.append(Missing("pupil_outcomes", pupils_missing, "POST /outcomes/imports"))
    else:
        problems = Problems(examples_kept=examples_kept)
        reason = classify(
            outcomes, schools=school_by_urn, allocations=alloc_by_urn, problems=problems
        )
        if arms is not None:
            analysable, frame_warnings = impact.pupil_frame(
                outcomes.loc[reason.isna().to_numpy()], arms=arms, strata=strata
            )
            warnings += frame_warnings
    itt_missing = pupils_missing or inputs.why_missing("allocations")

    # --- ITT ---
    itt_entries: list[dict[str, Any]] = []
    all_fits: dict[str, CrtResult] = {}
    steps = max(len(plan.outcomes) * len(plan.subgroups), 1)
    done = 0
    for outcome in plan.outcomes:
        for group in plan.subgroups:
            progress(f"ITT: {outcome}, {group}", 45 + 25 * done // steps)
            entry, fit = impact.itt_entry(
                analysable,
                outcome=outcome,
                group=group,
                covariates=list(plan.covariates),
                convention=plan.effect_size_convention,
                missing=itt_missing,
            )
            itt_entries.append(entry)
            if group == "all" and fit is not None and fit.converged:
                all_fits[outcome] = fit
            done += 1
    if analysable is not None and "all" not in plan.subgroups:
        for outcome in plan.outcomes:  # the ICC and the CACE's ITT: the whole population
            _, fit = impact.itt_entry(
                analysable,
                outcome=outcome,
                group="all",
                covariates=list(plan.covariates),
                convention=plan.effect_size_convention,
                missing=None,
            )
            if fit is not None and fit.converged:
                all_fits[outcome] = fit

    # --- teachers ---
    progress("teacher outcomes", 72)
    teacher_missing = inputs.why_missing("responses_pre", "responses_post", "allocations")
    teacher_entries = [
        impact.teacher_entry(
            scale=scale,
            pre=inputs.data("responses_pre"),
            post=inputs.data("responses_post"),
            arms=arms,
            missing=teacher_missing,
        )
        for scale in plan.teacher_outcomes
    ]

    # --- CACE ---
    progress("complier average causal effect", 78)
    compliance, compliance_missing = inputs.compliance(plan.compliance_rule_version)
    cace_entries = [
        impact.cace_entry(
            analysable,
            outcome=outcome,
            covariates=list(plan.covariates),
            compliance=compliance,
            arms=arms,
            itt=all_fits.get(outcome),
            missing=itt_missing or compliance_missing,
            rule_version=plan.compliance_rule_version,
        )
        for outcome in plan.outcomes
    ]

    # --- CONSORT ---
    progress("CONSORT flow", 82)
    teachers, teachers_missing = inputs.teachers()
    icc = (
        {
            outcome: fit.icc_unconditional
            for outcome, fit in all_fits.items()
            if fit.icc_unconditional is not None
        }
        if outcomes is not None
        else None
    )
    flow = consort_flow(
        schools=schools_list or [],
        allocations=allocations,
        compliance=compliance,
        teachers=teachers,
        pupils=None
        if outcomes is None or reason is None
        else _pupils_for_consort(outcomes, reason),
        icc=icc or None,
    )
    consort = flow.to_dict()
    consort["reasons_not_known"] = {
        k: v
        for k, v in {
            "schools": inputs.why_missing("schools"),
            "allocations": inputs.why_missing("allocations"),
            "compliance": compliance_missing,
            "teachers": teachers_missing,
            "pupils": pupils_missing,
            "icc": None if icc else "no ITT model of the whole population converged",
        }.items()
        if v
    }

    # --- balance ---
    progress("baseline balance", 85)
    balance: dict[str, Any]
    why_balance = inputs.why_missing("schools", "allocations")
    if why_balance is not None or allocations is None:
        balance = {"status": "missing_input", "message": why_balance}
    else:
        try:
            balance = {
                "status": "present",
                **balance_table(
                    schools=schools_list or [],
                    allocations=allocations,
                    pre_scores=inputs.pre_scores(),
                ).to_dict(),
            }
        except ValueError as exc:
            balance = {"status": "error", "message": str(exc)}

    # --- costs, response, dosage ---
    progress("costs, response rates and dosage", 88)
    costs, cost_rows, school_cost_rows = _costs(inputs, allocations, school_by_urn)
    response_rows: list[dict[str, Any]] = []
    response: dict[str, Any] = {}
    for round_ in ("pre", "post"):
        rates = inputs.data(f"response_rates_{round_}")
        scales = inputs.data(f"scales_{round_}")
        response[round_] = {
            "by_arm": rates,
            "scales": scales,
            "missing": [
                m
                for m in (
                    inputs.why_missing(f"response_rates_{round_}"),
                    inputs.why_missing(f"scales_{round_}"),
                )
                if m
            ],
        }
        for row in rates or []:
            response_rows.append({"round": round_, **row})
    teacher_rates = _teacher_rates(flow)
    response["teachers_by_arm"] = [
        {"arm": r.arm, "round": r.round, "responded": r.responded, "consented": r.invited}
        for r in teacher_rates
    ]
    dosage, attendance, dosage_rows = _dosage(inputs, arms, plan.compliance_rule_version)

    # --- pictures ---
    progress("pictures", 92)
    pictures: dict[str, Picture] = {"consort": consort_diagram(flow)}
    label = f"plan v{plan_label['version']}, snapshot {snapshot['sha256'][:12]}"
    effects = _effects(itt_entries, teacher_entries, cace_entries)
    if effects:
        pictures["forest"] = forest_plot(effects, title=f"Estimated effects ({label})")
    else:
        missing_pictures["forest"] = "the plan has no outcome to plot"
    if teacher_rates:
        pictures["response_rates"] = response_rates_chart(
            teacher_rates, title=f"Teacher questionnaire response rates ({label})"
        )
    else:
        missing_pictures["response_rates"] = teachers_missing or "no teacher counts"
    if attendance:
        pictures["attendance"] = attendance_chart(
            attendance,
            sessions_offered=SESSIONS_OFFERED,
            title=f"Sessions attended per school ({label})",
        )
    else:
        missing_pictures["attendance"] = inputs.why_missing("dosage", "allocations") or (
            "no school's dosage could be charted"
        )

    outcome_data = _outcome_data(outcomes, reason, problems, import_label)
    warnings = flow.warnings + inputs.warnings + warnings
    if outcome_data.get("not_analysed"):
        warnings.append(
            "Pupil outcome rows not analysed (see outcome_data): "
            + ", ".join(f"{p['kind']} {p['count']}" for p in outcome_data["not_analysed"])
            + "."
        )
    tables = {
        "consort": _consort_rows(flow),
        "balance": _balance_rows(balance) if balance["status"] == "present" else [],
        "impact": [_flatten_effect(e, "itt") for e in itt_entries],
        "teacher_impact": [_flatten_effect(e, "teacher") for e in teacher_entries],
        "cace": [_flatten_effect(e, "cace") for e in cace_entries],
        "costs": cost_rows,
        "school_costs": school_cost_rows,
        "response_rates": response_rows,
        "dosage": dosage_rows,
    }
    label_columns = {"plan_version": plan_label["version"], "snapshot_id": snapshot["id"]}
    tables = {
        name: [{**label_columns, **{k: _number(v) for k, v in row.items()}} for row in rows]
        for name, rows in tables.items()
    }
    report = {
        "analysis_id": analysis_id,
        "generated_at": generated_at,
        "plan": {k: plan_label[k] for k in ("version", "fingerprint", "frozen_at", "content")},
        "snapshot": snapshot,
        "outcome_import": import_label,
        "missing_inputs": [m.to_dict() for m in inputs.missing],
        "warnings": warnings,
        "consort": consort,
        "balance": balance,
        "impact": itt_entries,
        "teacher_impact": teacher_entries,
        "cace": cace_entries,
        "costs": costs,
        "response_rates": response,
        "dosage": dosage,
        "outcome_data": outcome_data,
        "pictures_not_drawn": missing_pictures,
    }
    return Bundle(
        report=report, tables=tables, pictures=pictures, missing_pictures=missing_pictures
    )
