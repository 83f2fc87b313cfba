"""One contract for the SFTP client, run against the sandbox server and against OpenSSH sshd.

The sshd variant needs RCM_TEST_SSHD_HOST/PORT/USER/KEY_FILE/HOST_PUBKEY_FILE/ROOT (.ci/run
starts sshd and sets them); it is an integration test and is skipped without them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.clearinghouse import ClearinghouseProfile, classify_inbound, load_profile
from connectors.errors import PermanentConnectorError, TransientConnectorError
from connectors.sftp import (
    AuthenticationRefused,
    HostKeyError,
    RemotePathError,
    SftpSession,
    check_connection,
    key_fingerprint,
)
from sandbox.sftp_server import SandboxSftpServer
from tests.connectors.helpers import REPO_CONFIG, new_ed25519, profile_from

SSHD_VARS = ("HOST", "PORT", "USER", "KEY_FILE", "HOST_PUBKEY_FILE", "ROOT")


@dataclass
class SftpTarget:
    """A server the contract runs against: its profile, its files on disk, a wrong secret."""

    kind: str
    profile: ClearinghouseProfile
    root: Path
    wrong_secret: str
    server: SandboxSftpServer | None = None

    def local(self, remote: str) -> Path:
        return self.root / remote


@pytest.fixture(params=["sandbox", pytest.param("sshd", marks=pytest.mark.integration)])
def target(request: pytest.FixtureRequest) -> Iterator[SftpTarget]:
    if request.param == "sandbox":
        server: SandboxSftpServer = request.getfixturevalue("sandbox_server")
        profile: ClearinghouseProfile = request.getfixturevalue("sandbox_profile")
        yield SftpTarget(
            "sandbox",
            profile,
            server.account_root(profile.username),
            wrong_secret="not-the-password",
            server=server,
        )
        return
    env = {name: os.environ.get(f"RCM_TEST_SSHD_{name}") for name in SSHD_VARS}
    missing = [f"RCM_TEST_SSHD_{k}" for k, v in env.items() if not v]
    if missing:
        pytest.skip(f"OpenSSH sshd not configured ({', '.join(missing)} unset; see .ci/run)")
    base = load_profile("sandbox", REPO_CONFIG)
    profile = profile_from(
        base,
        name="ci-sshd",
        display_name="OpenSSH sshd (CI)",
        is_sandbox=False,
        host=env["HOST"],
        port=int(env["PORT"] or 22),
        username=env["USER"],
        host_key=f"file:{env['HOST_PUBKEY_FILE']}",
        secret_kind="private_key",
        secret_ref=f"file:{env['KEY_FILE']}",
        connect_timeout=5,
        read_timeout=5,
    )
    yield SftpTarget("sshd", profile, Path(str(env["ROOT"])), wrong_secret=new_ed25519()[0])


@pytest.fixture
def name() -> Iterator[str]:
    """A unique outbound file name (reruns against a long-lived sshd never collide)."""
    yield f"acme_837P_{uuid.uuid4().hex[:12]}.x12"


@pytest.fixture
def cleanup(target: SftpTarget) -> Iterator[list[str]]:
    paths: list[str] = []
    yield paths
    with SftpSession(target.profile) as sftp:
        for path in paths:
            if sftp.stat(path) is not None:
                sftp.remove(path)


PAYLOAD = b"ISA*00*" + b"X" * 150_000 + b"~IEA*1*000000001~"


def test_upload_renames_into_place_and_lists(
    target: SftpTarget, name: str, cleanup: list[str]
) -> None:
    folder = target.profile.upload_folder
    cleanup.append(f"{folder}/{name}")
    with SftpSession(target.profile) as sftp:
        remote = sftp.upload(folder, name, PAYLOAD)
        listed = {f.name: f for f in sftp.list_files(folder)}
        data = sftp.download(remote.path)

    assert remote.name == name and remote.size == len(PAYLOAD) and remote.path == f"{folder}/{name}"
    assert listed[name].size == len(PAYLOAD)
    assert listed[name].mtime.tzinfo is not None
    assert not any(n.startswith(".") for n in listed), "temporary names are never listed"
    assert data == PAYLOAD
    assert target.local(f"{folder}/{name}").read_bytes() == PAYLOAD
    assert not target.local(f"{folder}/.{name}.part").exists()


def test_retried_upload_lands_exactly_once(
    target: SftpTarget, name: str, cleanup: list[str]
) -> None:
    folder = target.profile.upload_folder
    cleanup.append(f"{folder}/{name}")
    arrivals: list[str] = []
    if target.server is not None:
        target.server.on_upload = lambda account, path: arrivals.append(path.name)
    with SftpSession(target.profile) as sftp:
        first = sftp.upload(folder, name, PAYLOAD)
    with SftpSession(target.profile) as sftp:
        second = sftp.upload(folder, name, PAYLOAD)
        same_session_again = sftp.upload(folder, name, PAYLOAD)

    assert first == second == same_session_again
    assert target.local(f"{folder}/{name}").read_bytes() == PAYLOAD
    if target.server is not None:
        assert target.server.wait_for_hooks()
        assert arrivals == [name]


def test_existing_name_with_other_bytes_is_never_overwritten(
    target: SftpTarget, name: str, cleanup: list[str]
) -> None:
    folder = target.profile.upload_folder
    cleanup.append(f"{folder}/{name}")
    with SftpSession(target.profile) as sftp:
        sftp.upload(folder, name, b"first version")
        with pytest.raises(PermanentConnectorError, match="different content"):
            sftp.upload(folder, name, b"second version")
    assert target.local(f"{folder}/{name}").read_bytes() == b"first version"


def test_stale_temporary_file_is_replaced(
    target: SftpTarget, name: str, cleanup: list[str]
) -> None:
    folder = target.profile.upload_folder
    temp = f"{folder}/.{name}.part"
    cleanup.extend([f"{folder}/{name}"])
    with SftpSession(target.profile) as sftp:
        raw = sftp._sftp()
        with raw.open(temp, "wb") as handle:
            handle.write(b"half a fi")
        sftp.upload(folder, name, PAYLOAD)
    assert target.local(f"{folder}/{name}").read_bytes() == PAYLOAD
    assert not target.local(temp).exists()


def test_listing_inbound_folders_and_classifying(target: SftpTarget) -> None:
    with SftpSession(target.profile) as sftp:
        for folder in target.profile.inbound_folders:
            for remote in sftp.list_files(folder):
                assert classify_inbound(target.profile, remote.path) is not None


def test_pin_by_fingerprint_and_by_key_line(target: SftpTarget) -> None:
    with SftpSession(target.profile) as sftp:
        fingerprint = sftp.server_fingerprint
    assert fingerprint is not None
    by_fingerprint = profile_from(target.profile, host_key=fingerprint)
    with SftpSession(by_fingerprint) as sftp:
        assert sftp.server_fingerprint == fingerprint
    if target.server is not None:
        by_line = profile_from(target.profile, host_key=target.server.host_public_key_line)
        with SftpSession(by_line) as sftp:
            assert sftp.server_fingerprint == key_fingerprint(target.server.host_key)


def test_unknown_host_key_is_refused(target: SftpTarget, tmp_path: Path) -> None:
    unpinned = profile_from(target.profile, host_key=None)
    with pytest.raises(HostKeyError, match="no host key pinned"):
        SftpSession(unpinned).connect()
    missing_file = profile_from(target.profile, host_key=f"file:{tmp_path / 'nope.pub'}")
    with pytest.raises(HostKeyError, match="cannot be read"):
        SftpSession(missing_file).connect()


def test_changed_host_key_is_refused_before_credentials_are_sent(target: SftpTarget) -> None:
    other_key = new_ed25519()[1]
    changed = profile_from(target.profile, host_key=other_key)
    attempts_before = target.server.auth_attempts if target.server else 0
    with pytest.raises(HostKeyError, match="does not match") as caught:
        SftpSession(changed).connect()
    assert isinstance(caught.value, PermanentConnectorError)
    if target.server is not None:
        assert target.server.auth_attempts == attempts_before


def test_bad_credentials_are_refused_without_retry(target: SftpTarget) -> None:
    attempts_before = target.server.auth_attempts if target.server else 0
    with pytest.raises(AuthenticationRefused) as caught:
        SftpSession(target.profile, secret=target.wrong_secret).connect()
    assert isinstance(caught.value, PermanentConnectorError)
    assert "not-the-password" not in str(caught.value)
    if target.server is not None:
        assert target.server.auth_attempts == attempts_before + 1


@pytest.mark.parametrize(
    ("folder", "file_name"),
    [
        ("outbound", "../escape.x12"),
        ("outbound", ".."),
        ("outbound/..", "escape.x12"),
        ("../..", "etc.x12"),
        ("/etc", "passwd"),
        ("inbound", "not-a-configured-folder.x12"),
        ("outbound", "nested/name.x12"),
        ("outbound", "bad\nname.x12"),
    ],
)
def test_path_traversal_is_refused(target: SftpTarget, folder: str, file_name: str) -> None:
    with SftpSession(target.profile) as sftp:
        with pytest.raises(RemotePathError):
            sftp.upload(folder, file_name, b"x")
        with pytest.raises(RemotePathError):
            sftp.download(f"{folder}/{file_name}")
    assert not (target.root.parent / "escape.x12").exists()


def test_listing_outside_the_account_is_refused(target: SftpTarget) -> None:
    with SftpSession(target.profile) as sftp:
        for folder in ("/", "..", "/etc", "outbound/../.."):
            with pytest.raises(RemotePathError):
                sftp.list_files(folder)


def test_missing_folder_is_permanent(target: SftpTarget) -> None:
    profile = profile_from(
        target.profile, inbound=[{"kind": "999", "folder": "inbound/no-such-folder"}]
    )
    with SftpSession(profile) as sftp, pytest.raises(RemotePathError) as caught:
        sftp.list_files("inbound/no-such-folder")
    assert isinstance(caught.value, PermanentConnectorError)
    assert not isinstance(caught.value, TransientConnectorError)


def test_check_connection_reports_each_step(target: SftpTarget) -> None:
    steps = check_connection(target.profile)
    assert all(step.ok for step in steps), steps
    names = [step.step for step in steps]
    assert names[:5] == [
        "host key pinned",
        "credentials",
        "connect",
        "host key matches",
        "authenticate",
    ]
    assert [n for n in names if n.startswith("list ")] == [
        f"list {f}" for f in target.profile.folders
    ]

    refused = check_connection(profile_from(target.profile, host_key=new_ed25519()[1]))
    assert refused[-1].step == "host key matches" and not refused[-1].ok
