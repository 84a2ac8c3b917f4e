"""The webhook secrets and the pseudonym key as mounted files (how compose and Kubernetes give
them): checked at start-up and when read, a rotated webhook secret taken without a restart, a
secret that cannot be read a 503 that stores nothing, and no secret in any message."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from surveys.config import DEV_PSEUDONYM_SECRET, DEV_WEBHOOK_SECRET, Settings
from surveys.models import Export

NEW_SECRET = "whsec_" + base64.b64encode(b"the-rotated-secret-of-the-platform").decode()
PSEUDONYM = "a-pseudonym-key-for-this-trial-only-0123456789"


def production(tmp_path: Path, **values: Any) -> Settings:
    return Settings(
        environment="production",
        database_url="postgresql://rlc_surveys:pw@postgres.example.internal:5432/surveys",
        jwks_url="https://auth.example.org/.well-known/jwks.json",
        jwt_issuer="https://auth.example.org/",
        cors_origins=["https://rlc.example.org"],
        **values,
    )


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_production_refuses_a_secret_file_that_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SURVEYS_WEBHOOK_SECRETS_FILE names .* not a file"):
        production(tmp_path, webhook_secrets_file=str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match="SURVEYS_PSEUDONYM_SECRET_FILE names .* not a file"):
        production(
            tmp_path,
            webhook_secrets_file=write(tmp_path / "hooks", NEW_SECRET),
            pseudonym_secret_file=str(tmp_path / "missing"),
        )


def test_the_webhook_file_lists_one_secret_per_line_and_is_read_again(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    write(hooks, f"# rotation in progress\n{NEW_SECRET}\n\n  {DEV_WEBHOOK_SECRET}  \n")
    settings = Settings(webhook_secrets_file=str(hooks))
    assert settings.webhook_secret_values() == [NEW_SECRET, DEV_WEBHOOK_SECRET]
    write(hooks, NEW_SECRET + "\n")
    assert settings.webhook_secret_values() == [NEW_SECRET]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("# nothing but a comment\n", "must list at least one whsec_ secret"),
        ("whsec_not*base64!\n", "Webhook secret 1 is not valid"),
        (f"{NEW_SECRET}\nwhsec_c2hvcnQ=\n", "Webhook secret 2 is too short"),
    ],
)
def test_a_bad_webhook_file_is_named_and_its_content_is_not_repeated(
    tmp_path: Path, content: str, message: str
) -> None:
    settings = Settings(webhook_secrets_file=write(tmp_path / "hooks", content))
    with pytest.raises(ValueError, match=message) as caught:
        settings.webhook_secret_values()
    assert "SURVEYS_WEBHOOK_SECRETS_FILE" in str(caught.value)
    assert "not*base64" not in str(caught.value) and "c2hvcnQ" not in str(caught.value)


def test_production_refuses_development_secrets_in_files(tmp_path: Path) -> None:
    settings = production(
        tmp_path,
        webhook_secrets_file=write(tmp_path / "hooks", DEV_WEBHOOK_SECRET),
        pseudonym_secret_file=write(tmp_path / "key", DEV_PSEUDONYM_SECRET),
    )
    with pytest.raises(ValueError, match="must not accept the development webhook secret"):
        settings.webhook_secret_values()
    with pytest.raises(ValueError, match="needs its own pseudonym secret"):
        settings.pseudonym_secret_value()


def test_the_pseudonym_file_is_stripped_and_must_be_long_enough(tmp_path: Path) -> None:
    key = tmp_path / "key"
    settings = Settings(pseudonym_secret_file=write(key, PSEUDONYM + "\n"))
    assert settings.pseudonym_secret_value() == PSEUDONYM
    write(key, "too-short\n")
    with pytest.raises(ValueError, match="SURVEYS_PSEUDONYM_SECRET_FILE must have at least 32"):
        settings.pseudonym_secret_value()


def test_a_bad_secret_file_stops_the_start_up(sv: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SURVEYS_WEBHOOK_SECRETS_FILE: Webhook secret 1"):
        sv.client = sv._open_app(webhook_secrets_file=write(tmp_path / "hooks", "whsec_!!\n"))


def test_a_rotated_secret_verifies_without_a_restart(sv: Any, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    write(hooks, sv.secret + "\n")
    sv.client = sv._open_app(
        webhook_secrets_file=str(hooks), pseudonym_secret_file=write(tmp_path / "key", PSEUDONYM)
    )
    sv.put_round()
    data = sv.fx.csv_export(sv.rows([sv.world["brookside"].email] * 3, seed=5))
    body = sv.payload(content=data)
    refused = sv.deliver(body, sv.sign(body, secret=NEW_SECRET))
    assert refused.status_code == 400 and refused.json()["reason"] == "no-match", refused.text
    write(hooks, f"{sv.secret}\n{NEW_SECRET}\n")
    accepted = sv.deliver(body, sv.sign(body, secret=NEW_SECRET))
    assert accepted.status_code == 202, accepted.text
    assert sv.wait(accepted.json()["id"])["linked"] == 3


def test_a_secret_file_gone_after_start_up_is_a_503_that_stores_nothing(
    sv: Any, tmp_path: Path
) -> None:
    hooks = tmp_path / "hooks"
    write(hooks, sv.secret + "\n")
    sv.client = sv._open_app(webhook_secrets_file=str(hooks))
    sv.put_round()
    hooks.unlink()
    body = sv.payload(content=sv.fx.csv_export(sv.rows([sv.world["brookside"].email], seed=6)))
    resp = sv.deliver(body)
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "can be retried" in resp.json()["detail"]
    assert sv.count(Export) == 0
