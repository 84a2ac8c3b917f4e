"""Cohorts: their sessions (dates, links), the contamination guard on enrolment, attendees."""
