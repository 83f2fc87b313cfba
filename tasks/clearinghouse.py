"""SFTP tasks against a practice's clearinghouse account: one connector operation each.

Flows call these through `on_account(task, clearinghouse)`, which tags the task run
``clearinghouse:<profile>``. A tag concurrency limit on that tag
(``prefect concurrency-limit create clearinghouse:<profile> 2``) then caps the SFTP sessions
open against one account across every practice and flow run, however many run at once; only
the SFTP tasks carry the tag, so database work is never held back by it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import Task

from connectors.clearinghouse import ClearinghouseProfile, classify_inbound, load_profile
from connectors.sftp import CheckStep, SftpSession, check_connection
from tasks._runtime import CONNECTOR_TASK_OPTIONS

# Fields that point a profile at a running in-process sandbox (its loopback port and host key).
# The demo and the tests register them; deployed flows read the profile files as they are.
_PROFILE_OVERRIDES: dict[str, dict[str, Any]] = {}


def set_profile_overrides(name: str, overrides: Mapping[str, Any] | None) -> None:
    """Use `overrides` on top of config/clearinghouses/<name>.yaml in this process (None
    forgets them)."""
    if overrides is None:
        _PROFILE_OVERRIDES.pop(name, None)
    else:
        _PROFILE_OVERRIDES[name] = dict(overrides)


@contextmanager
def profile_overrides(name: str, overrides: Mapping[str, Any]) -> Iterator[None]:
    previous = _PROFILE_OVERRIDES.get(name)
    set_profile_overrides(name, overrides)
    try:
        yield
    finally:
        set_profile_overrides(name, previous)


def clearinghouse_profile(name: str) -> ClearinghouseProfile:
    """The profile `name`, with any in-process overrides applied."""
    profile = load_profile(name)
    overrides = _PROFILE_OVERRIDES.get(name)
    return profile.model_copy(update=overrides) if overrides else profile


def concurrency_tag(clearinghouse: str) -> str:
    """The tag whose concurrency limit caps sessions against one clearinghouse account."""
    return f"clearinghouse:{clearinghouse}"


T = TypeVar("T", bound=Task[Any, Any])


def on_account(task_: T, clearinghouse: str) -> T:
    """`task_` tagged for the clearinghouse account's concurrency limit."""
    return task_.with_options(tags={concurrency_tag(clearinghouse)})  # type: ignore[return-value]


@dataclass(frozen=True)
class InboundFile:
    """A file waiting in one of the clearinghouse's inbound folders."""

    path: str
    name: str
    kind: str | None  # 999, 277CA, 835, 271, 277, or None when no rule matches
    size: int


@dataclass(frozen=True)
class DownloadedFile:
    path: str
    name: str
    kind: str | None
    data: bytes


@task(name="list-clearinghouse-files", cache_policy=NO_CACHE, **CONNECTOR_TASK_OPTIONS)
def list_inbound_files(clearinghouse: str) -> list[InboundFile]:
    """Every file in the account's inbound folders, classified by the profile's rules."""
    profile = clearinghouse_profile(clearinghouse)
    files: list[InboundFile] = []
    with SftpSession(profile) as sftp:
        for folder in profile.inbound_folders:
            for remote in sftp.list_files(folder):
                files.append(
                    InboundFile(
                        path=remote.path,
                        name=remote.name,
                        kind=classify_inbound(profile, remote.path),
                        size=remote.size,
                    )
                )
    return files


@task(name="download-clearinghouse-files", cache_policy=NO_CACHE, **CONNECTOR_TASK_OPTIONS)
def download_files(clearinghouse: str, files: list[InboundFile]) -> list[DownloadedFile]:
    """The bytes of `files`, over one SFTP session."""
    if not files:
        return []
    profile = clearinghouse_profile(clearinghouse)
    out: list[DownloadedFile] = []
    with SftpSession(profile) as sftp:
        for item in files:
            out.append(DownloadedFile(item.path, item.name, item.kind, sftp.download(item.path)))
    return out


@dataclass(frozen=True)
class FetchedFiles:
    """What `fetch_new_files` found: how many files were listed, how many of kinds nobody
    handles were left there, and the bytes of the new ones."""

    listed: int
    not_handled: int
    files: list[DownloadedFile]


