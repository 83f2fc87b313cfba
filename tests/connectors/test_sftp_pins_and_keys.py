"""Host-key pins and private keys, parsed without a server (plus one encrypted-key login)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.clearinghouse import ClearinghouseProfile, load_profile
from connectors.sftp import (
    AuthenticationRefused,
    HostKeyError,
    SftpSession,
    _load_private_key,
    load_host_key_pins,
)
from sandbox.sftp_server import SandboxSftpServer
from tests.connectors.helpers import REPO_CONFIG, new_ed25519, profile_from


def _fingerprint_of(line: str) -> str:
    import base64
    import hashlib

    blob = base64.b64decode(line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@pytest.fixture
def base() -> ClearinghouseProfile:
    return load_profile("sandbox", REPO_CONFIG)


def test_pin_forms(base: ClearinghouseProfile, tmp_path: Path) -> None:
    line = new_ed25519()[1]
    fingerprint = _fingerprint_of(line)
    by_line = load_host_key_pins(profile_from(base, host_key=line))
    assert [(p.fingerprint, p.key_type) for p in by_line] == [(fingerprint, "ssh-ed25519")]
    by_fingerprint = load_host_key_pins(profile_from(base, host_key=fingerprint))
    assert [(p.fingerprint, p.key_type) for p in by_fingerprint] == [(fingerprint, None)]
    key_file = tmp_path / "host.pub"
    key_file.write_text(f"# the clearinghouse's key\n{line}\n")
    by_file = load_host_key_pins(profile_from(base, host_key=f"file:{key_file}"))
    assert [p.fingerprint for p in by_file] == [fingerprint]


def test_known_hosts_file_skips_revoked_and_ca_lines(
    base: ClearinghouseProfile, tmp_path: Path
) -> None:
    good, revoked, ca = new_ed25519()[1], new_ed25519()[1], new_ed25519()[1]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        f"sftp.example.com {good}\n@revoked * {revoked}\n@cert-authority *.example.com {ca}\n"
    )
    pins = load_host_key_pins(profile_from(base, host_key=f"file:{known_hosts}"))
    assert [p.fingerprint for p in pins] == [_fingerprint_of(good)]


def test_rotation_list_and_var_dir_expansion(base: ClearinghouseProfile, tmp_path: Path) -> None:
    old, new = new_ed25519()[1], new_ed25519()[1]
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / "new.pub").write_text(new)
    pins = load_host_key_pins(profile_from(base, host_key=[old, "file:{var_dir}/new.pub"]))
    assert [p.fingerprint for p in pins] == [_fingerprint_of(old), _fingerprint_of(new)]


def test_empty_key_file_is_refused(base: ClearinghouseProfile, tmp_path: Path) -> None:
    (tmp_path / "empty.pub").write_text("# nothing here\n")
    with pytest.raises(HostKeyError, match="holds no public key"):
        load_host_key_pins(profile_from(base, host_key=f"file:{tmp_path / 'empty.pub'}"))


def test_unreadable_private_keys() -> None:
    with pytest.raises(AuthenticationRefused, match="cannot be read"):
        _load_private_key("not a key", None, "env:X")
    encrypted = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
        .decode()
    )
    with pytest.raises(AuthenticationRefused, match="encrypted"):
        _load_private_key(encrypted, None, "env:X")
    assert _load_private_key(encrypted, "passphrase", "env:X").get_name() == "ssh-ed25519"


def test_encrypted_key_login_with_passphrase_ref(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sandbox.accounts import SandboxAccount

    private = Ed25519PrivateKey.generate()
    encrypted = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.BestAvailableEncryption(b"open sesame"),
    ).decode()
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    monkeypatch.setenv("RCM_TEST_KEY", encrypted)
    monkeypatch.setenv("RCM_TEST_KEY_PASSPHRASE", "open sesame\n")
    account = SandboxAccount("keyed", authorized_keys=(public,))
    with SandboxSftpServer(tmp_path / "r", [account], tmp_path / "hk") as server:
        profile = profile_from(
            load_profile("sandbox", REPO_CONFIG),
            port=server.port,
            host_key=server.host_public_key_line,
            username="keyed",
            secret_kind="private_key",
            secret_ref="env:RCM_TEST_KEY",
            passphrase_ref="env:RCM_TEST_KEY_PASSPHRASE",
        )
        with SftpSession(profile) as sftp:
            assert sftp.list_files("outbound") == []
