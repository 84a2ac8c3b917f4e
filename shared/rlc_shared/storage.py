"""Object storage behind one interface: a local directory (default) or S3 via boto3.

Writes are atomic (a temp file renamed into place; S3 puts are atomic per object), so a crash
never leaves half a document under its key.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from rlc_shared.errors import NotFound, ServiceUnavailable

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class ObjectStorage(Protocol):
    def put(self, key: str, stream: BinaryIO, *, content_type: str) -> StoredObject: ...

    def open(self, key: str) -> BinaryIO: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


def _safe_key(key: str) -> str:
    parts = [p for p in key.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"invalid storage key {key!r}")
    return "/".join(parts)


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _safe_key(key)

    def put(self, key: str, stream: BinaryIO, *, content_type: str) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredObject(key=_safe_key(key), size=size, sha256=digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise NotFound(f"No stored document at {key}.") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class _HashingReader:
    """Wraps a stream so the upload computes size and SHA-256 as boto3 reads it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.stream.read(n)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


@contextmanager
def _reachable(action: str) -> Iterator[None]:
    """An object store that cannot be reached (or fails on its side) is a 503 problem that says
    so, never a 500: the request changed nothing and can simply be tried again."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = exc.response.get("Error", {}).get("Code", "")
        if status >= 500 or code in ("SlowDown", "RequestTimeout", "ServiceUnavailable"):
            raise ServiceUnavailable(
                f"Object storage failed to {action} ({code or status}); nothing was changed. "
                "Try again shortly."
            ) from exc
        raise
    except BotoCoreError as exc:
        raise ServiceUnavailable(
            f"Object storage cannot be reached to {action} ({type(exc).__name__}); nothing was "
            "changed. Try again shortly."
        ) from exc


class S3Storage:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "eu-west-2",
        prefix: str = "",
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3}),
        )

    def _key(self, key: str) -> str:
        key = _safe_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, stream: BinaryIO, *, content_type: str) -> StoredObject:
        reader = _HashingReader(stream)
        with _reachable("store a file"):
            self.client.upload_fileobj(
                reader, self.bucket, self._key(key), ExtraArgs={"ContentType": content_type}
            )
        return StoredObject(key=_safe_key(key), size=reader.size, sha256=reader.digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            with _reachable("read a file"):
                obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound(f"No stored document at {key}.") from exc
            raise
        return obj["Body"]

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            with _reachable("look up a file"):
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise

    def delete(self, key: str) -> None:
        with _reachable("delete a file"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def storage_from_settings(settings: Any) -> ObjectStorage:
    backend = getattr(settings, "storage_backend", "local")
    if backend == "s3":
        bucket = getattr(settings, "s3_bucket", None)
        if not bucket:
            raise ValueError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        return S3Storage(
            bucket=bucket,
            endpoint_url=getattr(settings, "s3_endpoint_url", None),
            region=getattr(settings, "s3_region", "eu-west-2"),
            prefix=getattr(settings, "s3_prefix", ""),
        )
    return LocalStorage(settings.storage_dir)
