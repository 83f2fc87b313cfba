"""The archive: every X12 file sent or received, kept write-once and verified on read.

One `Archive` protocol, two implementations: `S3Archive` (production: server-side encryption on
every object, SHA-256 checksums, never overwrites, optional object-lock retention) and
`LocalArchive` (a folder, same key layout, atomic writes, sidecar metadata). `open_archive()`
picks one from RCM_ARCHIVE_URL (``file://PATH`` or ``s3://bucket/prefix``).

Keys::

    {practice}/{direction}/{kind}/{yyyy}/{mm}/{dd}/{sha256}-{name}
    quarantine/{practice}/{direction}/{kind}/{yyyy}/{mm}/{dd}/{sha256}-{name}

Putting the same bytes under an existing key returns the existing object (reruns are safe);
different bytes under an existing key raise PermanentConnectorError.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from connectors.errors import ConnectorError, PermanentConnectorError, TransientConnectorError
from rcm.logging import logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SHA256_METADATA_KEY = "sha256"
_META_SUFFIX = ".meta.json"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_METADATA_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class ArchiveKeyNotFound(PermanentConnectorError):
    """No object under that key."""


class ArchiveIntegrityError(PermanentConnectorError):
    """The stored bytes do not match the SHA-256 recorded when they were put."""


@dataclass(frozen=True)
class ArchivedObject:
    key: str
    sha256: str
    version: str | None = None


@runtime_checkable
class Archive(Protocol):
    """Write-once object storage for interchange files."""

    def put(
        self, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> ArchivedObject:
        """Store `data` under `key` once; identical re-puts return the existing object."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under `key`, verified against the SHA-256 recorded at put."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]:
        """Keys under `prefix`, sorted."""
        ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _segment(value: str, field: str) -> str:
    if not _SEGMENT.match(value) or value in (".", ".."):
        raise ValueError(f"archive key {field} {value!r}: letters, digits, '.', '_', '-' only")
    return value


def _safe_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._-")
    return cleaned[:150] or "file"


def archive_key(
    practice: str, direction: str, kind: str, when: datetime, sha256: str, name: str
) -> str:
    """``{practice}/{direction}/{kind}/{yyyy}/{mm}/{dd}/{sha256}-{name}`` (UTC date)."""
    if not _SHA256.match(sha256):
        raise ValueError("archive key sha256: expected 64 lowercase hex digits")
    day = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    return "/".join(
        [
            _segment(practice, "practice"),
            _segment(direction, "direction"),
            _segment(kind, "kind"),
            f"{day:%Y}",
            f"{day:%m}",
            f"{day:%d}",
            f"{sha256}-{_safe_name(name)}",
        ]
    )


def quarantine_key(
    practice: str, direction: str, kind: str, when: datetime, sha256: str, name: str
) -> str:
    """Where bad input goes: ``quarantine/`` + the archive_key layout."""
    return "quarantine/" + archive_key(practice, direction, kind, when, sha256, name)


def check_key(key: str) -> str:
    """A relative key of safe segments: no '..', no empty segments, no leading '/'."""
    parts = key.split("/")
    if (
        not key
        or key.startswith("/")
        or any(not p or p in (".", "..") for p in parts)
        or "\\" in key
        or any(ord(c) < 32 for c in key)
        or key.endswith(_META_SUFFIX)
    ):
        raise PermanentConnectorError(f"unsafe archive key {key!r}")
    return key


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    clean: dict[str, str] = {}
    for name, value in (metadata or {}).items():
        if not _METADATA_KEY.match(name) or name == SHA256_METADATA_KEY:
            raise ValueError(f"archive metadata key {name!r}: lowercase letters, digits, '-'")
        if not isinstance(value, str) or not value.isascii():
            raise ValueError(f"archive metadata {name!r}: ASCII strings only")
        clean[name] = value
    return clean


