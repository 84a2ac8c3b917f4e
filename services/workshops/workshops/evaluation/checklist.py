"""The fidelity checklist an observer rates a session against, and how ratings become a score.

The programme's documents name workshop observations as part of the implementation and process
evaluation without publishing a checklist; these items follow what the documents say each
session does (research-informed approaches, testing and refining, leading change, next steps).
"""

from __future__ import annotations

from collections.abc import Mapping

#: (key, what the observer looks for), in the order an observer goes through them.
FIDELITY_ITEMS: tuple[tuple[str, str], ...] = (
    ("aims_explained", "The session's aims and its place in the programme were explained"),
    ("research_presented", "Research evidence on teaching children in need and looked-after "
     "children was presented"),
    ("activities_as_planned", "The planned activities were delivered"),
    ("participants_engaged", "Participants took part in the discussion and the activities"),
    ("practice_linked", "Participants linked the content to their own school's practice"),
    ("next_steps_agreed", "Next steps to try before the next session were agreed"),
    ("time_kept", "The session kept to its planned length"),
)  # fmt: skip
FIDELITY_KEYS = frozenset(key for key, _ in FIDELITY_ITEMS)
RATINGS = ("fully", "partially", "not_delivered", "not_applicable")
_SCORES = {"fully": 1.0, "partially": 0.5, "not_delivered": 0.0}


def fidelity_score(ratings: Mapping[str, str]) -> float | None:
    """Fully 1, partially 0.5, not delivered 0, averaged over the items that apply."""
    scores = [_SCORES[r] for r in ratings.values() if r in _SCORES]
    return round(sum(scores) / len(scores), 4) if scores else None
