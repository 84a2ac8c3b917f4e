"""Small result types shared by the models, and their JSON form."""

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FixedEffect:
    """One coefficient: estimate, SE, p-value and 95% CI, and how the last two were made."""

    estimate: float | None
    se: float | None
    p_value: float | None
    ci: tuple[float, float] | None
    method: str  # e.g. "profile likelihood", "wald z", "t", "cluster-robust t (CR1)"


def jsonable(value: Any) -> Any:
    """A plain-JSON copy: dataclasses and mappings to dicts, tuples to lists, NaN/inf to None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(item) for item in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value
