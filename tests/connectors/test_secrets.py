"""Secret references: env, env with a sandbox default, file; errors name the ref, not the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import PermanentConnectorError
from connectors.secrets import (
    SecretError,
    is_valid_ref,
    ref_has_default,
    resolve_secret,
    secret_resolves,
)


def test_env_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCM_SFTP_PASSWORD_ACME", "s3cr3t-value")
    assert resolve_secret("env:RCM_SFTP_PASSWORD_ACME") == "s3cr3t-value"
    assert secret_resolves("env:RCM_SFTP_PASSWORD_ACME")


def test_missing_env_is_a_permanent_error_without_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RCM_SFTP_PASSWORD_NOPE", raising=False)
    with pytest.raises(SecretError, match="RCM_SFTP_PASSWORD_NOPE is not set") as caught:
        resolve_secret("env:RCM_SFTP_PASSWORD_NOPE")
    assert isinstance(caught.value, PermanentConnectorError)
    assert not secret_resolves("env:RCM_SFTP_PASSWORD_NOPE")


def test_env_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RCM_SANDBOX_X", raising=False)
    assert resolve_secret("env:RCM_SANDBOX_X:-demo") == "demo"
    monkeypatch.setenv("RCM_SANDBOX_X", "set")
    assert resolve_secret("env:RCM_SANDBOX_X:-demo") == "set"
    assert ref_has_default("env:RCM_SANDBOX_X:-demo")
    assert not ref_has_default("env:RCM_SANDBOX_X")


def test_file_reference(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n...")
    assert resolve_secret(f"file:{key}").startswith("-----BEGIN")
    with pytest.raises(SecretError, match="does not exist"):
        resolve_secret(f"file:{tmp_path / 'missing'}")


@pytest.mark.parametrize(
    "ref", ["hunter2", "env:", "env:1BAD", "prefect-secret:Upper_Case", "vault:x", ""]
)
def test_malformed_references(ref: str) -> None:
    assert not is_valid_ref(ref)
    with pytest.raises(SecretError):
        resolve_secret(ref)


def test_valid_forms() -> None:
    for ref in ("env:A_B", "env:A:-x", "prefect-secret:acme-sftp-key", "file:/run/secrets/k"):
        assert is_valid_ref(ref)