class LocalArchive:
    """An archive in a local folder: ``<root>/<key>`` plus ``<root>/<key>.meta.json``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalArchive({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(path.name + _META_SUFFIX)

    def put(
        self, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> ArchivedObject:
        path = self._path(key)
        extra = _check_metadata(metadata)
        digest = sha256_hex(data)
        if path.exists():
            return self._existing(key, path, digest)
        record = {SHA256_METADATA_KEY: digest, "size": len(data), "metadata": extra}
        with self._errors("put", key):
            path.parent.mkdir(parents=True, exist_ok=True)
            # Metadata first: a crash between the two writes leaves no object (the data file
            # is what `exists` sees), and the next put rewrites both.
            self._write_atomically(self._meta_path(path), json.dumps(record).encode())
            self._write_once(path, data)
        logger.info("archived", archive="local", key=key, size=len(data))
        return ArchivedObject(key=key, sha256=digest, version=None)

    def _existing(self, key: str, path: Path, digest: str) -> ArchivedObject:
        recorded = self._recorded_sha256(key, path)
        if recorded != digest:
            raise PermanentConnectorError(
                f"archive key {key!r} already holds different content; archive objects are "
                "never overwritten"
            )
        return ArchivedObject(key=key, sha256=digest, version=None)

    def _recorded_sha256(self, key: str, path: Path) -> str:
        try:
            record = json.loads(self._meta_path(path).read_text(encoding="utf-8"))
            return str(record[SHA256_METADATA_KEY])
        except (OSError, ValueError, KeyError) as exc:
            raise ArchiveIntegrityError(f"archive key {key!r}: metadata missing or bad") from exc

    @staticmethod
    def _write_atomically(path: Path, data: bytes) -> None:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def _write_once(self, path: Path, data: bytes) -> None:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                # link() refuses an existing target, so a concurrent writer cannot be clobbered.
                os.link(temp, path)
            except FileExistsError:
                raise
            except OSError:
                # A filesystem without hard links: the exists() check in put is the guard.
                os.replace(temp, path)
        finally:
            Path(temp).unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        with self._errors("get", key):
            try:
                data = path.read_bytes()
            except FileNotFoundError as exc:
                raise ArchiveKeyNotFound(f"archive key {key!r} does not exist") from exc
        if sha256_hex(data) != self._recorded_sha256(key, path):
            raise ArchiveIntegrityError(
                f"archive key {key!r}: content does not match the SHA-256 recorded at put"
            )
        return data

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        keys = []
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for filename in filenames:
                if filename.startswith(".") or filename.endswith(_META_SUFFIX):
                    continue
                key = (Path(dirpath) / filename).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        try:
            yield
        except ConnectorError:
            raise
        except FileExistsError as exc:
            raise PermanentConnectorError(
                f"archive {action} {key!r}: written concurrently by another process"
            ) from exc
        except PermissionError as exc:
            raise PermanentConnectorError(f"archive {action} {key!r}: permission denied") from exc
        except OSError as exc:
            raise TransientConnectorError(
                f"archive {action} {key!r}: {exc.strerror or type(exc).__name__}"
            ) from exc


_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "OperationAborted",
    "ConditionalRequestConflict",
}


class S3Archive:
    """An archive in an S3 bucket (or an S3-compatible store) under an optional prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: S3Client | None = None,
        endpoint_url: str | None = None,
        sse: str = "AES256",
        kms_key_id: str | None = None,
        object_lock_days: int | None = None,
        object_lock_mode: str = "GOVERNANCE",
    ) -> None:
        if sse not in ("AES256", "aws:kms"):
            raise ValueError("sse must be AES256 or aws:kms")
        if object_lock_mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise ValueError("object_lock_mode must be GOVERNANCE or COMPLIANCE")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.sse = sse
        self.kms_key_id = kms_key_id
        self.object_lock_days = object_lock_days
        self.object_lock_mode = object_lock_mode
        self._if_none_match = True
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                config=Config(
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=10,
                    read_timeout=60,
                ),
            )
        self.client = client

    def __repr__(self) -> str:
        return f"S3Archive(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(
        self, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> ArchivedObject:
        full = self._full(key)
        extra = _check_metadata(metadata)
        digest = hashlib.sha256(data).digest()
        hex_digest = digest.hex()
        existing = self._head(key, full)
        if existing is not None:
            return self._same_or_refuse(key, existing, hex_digest)
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": full,
            "Body": data,
            "ContentType": "application/edi-x12",
            "Metadata": {**extra, SHA256_METADATA_KEY: hex_digest},
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(digest).decode("ascii"),
            "ServerSideEncryption": self.sse,
        }
        if self.sse == "aws:kms" and self.kms_key_id:
            request["SSEKMSKeyId"] = self.kms_key_id
        if self.object_lock_days:
            request["ObjectLockMode"] = self.object_lock_mode
            request["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(
                days=self.object_lock_days
            )
        response = self._put_once(key, full, request)
        if response is None:
            # Someone else wrote the key between our check and our put.
            existing = self._head(key, full)
            if existing is None:
                raise TransientConnectorError(f"archive put {key!r}: conditional write conflict")
            return self._same_or_refuse(key, existing, hex_digest)
        logger.info("archived", archive="s3", key=key, size=len(data))
        return ArchivedObject(key=key, sha256=hex_digest, version=response.get("VersionId"))

    def _put_once(self, key: str, full: str, request: dict[str, Any]) -> dict[str, Any] | None:
        """put_object with If-None-Match: '*'; None when the key appeared meanwhile."""
        from botocore.exceptions import ClientError

        if self._if_none_match:
            request = {**request, "IfNoneMatch": "*"}
        with self._errors("put", key):
            try:
                return dict(self.client.put_object(**request))
            except ClientError as exc:
                code = _code(exc)
                if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                    return None
                if code == "NotImplemented" and self._if_none_match:
                    # An S3-compatible store without conditional writes: the head check before
                    # the put is then the only guard.
                    self._if_none_match = False
                    request.pop("IfNoneMatch", None)
                    return dict(self.client.put_object(**request))
                raise

    def _same_or_refuse(self, key: str, head: Mapping[str, Any], hex_digest: str) -> ArchivedObject:
        recorded = head.get("Metadata", {}).get(SHA256_METADATA_KEY)
        if recorded != hex_digest:
            raise PermanentConnectorError(
                f"archive key {key!r} already holds different content; archive objects are "
                "never overwritten"
            )
        return ArchivedObject(key=key, sha256=hex_digest, version=head.get("VersionId"))

    def _head(self, key: str, full: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        with self._errors("head", key):
            try:
                return dict(self.client.head_object(Bucket=self.bucket, Key=full))
            except ClientError as exc:
                if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        full = self._full(key)
        with self._errors("get", key):
            try:
                response = self.client.get_object(
                    Bucket=self.bucket, Key=full, ChecksumMode="ENABLED"
                )
            except ClientError as exc:
                if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                    raise ArchiveKeyNotFound(f"archive key {key!r} does not exist") from exc
                raise
            data = response["Body"].read()
        recorded = response.get("Metadata", {}).get(SHA256_METADATA_KEY)
        if recorded is None or sha256_hex(data) != recorded:
            raise ArchiveIntegrityError(
                f"archive key {key!r}: content does not match the SHA-256 recorded at put"
            )
        return data

    def exists(self, key: str) -> bool:
        return self._head(key, self._full(key)) is not None

    def list(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        with self._errors("list", prefix):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                keys.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", []))
        return sorted(keys)

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        """Map botocore errors onto the connector error tree."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            FlexibleChecksumError,
            HTTPClientError,
            NoCredentialsError,
        )

        what = f"archive {action} s3://{self.bucket}/{self.prefix}{key}"
        try:
            yield
        except ConnectorError:
            raise
        except ClientError as exc:
            code = _code(exc)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _TRANSIENT_CODES or status >= 500 or status == 429:
                raise TransientConnectorError(f"{what}: {code}") from exc
            raise PermanentConnectorError(f"{what}: {code}") from exc
        except FlexibleChecksumError as exc:
            raise ArchiveIntegrityError(f"{what}: checksum mismatch on read") from exc
        except NoCredentialsError as exc:
            raise PermanentConnectorError(f"{what}: no AWS credentials") from exc
        except (ConnectionError, HTTPClientError) as exc:
            raise TransientConnectorError(f"{what}: {type(exc).__name__}") from exc
        except BotoCoreError as exc:
            raise PermanentConnectorError(f"{what}: {type(exc).__name__}") from exc


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def open_archive(url: str | None = None) -> Archive:
    """The archive RCM_ARCHIVE_URL (or `url`) names: ``file://PATH`` or ``s3://bucket/prefix``."""
    from rcm.settings import get_settings

    settings = get_settings()
    url = url or settings.archive_url
    if url.startswith("file://"):
        return LocalArchive(Path(url[len("file://") :]).expanduser())
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise PermanentConnectorError(f"archive URL {url!r} names no bucket")
        return S3Archive(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url,
            sse=settings.s3_sse,
            kms_key_id=settings.s3_kms_key_id,
            object_lock_days=settings.s3_object_lock_days,
        )
    raise PermanentConnectorError(
        f"archive URL {url!r}: expected file://PATH or s3://bucket/prefix"
    )


__all__ = [
    "Archive",
    "ArchiveIntegrityError",
    "ArchiveKeyNotFound",
    "ArchivedObject",
    "LocalArchive",
    "S3Archive",
    "archive_key",
    "check_key",
    "open_archive",
    "quarantine_key",
    "sha256_hex",
]
