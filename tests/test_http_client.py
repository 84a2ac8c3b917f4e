"""The service-to-service client against a real service process over HTTP."""

import pytest

from rlc_shared.errors import UpstreamError
from rlc_shared.http import ServiceClient, TokenProvider
from rlc_testkit import Keys, free_port, start_service


@pytest.fixture(scope="module")
def surveys(migrated_database, keys: Keys, tmp_path_factory):
    live = start_service(
        "surveys",
        database_url=migrated_database("surveys"),
        keys=keys,
        tmp=tmp_path_factory.mktemp("live"),
    )
    yield live
    live.stop()


def test_call_with_service_token(surveys, keys: Keys) -> None:
    client = ServiceClient(
        surveys.url, tokens=TokenProvider(token=keys.token("auditor")), timeout=5
    )
    assert client.get_json("/audit-events")["data"] == []
    assert client.get_json("/readyz") == {"status": "ready"}


def test_problem_surfaced_as_exception(surveys, keys: Keys) -> None:
    client = ServiceClient(
        surveys.url, tokens=TokenProvider(token=keys.token("school", urn=1)), timeout=5
    )
    with pytest.raises(UpstreamError) as caught:
        client.get_json("/audit-events")
    assert caught.value.extensions["upstream_status"] == 403
    assert "role" in caught.value.detail


def test_unreachable_service_is_503_after_retries(keys: Keys) -> None:
    client = ServiceClient(
        f"http://127.0.0.1:{free_port()}", tokens=TokenProvider(token="t"), timeout=1, retries=1
    )
    with pytest.raises(UpstreamError) as caught:
        client.get_json("/healthz")
    assert caught.value.status == 503
    assert "could not be reached" in caught.value.detail


def test_no_credentials_configured() -> None:
    with pytest.raises(UpstreamError, match="SERVICE_TOKEN"):
        TokenProvider().token()
