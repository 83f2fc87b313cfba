"""Fixtures for the connector suites: a sandbox SFTP server, moto's S3 server, key helpers.

Nothing here is autouse; tests ask for what they need.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.clearinghouse import ClearinghouseProfile, load_profile
from sandbox.accounts import SandboxAccount, demo_account
from sandbox.sftp_server import SandboxSftpServer
from tests.connectors.helpers import REPO_CONFIG, free_port, new_ed25519, profile_from


@pytest.fixture
def client_key() -> tuple[str, str]:
    return new_ed25519()


@pytest.fixture
def sandbox_server(tmp_path: Path, client_key: tuple[str, str]) -> Iterator[SandboxSftpServer]:
    """The sandbox server on a free port, with the demo account (password and a client key)."""
    demo = demo_account()
    account = SandboxAccount(demo.username, demo.password, (client_key[1],))
    server = SandboxSftpServer(
        tmp_path / "sftp", [account], tmp_path / "var" / "sandbox" / "ssh_host_ed25519_key"
    )
    with server:
        yield server


@pytest.fixture
def sandbox_profile(sandbox_server: SandboxSftpServer) -> ClearinghouseProfile:
    """config/clearinghouses/sandbox.yaml pointed at the fixture server (short timeouts)."""
    base = load_profile("sandbox", REPO_CONFIG)
    return profile_from(
        base, port=sandbox_server.port, connect_timeout=5, read_timeout=5, keepalive_seconds=0
    )


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server over real HTTP on a free loopback port."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
