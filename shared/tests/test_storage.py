"""Object storage: the local backend and S3 over HTTP (a moto server) behave the same."""

import hashlib
import io

import pytest

from rlc_shared.errors import NotFound
from rlc_shared.storage import LocalStorage, S3Storage, storage_from_settings
from rlc_testkit import S3Server


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path, s3_server: S3Server):
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    return S3Storage(bucket=s3_server.bucket, endpoint_url=s3_server.endpoint_url, prefix="tests")


def test_round_trip(storage) -> None:
    data = b"Signed consent form\n" * 10_000
    stored = storage.put(
        "consent/100001/form.pdf", io.BytesIO(data), content_type="application/pdf"
    )
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert storage.exists("consent/100001/form.pdf")
    with storage.open("consent/100001/form.pdf") as fh:
        assert fh.read() == data
    storage.delete("consent/100001/form.pdf")
    assert not storage.exists("consent/100001/form.pdf")


def test_missing_is_not_found(storage) -> None:
    with pytest.raises(NotFound):
        storage.open("nothing/here.pdf")


@pytest.mark.parametrize("key", ["../etc/passwd", "a/../../b", "", "/"])
def test_keys_cannot_escape(storage, key: str) -> None:
    with pytest.raises(ValueError):
        storage.put(key, io.BytesIO(b"x"), content_type="text/plain")


def test_local_write_is_atomic(tmp_path) -> None:
    store = LocalStorage(tmp_path)
    store.put("doc.txt", io.BytesIO(b"first"), content_type="text/plain")

    class Exploding(io.BytesIO):
        def read(self, n=-1):
            chunk = super().read(4)
            if not chunk:
                raise OSError("disk gone")
            return chunk

    with pytest.raises(OSError):
        store.put("doc.txt", Exploding(b"second version"), content_type="text/plain")
    assert (tmp_path / "doc.txt").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.txt"]


def test_s3_from_settings(s3_server: S3Server) -> None:
    from .conftest import DemoSettings as Settings

    settings = Settings(
        storage_backend="s3", s3_bucket=s3_server.bucket, s3_endpoint_url=s3_server.endpoint_url
    )
    store = storage_from_settings(settings)
    store.put("exports/x.csv", io.BytesIO(b"a,b\n"), content_type="text/csv")
    listed = s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix="exports/")
    assert [o["Key"] for o in listed["Contents"]] == ["exports/x.csv"]
    with pytest.raises(ValueError, match="S3_BUCKET"):
        storage_from_settings(Settings(storage_backend="s3"))


def test_an_unreachable_store_is_a_503_problem_and_stores_nothing() -> None:
    """No S3 server at the address (stopped, or not there yet): a clear 503, never a 500."""
    import io as _io
    import socket

    from rlc_shared.errors import ServiceUnavailable
    from rlc_shared.storage import S3Storage

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = S3Storage(bucket="nowhere", endpoint_url=f"http://127.0.0.1:{port}")
    for call in (
        lambda: store.put("a/b.pdf", _io.BytesIO(b"%PDF-1.4"), content_type="application/pdf"),
        lambda: store.open("a/b.pdf"),
        lambda: store.exists("a/b.pdf"),
        lambda: store.delete("a/b.pdf"),
    ):
        with pytest.raises(ServiceUnavailable, match="cannot be reached"):
            call()
