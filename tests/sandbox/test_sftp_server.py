"""The sandbox SFTP server on its own, through a raw paramiko client: folders, jail, host key,
rename semantics and the on_upload hook."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from sandbox.accounts import SandboxAccount
from sandbox.sftp_server import (
    ACCOUNT_FOLDERS,
    SandboxSftpServer,
    is_temporary_name,
    load_or_create_host_key,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxSftpServer]:
    accounts = [SandboxAccount("acme", PASSWORD), SandboxAccount("globex", "other")]
    with SandboxSftpServer(tmp_path / "root", accounts, tmp_path / "keys" / "host") as running:
        yield running


@pytest.fixture
def sftp(server: SandboxSftpServer) -> Iterator[paramiko.SFTPClient]:
    transport = paramiko.Transport(("127.0.0.1", server.port))
    transport.connect(username="acme", password=PASSWORD)
    assert transport.get_remote_server_key().asbytes() == server.host_key.asbytes()
    client = paramiko.SFTPClient.from_transport(transport)
    assert client is not None
    try:
        yield client
    finally:
        client.close()
        transport.close()


def test_account_folders_and_host_key_files(server: SandboxSftpServer, tmp_path: Path) -> None:
    for account in ("acme", "globex"):
        for folder in ACCOUNT_FOLDERS:
            assert (tmp_path / "root" / account / folder).is_dir()
    public = server.host_public_key_path.read_text().split()
    assert public[:2] == [server.host_key.get_name(), server.host_key.get_base64()]
    assert public[0] == "ssh-ed25519"
    assert server.host_key_fingerprint.startswith("SHA256:")
    assert (server.host_key_path.stat().st_mode & 0o777) == 0o600


def test_host_key_is_kept_across_restarts(tmp_path: Path) -> None:
    first = load_or_create_host_key(tmp_path / "k")
    second = load_or_create_host_key(tmp_path / "k")
    assert first.asbytes() == second.asbytes()
    (tmp_path / "k.pub").unlink()
    load_or_create_host_key(tmp_path / "k")
    assert (tmp_path / "k.pub").read_text().split()[1] == first.get_base64()


def test_port_zero_picks_a_free_port_and_stop_releases_it(tmp_path: Path) -> None:
    server = SandboxSftpServer(tmp_path / "r", [SandboxAccount("a", "p")], tmp_path / "k")
    with pytest.raises(RuntimeError):
        _ = server.port
    server.start()
    port = server.port
    assert port > 0
    server.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_the_account_is_its_own_root(sftp: paramiko.SFTPClient, tmp_path: Path) -> None:
    assert sorted(sftp.listdir("/")) == ["inbound", "outbound"]
    assert sorted(sftp.listdir("..")) == ["inbound", "outbound"]
    assert sorted(sftp.listdir("../../..")) == ["inbound", "outbound"]
    assert sftp.normalize("../../etc") == "/etc"
    with pytest.raises(FileNotFoundError):
        sftp.stat("/etc/passwd")
    with sftp.open("../../../escape.txt", "wb") as handle:
        handle.write(b"x")
    assert (tmp_path / "root" / "acme" / "escape.txt").exists()
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "root" / "escape.txt").exists()


def test_accounts_cannot_see_each_other(server: SandboxSftpServer, tmp_path: Path) -> None:
    (tmp_path / "root" / "acme" / "inbound" / "835" / "era.x12").write_bytes(b"835")
    transport = paramiko.Transport(("127.0.0.1", server.port))
    transport.connect(username="globex", password="other")
    client = paramiko.SFTPClient.from_transport(transport)
    assert client is not None
    try:
        assert client.listdir("inbound/835") == []
        with pytest.raises(FileNotFoundError):
            client.stat("../acme/inbound/835/era.x12")
    finally:
        transport.close()


def test_wrong_password_and_unknown_user_are_refused(server: SandboxSftpServer) -> None:
    for username, password in (("acme", "wrong"), ("nobody", PASSWORD)):
        transport = paramiko.Transport(("127.0.0.1", server.port))
        try:
            with pytest.raises(paramiko.AuthenticationException):
                transport.connect(username=username, password=password)
        finally:
            transport.close()
    assert server.auth_attempts == 2


def test_public_key_login(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    key = paramiko.Ed25519Key.from_private_key(__import__("io").StringIO(pem))
    account = SandboxAccount("keyed", authorized_keys=(f"{key.get_name()} {key.get_base64()} me",))
    with SandboxSftpServer(tmp_path / "r", [account], tmp_path / "k") as server:
        transport = paramiko.Transport(("127.0.0.1", server.port))
        try:
            transport.connect(username="keyed", pkey=key)
            assert transport.is_authenticated()
        finally:
            transport.close()


def test_rename_never_replaces_and_hook_sees_only_final_names(
    server: SandboxSftpServer, sftp: paramiko.SFTPClient
) -> None:
    arrivals: list[tuple[str, str]] = []
    server.on_upload = lambda account, path: arrivals.append((account, path.name))
    with sftp.open("outbound/.claims.x12.part", "wb") as handle:
        handle.write(b"ISA~")
    with sftp.open("outbound/other.x12.filepart", "wb") as handle:
        handle.write(b"ISA~")
    with sftp.open("inbound/999/not-an-upload.x12", "wb") as handle:
        handle.write(b"ISA~")
    assert server.wait_for_hooks()
    assert arrivals == []

    sftp.rename("outbound/.claims.x12.part", "outbound/claims.x12")
    assert server.wait_for_hooks()
    assert arrivals == [("acme", "claims.x12")]

    with sftp.open("outbound/.again.part", "wb") as handle:
        handle.write(b"other")
    with pytest.raises(OSError):
        sftp.rename("outbound/.again.part", "outbound/claims.x12")
    assert server.account_root("acme").joinpath("outbound/claims.x12").read_bytes() == b"ISA~"

    with sftp.open("outbound/direct.x12", "wb") as handle:
        handle.write(b"ISA~direct")
    assert server.wait_for_hooks()
    assert arrivals == [("acme", "claims.x12"), ("acme", "direct.x12")]


def test_a_failing_hook_does_not_break_the_server(
    server: SandboxSftpServer, sftp: paramiko.SFTPClient
) -> None:
    def broken(account: str, path: Path) -> None:
        raise RuntimeError("adjudicator bug")

    server.on_upload = broken
    with sftp.open("outbound/a.x12", "wb") as handle:
        handle.write(b"ISA~")
    assert server.wait_for_hooks()
    assert sftp.listdir("outbound") == ["a.x12"]


def test_disk_full_fault_fails_writes(server: SandboxSftpServer, sftp: paramiko.SFTPClient) -> None:
    server.faults.disk_full = True
    with pytest.raises(OSError), sftp.open("outbound/full.x12", "wb") as handle:
        handle.write(b"ISA~")
        handle.flush()
    server.faults.clear()
    assert not server.faults.disk_full


def test_refuse_auth_fault(server: SandboxSftpServer) -> None:
    server.faults.refuse_auth = True
    transport = paramiko.Transport(("127.0.0.1", server.port))
    try:
        with pytest.raises(paramiko.AuthenticationException):
            transport.connect(username="acme", password=PASSWORD)
    finally:
        transport.close()


@pytest.mark.parametrize(
    ("name", "temporary"),
    [(".x.part", True), ("x.part", True), ("x.filepart", True), ("x.tmp", True), ("x.x12", False)],
)
def test_temporary_names(name: str, temporary: bool) -> None:
    assert is_temporary_name(name) is temporary


def test_accounts_need_a_credential_and_a_safe_name() -> None:
    with pytest.raises(ValueError):
        SandboxAccount("../evil", "p")
    with pytest.raises(ValueError):
        SandboxAccount("nocred")
    assert "s3cr3t-pw" not in repr(SandboxAccount("acme", "s3cr3t-pw"))