@task(name="fetch-new-clearinghouse-files", cache_policy=NO_CACHE, **CONNECTOR_TASK_OPTIONS)
def fetch_new_files(
    clearinghouse: str,
    known_names: set[str],
    handled_kinds: set[str],
    kinds: list[str] | None = None,
    file_name: str | None = None,
) -> FetchedFiles:
    """List the account's inbound folders and download, over the same SFTP session, every
    file not in `known_names` (optionally only `kinds` or the one `file_name`) whose kind is
    in `handled_kinds`; files of other kinds are counted and left on the server."""
    profile = clearinghouse_profile(clearinghouse)
    listed = 0
    not_handled = 0
    out: list[DownloadedFile] = []
    with SftpSession(profile) as sftp:
        for folder in profile.inbound_folders:
            for remote in sftp.list_files(folder):
                listed += 1
                kind = classify_inbound(profile, remote.path)
                if remote.name in known_names:
                    continue
                if kinds is not None and kind not in kinds:
                    continue
                if file_name is not None and remote.name != file_name:
                    continue
                if kind not in handled_kinds:
                    not_handled += 1
                    continue
                out.append(
                    DownloadedFile(
                        remote.path, remote.name, kind, sftp.download(remote.path, remote.size)
                    )
                )
    return FetchedFiles(listed, not_handled, out)


@task(name="upload-to-clearinghouse", cache_policy=NO_CACHE, **CONNECTOR_TASK_OPTIONS)
def upload_file(clearinghouse: str, name: str, data: bytes) -> str:
    """Upload through a temporary name and rename; uploading the same bytes again is a no-op,
    so a retried or rerun upload never leaves a second file. Returns the remote path."""
    profile = clearinghouse_profile(clearinghouse)
    with SftpSession(profile) as sftp:
        return sftp.upload(None, name, data).path


@task(name="upload-files-to-clearinghouse", cache_policy=NO_CACHE, **CONNECTOR_TASK_OPTIONS)
def upload_files(clearinghouse: str, files: list[tuple[str, bytes]]) -> list[str]:
    """`upload_file` for a batch of (name, data) over one SFTP session. A retried batch finds
    the files it sent before already there (same bytes: a no-op). Returns the remote paths."""
    if not files:
        return []
    profile = clearinghouse_profile(clearinghouse)
    with SftpSession(profile) as sftp:
        return [sftp.upload(None, name, data).path for name, data in files]


@task(name="move-to-processed", cache_policy=NO_CACHE, **CONNECTOR_TASK_OPTIONS)
def move_to_processed(clearinghouse: str, paths: list[str]) -> int:
    """Move handled files to the profile's processed folder, when it has one."""
    profile = clearinghouse_profile(clearinghouse)
    if not profile.processed_folder or not paths:
        return 0
    with SftpSession(profile) as sftp:
        for path in paths:
            sftp.move(path, profile.processed_folder)
    return len(paths)


@task(name="connect-to-clearinghouse", cache_policy=NO_CACHE, **CONNECTOR_TASK_OPTIONS)
def connect(clearinghouse: str) -> str:
    """Open and close a session: the host key, the credentials and the login work. A flow runs
    this first so that a permanent fault (a changed host key, refused credentials) fails the
    run before it changes anything. Returns the server's key fingerprint."""
    profile = clearinghouse_profile(clearinghouse)
    with SftpSession(profile) as sftp:
        return sftp.server_fingerprint or ""


@task(name="check-clearinghouse-connection", cache_policy=NO_CACHE)
def check_clearinghouse(clearinghouse: str) -> list[CheckStep]:
    """Host key, credentials, login and a listing of every folder; reports, never raises."""
    profile = clearinghouse_profile(clearinghouse)
    return check_connection(profile)


def remote_name(clearinghouse: str, *, practice: str, kind: str, isa13: int, when: str) -> str:
    """The file name the clearinghouse expects for an outbound interchange."""
    return clearinghouse_profile(clearinghouse).outbound_name(
        practice=practice, kind=kind, isa13=f"{isa13:09d}", timestamp=when
    )


__all__ = [
    "DownloadedFile",
    "FetchedFiles",
    "InboundFile",
    "check_clearinghouse",
    "clearinghouse_profile",
    "concurrency_tag",
    "connect",
    "download_files",
    "fetch_new_files",
    "list_inbound_files",
    "move_to_processed",
    "on_account",
    "profile_overrides",
    "remote_name",
    "set_profile_overrides",
    "upload_file",
    "upload_files",
]
