"""Scoring the three outcome scales (knowledge of, attitudes to and use of research).

- ``Codebook`` (pydantic; the ``codebook`` of ``PUT /rounds/{round}``): which columns hold the
  school email, respondent id, role and each scale's items; ``canonical_json()``,
  ``fingerprint()``; ``required_columns()``/``label_columns()`` for ``read_export``;
  ``resolve(columns)`` -> ``CodebookColumns``.
- ``score_frame(frame, codebook, columns=...)`` -> ``ScoredChunk`` (vectorised, per chunk) and
  ``score_response(values, codebook)`` -> {scale: ``ScaleScore``} (one response, same rules).
- ``scale_summary(item_matrix)`` / ``ScaleAccumulator`` / ``ScoreSummaries`` -> ``ScaleSummary``
  (n, mean, SD, complete cases, Cronbach's alpha); ``cronbach_alpha(item_matrix)``.
"""

from surveys.scoring.codebook import (
    SCALE_NAMES,
    Codebook,
    CodebookColumns,
    Scale,
    ScaleName,
    answers_needed,
)
from surveys.scoring.reliability import (
    ScaleAccumulator,
    ScaleSummary,
    ScoreSummaries,
    cronbach_alpha,
    scale_summary,
)
from surveys.scoring.scores import (
    DEFAULT_MAX_ERRORS,
    ScaleScore,
    ScoredChunk,
    scale_scores,
    score_frame,
    score_response,
)

__all__ = [
    "DEFAULT_MAX_ERRORS",
    "SCALE_NAMES",
    "Codebook",
    "CodebookColumns",
    "Scale",
    "ScaleAccumulator",
    "ScaleName",
    "ScaleScore",
    "ScaleSummary",
    "ScoreSummaries",
    "ScoredChunk",
    "answers_needed",
    "cronbach_alpha",
    "scale_scores",
    "scale_summary",
    "score_frame",
    "score_response",
]
