"""The RLC trial's statistics: EEF-style impact estimates, power and compliance analyses.

Pure functions on pandas DataFrames that return plain frozen results (each with ``to_dict()``);
no web framework, no database. ``fit_crt`` is the ITT analysis of the cluster-randomised trial,
``fit_srt`` the pupil/teacher-level one, ``cace`` the complier average causal effect, and
``mdes_crt``/``schools_for_mdes`` the power calculation. The formulas, and the published numbers
they are checked against, are in /work/shared/reference/eef/README.md.
"""

from analytics.stats.cace import CaceResult, cace
from analytics.stats.crt import CrtResult, fit_crt
from analytics.stats.effect_sizes import EffectSize
from analytics.stats.power import mdes_crt, schools_for_mdes
from analytics.stats.results import FixedEffect
from analytics.stats.srt import SrtResult, fit_srt

__all__ = [
    "CaceResult",
    "CrtResult",
    "EffectSize",
    "FixedEffect",
    "SrtResult",
    "cace",
    "fit_crt",
    "fit_srt",
    "mdes_crt",
    "schools_for_mdes",
]
