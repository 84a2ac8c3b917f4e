"""docs/security.md holds the policy table exactly as the code defines it."""

from pathlib import Path

from rlc_shared.policy import markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_documented_policy_is_the_policy() -> None:
    text = DOC.read_text()
    start = text.index("<!-- policy-table -->") + len("<!-- policy-table -->")
    end = text.index("<!-- /policy-table -->")
    assert text[start:end].strip() == markdown_table(), (
        "docs/security.md is out of date: paste `python -m rlc_shared.policy` between the markers"
    )
