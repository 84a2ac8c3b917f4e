"""Costs for the cost evaluation: items per school or programme-wide, read by analytics."""
