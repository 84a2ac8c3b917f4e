"""The power calculator: ``mdes_crt`` and its inverse, with errors a person can act on."""

from __future__ import annotations

import math

from analytics.errors import InfeasibleDesign
from analytics.schemas import MdesIn, MdesOut, SchoolsIn, SchoolsOut
from analytics.stats import mdes_crt, schools_for_mdes


def mdes(data: MdesIn) -> MdesOut:
    parameters = data.model_dump()
    try:
        value = mdes_crt(**parameters)
    except ValueError as exc:
        raise InfeasibleDesign(f"This design cannot be calculated: {exc}.") from None
    if not math.isfinite(value):
        raise InfeasibleDesign("This design's MDES is not a finite number; check its inputs.")
    return MdesOut(
        mdes=value,
        degrees_of_freedom=data.schools - data.school_covariates - 2,
        inputs=data,
    )


def schools(data: SchoolsIn) -> SchoolsOut:
    parameters = data.model_dump()
    try:
        needed = schools_for_mdes(**parameters)
    except ValueError as exc:
        raise InfeasibleDesign(f"No number of schools reaches this MDES: {exc}.") from None
    parameters.pop("target_mdes")
    return SchoolsOut(schools=needed, mdes=mdes_crt(schools=needed, **parameters), inputs=data)
