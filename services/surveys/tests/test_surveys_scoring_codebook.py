"""The codebook: its exact field names, validation, canonical form and fingerprint."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError

from surveys.formats import MissingColumns
from surveys.scoring import Codebook, CodebookColumns


def _fixtures() -> ModuleType:
    name = "surveys_test_fixtures"
    if name not in sys.modules:
        path = Path(__file__).parent / "fixtures" / "exports.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fx = _fixtures()


def _codebook(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(fx.CODEBOOK)
    body.update(changes)
    return body


def test_the_field_names_are_the_contract() -> None:
    schema = Codebook.model_json_schema()
    assert set(schema["properties"]) == {
        "email_column",
        "respondent_id_column",
        "role_column",
        "respondent_email_column",
        "scales",
        "min_answered",
    }
    assert set(schema["required"]) == {"respondent_id_column", "role_column", "scales"}
    scale = schema["$defs"]["Scale"]
    assert set(scale["properties"]) == {"items", "min", "max", "reverse"}
    assert set(schema["properties"]["scales"]["propertyNames"]["enum"]) == {
        "knowledge",
        "attitudes",
        "use",
    }
    example = schema["examples"][0]
    assert Codebook.model_validate(example).scales["attitudes"].reverse == ["A3"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scales": {}}, "at least 1 item"),
        (
            {"scales": {"wellbeing": {"items": ["W1"], "min": 1, "max": 5}}},
            "'knowledge', 'attitudes' or 'use'",
        ),
        ({"scales": {"use": {"items": [], "min": 1, "max": 5}}}, "at least 1 item"),
        (
            {"scales": {"use": {"items": ["U1", "U1"], "min": 1, "max": 5}}},
            "listed more than once: U1",
        ),
        ({"scales": {"use": {"items": ["U1", " "], "min": 1, "max": 5}}}, "at least 1 character"),
        (
            {"scales": {"use": {"items": ["U1"], "min": 5, "max": 5}}},
            "min (5) must be less than max (5)",
        ),
        (
            {"scales": {"use": {"items": ["U1"], "min": 1, "max": 5, "reverse": ["U2"]}}},
            "not items: U2",
        ),
        (
            {"scales": {"use": {"items": ["U1"], "min": 1, "max": 5, "reverse": ["U1", "U1"]}}},
            "more than once: U1",
        ),
        ({"scales": {"use": {"items": ["U1"], "min": 1}}}, "max\n  Field required"),
        (
            {
                "scales": {
                    "use": {"items": ["U1", "X"], "min": 1, "max": 5},
                    "knowledge": {"items": ["X"], "min": 1, "max": 5},
                }
            },
            "more than one scale: X",
        ),
        ({"role_column": "K1"}, "also the email, id or role column: K1"),
        ({"min_answered": 0}, "greater than 0"),
        ({"min_answered": 1.2}, "less than or equal to 1"),
        ({"respondent_id_column": None}, "respondent_id_column"),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_codebooks_are_refused_with_the_reason(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Codebook.model_validate(_codebook(**changes))
    assert message in str(caught.value)


def test_the_email_column_defaults_to_the_usual_names_in_order() -> None:
    codebook = Codebook.model_validate(_codebook())
    assert codebook.email_columns() == ("RecipientEmail", "school_email", "email")
    named = Codebook.model_validate(_codebook(email_column="SchoolEmail"))
    assert named.email_columns() == ("SchoolEmail",)
    assert named.required_columns()[:3] == [("SchoolEmail",), "ResponseId", "Role"]
    assert named.label_columns() == ["Role"]


def test_the_same_meaning_has_one_canonical_form_and_fingerprint() -> None:
    base = Codebook.model_validate(_codebook())
    body = _codebook()
    body["scales"]["attitudes"]["reverse"] = ["A4", "A2"]  # order of reverse items is no meaning
    body["scales"] = dict(reversed(list(body["scales"].items())))  # nor the order of keys
    body["role_column"] = "  Role "  # nor spaces around a name
    body.pop("email_column")  # omitted is the same as null
    body["min_answered"] = 0.80
    same = Codebook.model_validate_json(json.dumps(body, indent=4))
    assert same.canonical_json() == base.canonical_json()
    assert same.fingerprint() == base.fingerprint()
    assert len(base.fingerprint()) == 64
    assert json.loads(base.canonical_json())["scales"]["attitudes"]["reverse"] == ["A2", "A4"]
    assert Codebook.model_validate_json(base.canonical_json()) == base  # it round-trips


@pytest.mark.parametrize(
    "changes",
    [
        {"min_answered": 0.75},
        {"email_column": "RecipientEmail"},
        {"respondent_email_column": "TeacherEmail"},
        {"scales": {"use": {"items": ["U1", "U2", "U3", "U4"], "min": 1, "max": 7}}},
        {"scales": {"use": {"items": ["U2", "U1", "U3", "U4"], "min": 1, "max": 5}}},  # item order
    ],
)
def test_any_change_of_meaning_changes_the_fingerprint(changes: dict[str, Any]) -> None:
    assert (
        Codebook.model_validate(_codebook(**changes)).fingerprint()
        != Codebook.model_validate(_codebook()).fingerprint()
    )


def test_resolve_finds_each_column_exactly_then_loosely() -> None:
    codebook = Codebook.model_validate(_codebook(respondent_email_column="Teacher Email"))
    columns = ["responseid", "School_Email", "ROLE", "TeacherEmail", *fx.ITEMS[:-1], "u 4"]
    resolved = codebook.resolve(columns)
    assert resolved == CodebookColumns(
        email="School_Email",
        respondent_id="responseid",
        role="ROLE",
        respondent_email="TeacherEmail",
        items={**{i: i for i in fx.ITEMS[:-1]}, "U4": "u 4"},
    )


def test_resolve_lists_every_missing_column_and_those_found() -> None:
    codebook = Codebook.model_validate(_codebook())
    with pytest.raises(MissingColumns) as caught:
        codebook.resolve(["ResponseId", "Role", "K1", "K2"])
    missing = caught.value.missing
    assert missing[0] == ["RecipientEmail", "school_email", "email"]
    assert missing[1:] == ["K3", "K4", "K5", *fx.ITEMS[5:]]
    assert caught.value.found == ["ResponseId", "Role", "K1", "K2"]
