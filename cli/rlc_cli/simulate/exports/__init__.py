"""Files as the trial's other systems export them: Zoom and Teams attendance reports, survey
platform exports (CSV, JSON, SPSS, Excel), the pupil outcomes extract. Bytes only, no service."""
