"""Dosage and compliance: the evaluator's frozen rule, and each school's dosage under it."""
