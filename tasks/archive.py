"""Archive tasks: put a file's bytes under its key, write-once (a rerun putting the same bytes
gets the existing object back; different bytes under the same key are refused)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.archive import archive_key, open_archive, quarantine_key, sha256_hex
from tasks._runtime import CONNECTOR_TASK_OPTIONS


def inbound_key(
    practice: str, kind: str, received: datetime, data: bytes, name: str, *, quarantine: bool
) -> str:
    """``{practice}/inbound/{kind}/{yyyy}/{mm}/{dd}/{sha256}-{name}`` (or under quarantine/)."""
    make = quarantine_key if quarantine else archive_key
    return make(practice, "inbound", kind or "unknown", received, sha256_hex(data), name)


@task(name="archive-file", cache_policy=NO_CACHE, **CONNECTOR_TASK_OPTIONS)
def archive_bytes(key: str, data: bytes, metadata: dict[str, str] | None = None) -> str:
    """Store `data` under `key`; returns the key."""
    return open_archive().put(key, data, metadata).key


@task(name="archive-files", cache_policy=NO_CACHE, **CONNECTOR_TASK_OPTIONS)
def archive_many(items: list[tuple[str, bytes, dict[str, str]]]) -> list[str]:
    """`archive_bytes` for a batch of (key, data, metadata); write-once, so a retried batch
    puts again only what is missing."""
    archive = open_archive()
    return [archive.put(key, data, metadata).key for key, data, metadata in items]


@task(name="read-archived-file", cache_policy=NO_CACHE, **CONNECTOR_TASK_OPTIONS)
def read_archived(key: str) -> bytes:
    """The bytes under `key`, verified against the recorded SHA-256."""
    return open_archive().get(key)


__all__ = ["archive_bytes", "archive_many", "inbound_key", "read_archived"]
