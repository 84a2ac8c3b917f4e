"""Attendance: manual entry, uploaded Zoom and Teams reports, the review list, the threshold."""
