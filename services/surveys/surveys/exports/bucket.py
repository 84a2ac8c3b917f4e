"""The evaluator's bucket: the one place an export named by ``object.key`` is fetched from.

The bucket, its endpoint and prefix are settings; a webhook only names a key inside it, never a
URL, so a delivery cannot make this service fetch anything else. Keys are checked before any
request (no ``..``, no leading ``/``, printable, under the configured prefix).
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO

from surveys.config import Settings
from surveys.errors import DependencyUnavailable, ExportObjectUnavailable, ExportTooLarge

__all__ = ["EvaluatorBucket", "check_key"]

_KEY = re.compile(r"^[A-Za-z0-9!_.*'()\-/ ]{1,1024}$")
_CHUNK = 1024 * 1024


def check_key(key: str, *, prefix: str) -> str:
    """The key, if it is one this service may fetch; else ExportObjectUnavailable (422)."""
    parts = key.split("/")
    if not _KEY.match(key) or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ExportObjectUnavailable(
            "object.key must be a plain object key in the evaluator bucket (letters, digits, "
            "'/', '-', '_', '.', no empty or '..' parts), not a path or a URL."
        )
    if prefix and not key.startswith(prefix.rstrip("/") + "/"):
        raise ExportObjectUnavailable(
            f"object.key must be under {prefix.rstrip('/')}/ in the evaluator bucket."
        )
    return key


class EvaluatorBucket:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        prefix: str,
        max_bytes: int,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.max_bytes = max_bytes
        self._client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3}),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> EvaluatorBucket | None:
        if not settings.evaluator_bucket:
            return None
        return cls(
            bucket=settings.evaluator_bucket,
            endpoint_url=settings.evaluator_s3_endpoint_url,
            region=settings.evaluator_s3_region,
            prefix=settings.evaluator_s3_prefix,
            max_bytes=settings.max_export_bytes,
        )

    def copy_into(self, key: str, out: BinaryIO) -> int:
        """Stream the object at ``key`` into ``out``; returns its size in bytes."""
        from botocore.exceptions import BotoCoreError, ClientError

        check_key(key, prefix=self.prefix)
        try:
            obj: dict[str, Any] = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ExportObjectUnavailable(
                    "The evaluator bucket has no object with that key; put the export there "
                    "first, then send the webhook."
                ) from None
            if code in ("AccessDenied", "403"):
                raise DependencyUnavailable(
                    "The evaluator bucket refused to let this service read the export (its "
                    "credentials or the bucket policy); nothing was stored. Try again once "
                    "access is fixed."
                ) from None
            raise DependencyUnavailable(
                f"The evaluator bucket answered with an error ({code or 'unknown'}); nothing "
                "was stored. Try again shortly."
            ) from None
        except BotoCoreError as exc:
            raise DependencyUnavailable(
                f"The evaluator bucket could not be reached ({type(exc).__name__}); nothing "
                "was stored. Try again shortly."
            ) from None
        declared = int(obj.get("ContentLength") or 0)
        body = obj["Body"]
        try:
            if declared > self.max_bytes:
                raise ExportTooLarge(
                    f"The export is {declared:,} bytes; this service accepts at most "
                    f"{self.max_bytes:,}."
                )
            size = 0
            try:
                for block in iter(lambda: body.read(_CHUNK), b""):
                    size += len(block)
                    if size > self.max_bytes:
                        raise ExportTooLarge(
                            f"The export is larger than this service accepts "
                            f"({self.max_bytes:,} bytes)."
                        )
                    out.write(block)
            except BotoCoreError as exc:
                raise DependencyUnavailable(
                    f"Reading the export from the evaluator bucket failed part-way "
                    f"({type(exc).__name__}); nothing was stored. Try again."
                ) from None
            return size
        finally:
            body.close()
