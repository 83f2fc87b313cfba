"""Faults only the sandbox server can stage: dropped connections, full disks, stalls."""

from __future__ import annotations

import time

import pytest

from connectors.clearinghouse import ClearinghouseProfile
from connectors.errors import PermanentConnectorError, TransientConnectorError
from connectors.sftp import AuthenticationRefused, SftpSession
from sandbox.sftp_server import SandboxSftpServer
from tests.connectors.helpers import pkey_text_to_profile, profile_from

PAYLOAD = bytes(range(256)) * 800  # 200 KiB, several SFTP writes


def outbound(server: SandboxSftpServer, profile: ClearinghouseProfile) -> list[str]:
    return sorted(p.name for p in (server.account_root(profile.username) / "outbound").iterdir())


def test_connection_dropped_mid_upload_leaves_no_partial_file_then_retry_lands_once(
    sandbox_server: SandboxSftpServer, sandbox_profile: ClearinghouseProfile
) -> None:
    arrivals: list[str] = []
    sandbox_server.on_upload = lambda account, path: arrivals.append(path.name)
    sandbox_server.faults.drop_after_bytes = 70_000

    with SftpSession(sandbox_profile) as sftp, pytest.raises(TransientConnectorError):
        sftp.upload("outbound", "acme_837P_000000001.x12", PAYLOAD)
    assert "acme_837P_000000001.x12" not in outbound(sandbox_server, sandbox_profile)
    assert sandbox_server.faults.drop_after_bytes is None, "the fault fires once"

    with SftpSession(sandbox_profile) as sftp:
        remote = sftp.upload("outbound", "acme_837P_000000001.x12", PAYLOAD)
        again = sftp.upload("outbound", "acme_837P_000000001.x12", PAYLOAD)

    assert remote == again and remote.size == len(PAYLOAD)
    assert outbound(sandbox_server, sandbox_profile) == ["acme_837P_000000001.x12"]
    local = sandbox_server.account_root(sandbox_profile.username) / remote.path
    assert local.read_bytes() == PAYLOAD
    assert sandbox_server.wait_for_hooks()
    assert arrivals == ["acme_837P_000000001.x12"]


def test_session_reconnects_after_a_drop(
    sandbox_server: SandboxSftpServer, sandbox_profile: ClearinghouseProfile
) -> None:
    with SftpSession(sandbox_profile) as sftp:
        sandbox_server.faults.drop_after_bytes = 10
        with pytest.raises(TransientConnectorError):
            sftp.upload("outbound", "a.x12", PAYLOAD)
        assert not sftp.connected
        assert sftp.upload("outbound", "a.x12", PAYLOAD).size == len(PAYLOAD)


def test_disk_full_is_transient_and_leaves_nothing_under_the_final_name(
    sandbox_server: SandboxSftpServer, sandbox_profile: ClearinghouseProfile
) -> None:
    sandbox_server.faults.disk_full = True
    with SftpSession(sandbox_profile) as sftp:
        # Pipelined write errors surface as a short file, which the size check catches.
        with pytest.raises(TransientConnectorError, match=r"holds 0 of|[Ff]ailure"):
            sftp.upload("outbound", "full.x12", PAYLOAD)
        assert sftp.stat("outbound/full.x12") is None
        sandbox_server.faults.disk_full = False
        assert sftp.upload("outbound", "full.x12", PAYLOAD).size == len(PAYLOAD)
    assert outbound(sandbox_server, sandbox_profile) == ["full.x12"]


def test_stalled_server_times_out_as_transient(
    sandbox_server: SandboxSftpServer, sandbox_profile: ClearinghouseProfile
) -> None:
    profile = profile_from(sandbox_profile, read_timeout=0.3)
    with SftpSession(profile) as sftp:
        sandbox_server.faults.stall_seconds = 3
        started = time.monotonic()
        with pytest.raises(TransientConnectorError, match=r"timed out|lost"):
            sftp.list_files("outbound")
        assert time.monotonic() - started < 2.5
    sandbox_server.faults.stall_seconds = 0


def test_refused_authentication_is_permanent(
    sandbox_server: SandboxSftpServer, sandbox_profile: ClearinghouseProfile
) -> None:
    sandbox_server.faults.refuse_auth = True
    with pytest.raises(AuthenticationRefused) as caught:
        SftpSession(sandbox_profile).connect()
    assert isinstance(caught.value, PermanentConnectorError)
    assert sandbox_server.auth_attempts == 1


def test_nothing_listening_is_transient(sandbox_profile: ClearinghouseProfile) -> None:
    from tests.connectors.helpers import free_port

    closed = profile_from(sandbox_profile, port=free_port(), connect_timeout=1)
    with pytest.raises(TransientConnectorError):
        SftpSession(closed).connect()


def test_private_key_authentication(
    sandbox_server: SandboxSftpServer,
    sandbox_profile: ClearinghouseProfile,
    client_key: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profile = pkey_text_to_profile(sandbox_profile, client_key[0], monkeypatch)
    with SftpSession(profile) as sftp:
        assert sftp.upload("outbound", "keyed.x12", b"ISA~").size == 4


def test_idle_session_reconnects_transparently(
    sandbox_server: SandboxSftpServer, sandbox_profile: ClearinghouseProfile
) -> None:
    profile = profile_from(sandbox_profile, idle_timeout=0.05)
    with SftpSession(profile) as sftp:
        sftp.list_files("outbound")
        first = sftp._transport
        time.sleep(0.1)
        sftp.list_files("outbound")
        assert sftp._transport is not first
