"""The programme: its eight sessions as published, the template of every cohort's."""
