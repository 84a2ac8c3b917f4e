"""The impact analyses of the plan: ITT per pupil outcome and subgroup, teacher outcomes, CACE.

Every entry has a ``status``: ``estimated`` (with the numbers), ``not_converged`` (the model was
fitted and failed: the reason, no numbers), ``missing_input`` (an input it needs is missing: which,
no numbers), ``not_planned``, or ``error`` (the data cannot be fitted as they are: why). Counts of
schools and pupils are given whenever they are known; they are not estimates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics.records import CONTROL, INTERVENTION, ComplianceRecord
from analytics.stats import CrtResult, cace, fit_crt, fit_srt

ESTIMATED, NOT_CONVERGED, MISSING, NOT_PLANNED, ERROR = (
    "estimated",
    "not_converged",
    "missing_input",
    "not_planned",
    "error",
)
OUTCOME_LABELS = {"ks2_reading": "KS2 reading", "ks2_maths": "KS2 maths"}
SUBGROUP_LABELS = {
    "all": "CIN or LAC",
    "cin": "CIN",
    "lac": "LAC",
    "cin_and_lac": "CIN and LAC",
}
SCALE_LABELS = {
    "knowledge": "Knowledge of research",
    "attitudes": "Attitudes to research",
    "use": "Use of research",
}
#: Plan covariate → the pupil table's column.
COVARIATE_COLUMNS = {"la": "la", "ks1_prior": "ks1_prior", "fsm": "fsm", "sex": "sex", "sen": "sen"}


def _entry(status: str, message: str, **fields: Any) -> dict[str, Any]:
    return {"status": status, "message": message, **fields}


def pupil_frame(
    frame: pd.DataFrame, *, arms: dict[int, str], strata: dict[int, str | None]
) -> tuple[pd.DataFrame, list[str]]:
    """The analysable pupils with ``treated`` (0/1) and ``la``; rows of an arm other than
    intervention or control are left out and named in a warning."""
    warnings: list[str] = []
    data = frame.copy()
    arm = data["urn"].astype(object).map(arms)
    odd = arm.notna() & ~arm.isin([INTERVENTION, CONTROL])
    if odd.any():
        urns = sorted({int(u) for u in data.loc[odd, "urn"]})
        warnings.append(
            "Pupils of schools allocated to an arm other than intervention or control (not "
            f"analysed): URN {', '.join(map(str, urns))}."
        )
    data = data.loc[arm.isin([INTERVENTION, CONTROL])].copy()
    data["treated"] = (data["urn"].astype(object).map(arms) == INTERVENTION).astype(float)
    data["urn"] = data["urn"].astype(np.int64)
    data["la"] = data["urn"].map(strata).astype(object)
    data["fsm"] = data["fsm"].astype("Float64").astype(float)
    for label in ("sex", "sen"):
        data[label] = data[label].astype(object).where(data[label].notna(), np.nan)
    return data, warnings


def subgroup(data: pd.DataFrame, name: str) -> pd.DataFrame:
    if name == "cin":
        return data.loc[data["cin"]]
    if name == "lac":
        return data.loc[data["lac"]]
    if name == "cin_and_lac":
        return data.loc[data["cin"] & data["lac"]]
    return data


def _missing_covariates(data: pd.DataFrame, covariates: list[str]) -> list[str]:
    return [c for c in covariates if data[COVARIATE_COLUMNS[c]].isna().all()]


def headline(result: CrtResult, convention: str) -> dict[str, Any]:
    effect = result.effect_sizes[convention]
    return {"convention": convention, "g": effect.g, "ci": effect.ci}


def itt_entry(
    data: pd.DataFrame | None,
    *,
    outcome: str,
    group: str,
    covariates: list[str],
    convention: str,
    missing: str | None,
) -> tuple[dict[str, Any], CrtResult | None]:
    base: dict[str, Any] = {
        "outcome": outcome,
        "subgroup": group,
        "label": f"{OUTCOME_LABELS[outcome]}, {SUBGROUP_LABELS[group]}",
        "covariates": covariates,
    }
    if data is None or missing is not None:
        return _entry(MISSING, missing or "no pupil outcomes", **base), None
    rows = subgroup(data, group)
    if not len(rows):
        return _entry(
            MISSING, f"no {SUBGROUP_LABELS[group]} pupil has an analysable row", **base
        ), None
    absent = _missing_covariates(rows, covariates)
    if absent:
        return _entry(
            MISSING,
            f"the outcomes file gives no {', '.join(absent)}, which the plan adjusts for",
            **base,
        ), None
    try:
        result = fit_crt(
            rows,
            outcome=outcome,
            treatment="treated",
            cluster="urn",
            covariates=[COVARIATE_COLUMNS[c] for c in covariates],
        )
    except ValueError as exc:
        return _entry(ERROR, str(exc), **base), None
    counts = {
        "schools_per_arm": result.schools_per_arm,
        "pupils_per_arm": result.pupils_per_arm,
        "rows_dropped": result.rows_dropped,
    }
    if not result.converged:
        return _entry(NOT_CONVERGED, result.message, **base, **counts), result
    return (
        _entry(
            ESTIMATED,
            result.message,
            **base,
            **counts,
            headline=headline(result, convention),
            result=result.to_dict(),
        ),
        result,
    )


def _teacher_pairs(
    pre: list[dict[str, Any]], post: list[dict[str, Any]], scale: str
) -> tuple[pd.DataFrame, Counter[str]]:
    """One row per teacher answering the scale in both rounds at the same school."""
    dropped: Counter[str] = Counter()

    def by_teacher(rows: list[dict[str, Any]], round_: str) -> dict[tuple[int, str], float]:
        seen: Counter[tuple[int, str]] = Counter()
        values: dict[tuple[int, str], float] = {}
        for row in rows:
            if row.get("urn") is None or not row.get("teacher"):
                dropped[f"{round_} responses without a school or pseudonym"] += 1
                continue
            key = (int(row["urn"]), str(row["teacher"]))
            seen[key] += 1
            if row.get(scale) is not None:
                values[key] = float(row[scale])
        for key, n in seen.items():
            if n > 1:
                dropped[f"{round_} responses of a teacher answering more than once"] += n
                values.pop(key, None)
        return values

    before, after = by_teacher(pre, "pre"), by_teacher(post, "post")
    keys = sorted(before.keys() & after.keys())
    frame = pd.DataFrame(
        {
            "urn": [k[0] for k in keys],
            "pre": [before[k] for k in keys],
            "post": [after[k] for k in keys],
        }
    )
    return frame, dropped


def teacher_entry(
    *,
    scale: str,
    pre: list[dict[str, Any]] | None,
    post: list[dict[str, Any]] | None,
    arms: dict[int, str] | None,
    missing: str | None,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scale": scale,
        "label": SCALE_LABELS[scale],
        "model": "post ~ arm + pre, CR1 by school",
    }
    if missing is not None or pre is None or post is None or arms is None:
        return _entry(MISSING, missing or "questionnaire responses missing", **base)
    pairs, dropped = _teacher_pairs(pre, post, scale)
    arm = pairs["urn"].map(arms)
    not_randomised = int((~arm.isin([INTERVENTION, CONTROL])).sum())
    if not_randomised:
        dropped["teachers at schools not randomised (or in error)"] += not_randomised
    pairs = pairs.loc[arm.isin([INTERVENTION, CONTROL])].copy()
    pairs["treated"] = (pairs["urn"].map(arms) == INTERVENTION).astype(float)
    base["teachers_not_analysed"] = dict(dropped)
    try:
        result = fit_srt(
            pairs, outcome="post", treatment="treated", covariates=["pre"], cluster="urn"
        )
    except ValueError as exc:
        return _entry(ERROR, str(exc), **base)
    counts = {"teachers_per_arm": result.pupils_per_arm, "schools": result.clusters}
    if not result.converged:
        return _entry(NOT_CONVERGED, result.message, **base, **counts)
    effect = result.effect_sizes["unconditional"]
    return _entry(
        ESTIMATED,
        result.message,
        **base,
        **counts,
        headline={"convention": "unconditional", "g": effect.g, "ci": effect.ci},
        result=result.to_dict(),
    )


@dataclass
class ComplianceColumn:
    values: pd.Series
    schools_without_record: list[int]
    control_compliers: list[int]


def compliance_column(
    data: pd.DataFrame, records: list[ComplianceRecord], arms: dict[int, str]
) -> ComplianceColumn:
    """1 for a complier, 0 otherwise; control schools without a record are 0 (the programme is
    delivered to intervention schools only), intervention schools without one are unknown."""
    by_urn = {r.urn: r for r in records}
    values: dict[int, float] = {}
    without: list[int] = []
    control_compliers: list[int] = []
    for urn in sorted({int(u) for u in data["urn"]}):
        record = by_urn.get(urn)
        if record is not None:
            values[urn] = 1.0 if record.complier else 0.0
            if record.complier and arms.get(urn) == CONTROL:
                control_compliers.append(urn)
        elif arms.get(urn) == CONTROL:
            values[urn] = 0.0
        else:
            without.append(urn)
            values[urn] = np.nan
    return ComplianceColumn(
        values=data["urn"].map(values).astype(float),
        schools_without_record=without,
        control_compliers=control_compliers,
    )


def cace_entry(
    data: pd.DataFrame | None,
    *,
    outcome: str,
    covariates: list[str],
    compliance: list[ComplianceRecord] | None,
    arms: dict[int, str] | None,
    itt: CrtResult | None,
    missing: str | None,
    rule_version: int | None,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "outcome": outcome,
        "label": f"{OUTCOME_LABELS[outcome]}, CACE",
        "rule_version": rule_version,
        "covariates": covariates,
    }
    if rule_version is None:
        return _entry(NOT_PLANNED, "the plan names no compliance rule, so no CACE", **base)
    if data is None or compliance is None or arms is None or missing is not None:
        return _entry(MISSING, missing or "an input is missing", **base)
    absent = _missing_covariates(data, covariates) if len(data) else []
    if absent:
        return _entry(
            MISSING,
            f"the outcomes file gives no {', '.join(absent)}, which the plan adjusts for",
            **base,
        )
    column = compliance_column(data, compliance, arms)
    treated_urns = {int(u) for u in data.loc[data["treated"] == 1.0, "urn"]}
    if treated_urns and treated_urns <= set(column.schools_without_record):
        return _entry(
            MISSING,
            f"no intervention school analysed has a compliance verdict under rule {rule_version}",
            **base,
        )
    rows = data.assign(complier=column.values)
    base["intervention_schools_without_compliance"] = column.schools_without_record
    base["control_schools_recorded_as_compliers"] = column.control_compliers
    try:
        result = cace(
            rows,
            outcome=outcome,
            treatment="treated",
            complier="complier",
            cluster="urn",
            covariates=[COVARIATE_COLUMNS[c] for c in covariates],
            itt=itt if not column.schools_without_record else None,
        )
    except ValueError as exc:
        return _entry(ERROR, str(exc), **base)
    counts = {
        "schools": result.schools,
        "rows_used": result.rows_used,
        "rows_dropped": result.rows_dropped,
        "compliance": result.compliance,
    }
    if not result.converged:
        return _entry(NOT_CONVERGED, result.message, **base, **counts)
    if result.effect_size.g is None:
        # The CACE itself converged but its effect size did not: say so, give no g.
        return _entry(NOT_CONVERGED, result.message, **base, **counts)
    return _entry(
        ESTIMATED,
        result.message,
        **base,
        **counts,
        headline={
            "convention": "total_unconditional",
            "g": result.effect_size.g,
            "ci": result.effect_size.ci,
        },
        result=result.to_dict(),
    )
