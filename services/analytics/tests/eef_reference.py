"""Where the eefAnalytics reference data is, and reading it: a missing file fails the test.

The data (``crtData.csv``, ``mstData.csv``) are AGPL-licensed package data kept beside the
checkout, in ``../shared/reference/eef`` (its README gives their provenance and the published
numbers), and never copied into the repository. The tests that check the published numbers are
what shows the statistics match eefAnalytics: without the data they fail, saying where the data
is expected, rather than skip (a skip would let CI pass without them).

Not a test module: the tests import it by name (``conftest.py`` puts this folder on the path).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

#: ``<checkout>/../shared/reference/eef``: the checkout is three folders above this file.
EEF_DIR = (Path(__file__).resolve().parents[3] / ".." / "shared" / "reference" / "eef").resolve()


def eef_path(name: str) -> Path:
    """The reference file ``name``; the test fails, saying where it is expected, if it is not
    there."""
    path = EEF_DIR / name
    if not path.is_file():
        pytest.fail(
            f"The eefAnalytics reference data file {name} is missing: it is expected at {path} "
            f"(the checkout's sibling folder shared/reference/eef, with its README.md). These "
            f"tests check the published eefAnalytics numbers and must not be skipped; put the "
            f"reference data there (never copy it into the repository).",
            pytrace=False,
        )
    return path


def eef_data(name: str) -> pd.DataFrame:
    return pd.read_csv(eef_path(name))
