"""Results computed from the attendance data, kept once per version of it.

The version is a token that database triggers change with every committed change of the tables
dosage and attendance lists are computed from (attendance, attendees, sessions, enrolments,
compliance rules, thresholds: migration 0003; see ``rlc_shared.versions``), so a page of dosage
is computed once per change, not once per request, in every process alike.
"""

from rlc_shared.versions import VersionedCache

COMPUTED = VersionedCache("attendance")
