"""One contract for the archive, run against LocalArchive and against S3Archive on moto's server
(real HTTP, no patching)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.archive import (
    Archive,
    ArchiveIntegrityError,
    ArchiveKeyNotFound,
    LocalArchive,
    S3Archive,
    archive_key,
    open_archive,
    quarantine_key,
    sha256_hex,
)
from connectors.errors import PermanentConnectorError, TransientConnectorError
from rcm.settings import reset_settings_cache
from tests.connectors.helpers import free_port, s3_client

DATA = b"ISA*00*          *00*          *ZZ*SENDER~IEA*1*000000905~"
WHEN = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)


@dataclass
class ArchiveTarget:
    kind: str
    archive: Archive
    corrupt: Any  # callable(key, new_bytes): change the stored bytes behind the archive's back
    s3: Any = None
    bucket: str | None = None


def _new_bucket(client: Any, **kwargs: Any) -> str:
    bucket = f"rcm-archive-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket, **kwargs)
    return bucket


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveTarget]:
    if request.param == "local":
        archive = LocalArchive(tmp_path / "archive")

        def corrupt_local(key: str, data: bytes) -> None:
            (archive.root / key).write_bytes(data)

        yield ArchiveTarget("local", archive, corrupt_local)
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    client = s3_client(endpoint)
    bucket = _new_bucket(client)
    s3 = S3Archive(bucket, "rcm/prod", client=client)

    def corrupt_s3(key: str, data: bytes) -> None:
        full = f"rcm/prod/{key}"
        metadata = client.head_object(Bucket=bucket, Key=full)["Metadata"]
        client.put_object(Bucket=bucket, Key=full, Body=data, Metadata=metadata)

    yield ArchiveTarget("s3", s3, corrupt_s3, s3=client, bucket=bucket)


def test_put_get_list_exists(target: ArchiveTarget) -> None:
    key = archive_key("acme", "outbound", "837P", WHEN, sha256_hex(DATA), "acme_837P_905.x12")
    stored = target.archive.put(key, DATA, {"practice": "acme", "interchange-id": "905"})
    assert stored.key == key and stored.sha256 == hashlib.sha256(DATA).hexdigest()
    assert target.archive.get(key) == DATA
    assert target.archive.exists(key)
    assert not target.archive.exists(key + "-nope")
    other = archive_key("acme", "inbound", "999", WHEN, sha256_hex(b"999"), "ack.999")
    target.archive.put(other, b"999")
    assert target.archive.list() == sorted([key, other])
    assert target.archive.list("acme/outbound/") == [key]
    assert target.archive.list("globex/") == []
    assert isinstance(target.archive, Archive)


def test_identical_put_is_idempotent_and_different_bytes_are_refused(
    target: ArchiveTarget,
) -> None:
    key = "acme/outbound/837P/2026/03/09/abc-file.x12"
    first = target.archive.put(key, DATA)
    again = target.archive.put(key, DATA)
    assert again == first
    with pytest.raises(PermanentConnectorError, match="never overwritten"):
        target.archive.put(key, DATA + b"changed")
    assert target.archive.get(key) == DATA
    assert target.archive.list() == [key]


def test_corruption_behind_the_archives_back_is_detected(target: ArchiveTarget) -> None:
    key = "acme/inbound/835/2026/03/09/abc-era.835"
    target.archive.put(key, DATA)
    target.corrupt(key, DATA.replace(b"905", b"906"))
    with pytest.raises(ArchiveIntegrityError) as caught:
        target.archive.get(key)
    assert isinstance(caught.value, PermanentConnectorError)


def test_missing_key_is_permanent(target: ArchiveTarget) -> None:
    with pytest.raises(ArchiveKeyNotFound):
        target.archive.get("acme/inbound/835/2026/03/09/none.835")


@pytest.mark.parametrize(
    "key", ["", "/abs/key", "a/../b", "a//b", "a/./b", "a\\b", "x.meta.json", "bad\nkey"]
)
def test_unsafe_keys_are_refused(target: ArchiveTarget, key: str) -> None:
    with pytest.raises(PermanentConnectorError, match="unsafe archive key"):
        target.archive.put(key, DATA)


def test_key_layout() -> None:
    digest = sha256_hex(DATA)
    key = archive_key("acme", "inbound", "835", WHEN, digest, "../../ERA 2026.835")
    assert key == f"acme/inbound/835/2026/03/09/{digest}-ERA_2026.835"
    local_evening = datetime.fromisoformat("2026-03-09T20:30:00-05:00")
    assert archive_key("acme", "inbound", "835", local_evening, digest, "x").split("/")[3:6] == [
        "2026",
        "03",
        "10",
    ]
    assert quarantine_key("acme", "inbound", "835", WHEN, digest, "x") == (
        f"quarantine/acme/inbound/835/2026/03/09/{digest}-x"
    )
    with pytest.raises(ValueError):
        archive_key("acme/../x", "inbound", "835", WHEN, digest, "x")
    with pytest.raises(ValueError):
        archive_key("acme", "inbound", "835", WHEN, "not-a-digest", "x")


def test_local_archive_keeps_sidecar_metadata_and_no_temp_files(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path / "a")
    archive.put("acme/x/y.x12", DATA, {"practice": "acme"})
    files = sorted(p.name for p in (tmp_path / "a" / "acme" / "x").iterdir())
    assert files == ["y.x12", "y.x12.meta.json"]
    record = json.loads((tmp_path / "a" / "acme" / "x" / "y.x12.meta.json").read_text())
    assert record["sha256"] == sha256_hex(DATA) and record["metadata"] == {"practice": "acme"}


def test_open_archive_file_url(tmp_path: Path) -> None:
    archive = open_archive(f"file://{tmp_path / 'arch'}")
    assert isinstance(archive, LocalArchive)
    assert archive.root == tmp_path / "arch"
    default = open_archive()
    assert isinstance(default, LocalArchive)
    assert default.root == tmp_path / "archive"
    with pytest.raises(PermanentConnectorError):
        open_archive("ftp://nope")


# -- S3 only ---------------------------------------------------------------------------------


@pytest.mark.integration
def test_every_s3_object_is_encrypted_and_checksummed(moto_endpoint: str) -> None:
    client = s3_client(moto_endpoint)
    bucket = _new_bucket(client)
    aes = S3Archive(bucket, "aes", client=client)
    kms_key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    kms = S3Archive(bucket, "kms", client=client, sse="aws:kms", kms_key_id=kms_key)
    for index in range(3):
        aes.put(f"acme/f{index}.x12", DATA + bytes([index]))
        kms.put(f"acme/f{index}.x12", DATA + bytes([index]))
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert len(listed) == 6
    for obj in listed:
        head = client.head_object(Bucket=bucket, Key=obj["Key"], ChecksumMode="ENABLED")
        expected = "aws:kms" if obj["Key"].startswith("kms/") else "AES256"
        assert head["ServerSideEncryption"] == expected
        if expected == "aws:kms":
            assert head["SSEKMSKeyId"] == kms_key
        body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        digest = hashlib.sha256(body).digest()
        assert head["Metadata"]["sha256"] == digest.hex()
        assert head["ChecksumSHA256"] == base64.b64encode(digest).decode()


@pytest.mark.integration
def test_s3_object_lock_retention(moto_endpoint: str) -> None:
    client = s3_client(moto_endpoint)
    bucket = _new_bucket(client, ObjectLockEnabledForBucket=True)
    archive = S3Archive(bucket, client=client, object_lock_days=7)
    stored = archive.put("acme/locked.x12", DATA)
    head = client.head_object(Bucket=bucket, Key="acme/locked.x12")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    retain = head["ObjectLockRetainUntilDate"]
    assert 6 <= (retain - datetime.now(UTC)).days <= 7
    assert stored.version == head["VersionId"]


class _LateS3Archive(S3Archive):
    """Sees no object at its existence check, as if a rival wrote the key just after it."""

    heads = 0

    def _head(self, key: str, full: str) -> dict[str, Any] | None:
        self.heads += 1
        return None if self.heads == 1 else super()._head(key, full)


@pytest.mark.integration
def test_s3_conditional_put_settles_a_race(moto_endpoint: str) -> None:
    client = s3_client(moto_endpoint)
    bucket = _new_bucket(client)
    rival = S3Archive(bucket, client=client).put("acme/race.x12", DATA)

    assert _LateS3Archive(bucket, client=client).put("acme/race.x12", DATA) == rival
    with pytest.raises(PermanentConnectorError, match="never overwritten"):
        _LateS3Archive(bucket, client=client).put("acme/race.x12", DATA + b"!")
    assert S3Archive(bucket, client=client).get("acme/race.x12") == DATA


@pytest.mark.integration
def test_s3_errors_map_to_the_connector_tree(moto_endpoint: str) -> None:
    client = s3_client(moto_endpoint)
    with pytest.raises(PermanentConnectorError, match="NoSuchBucket"):
        S3Archive("rcm-no-such-bucket", client=client).put("a/b", DATA)
    closed = s3_client(
        f"http://127.0.0.1:{free_port()}",
        retries={"max_attempts": 1},
        connect_timeout=1,
        read_timeout=1,
    )
    with pytest.raises(TransientConnectorError):
        S3Archive("rcm-archive", client=closed).get("a/b")


def test_s3_error_codes_classification() -> None:
    from botocore.exceptions import ClientError

    archive = S3Archive("bucket", client=object())  # type: ignore[arg-type]

    def raised(code: str, status: int) -> type[Exception]:
        error = ClientError(
            {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
        )
        with pytest.raises(Exception) as caught, archive._errors("put", "k"):
            raise error
        return type(caught.value)

    assert raised("SlowDown", 503) is TransientConnectorError
    assert raised("InternalError", 500) is TransientConnectorError
    assert raised("RequestTimeout", 400) is TransientConnectorError
    assert raised("AccessDenied", 403) is PermanentConnectorError
    assert raised("NoSuchBucket", 404) is PermanentConnectorError
    assert raised("InvalidAccessKeyId", 403) is PermanentConnectorError


@pytest.mark.integration
def test_open_archive_s3_url_uses_settings(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_client(moto_endpoint)
    bucket = _new_bucket(client)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("RCM_ARCHIVE_URL", f"s3://{bucket}/prod/archive")
    monkeypatch.setenv("RCM_S3_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("RCM_S3_SSE", "aws:kms")
    monkeypatch.setenv("RCM_S3_KMS_KEY_ID", "alias/rcm-archive")
    reset_settings_cache()
    archive = open_archive()
    assert isinstance(archive, S3Archive)
    assert (archive.bucket, archive.prefix) == (bucket, "prod/archive/")
    archive.put("acme/a.x12", DATA)
    head = client.head_object(Bucket=bucket, Key="prod/archive/acme/a.x12")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert archive.get("acme/a.x12") == DATA
