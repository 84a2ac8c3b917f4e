"""Implementation and process evaluation: observations, case studies, interviews, incentives."""
