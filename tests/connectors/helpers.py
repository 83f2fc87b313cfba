"""Helpers shared by the connector suites (fixtures live in conftest.py)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.clearinghouse import ClearinghouseProfile

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_ed25519() -> tuple[str, str]:
    """(private key in OpenSSH format, public key line) for a fresh Ed25519 key."""
    private = Ed25519PrivateKey.generate()
    text = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return text, public.decode()


def profile_from(base: ClearinghouseProfile, **changes: Any) -> ClearinghouseProfile:
    """A validated copy of `base` with `changes`."""
    return ClearinghouseProfile.model_validate({**base.model_dump(), **changes})


def s3_client(endpoint: str, **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config) if config else None,
    )


def pkey_text_to_profile(
    profile: ClearinghouseProfile, private_key: str, monkeypatch: Any
) -> ClearinghouseProfile:
    """`profile` switched to private-key authentication with the key in an env variable."""
    monkeypatch.setenv("RCM_TEST_SFTP_KEY", private_key)
    return profile_from(profile, secret_kind="private_key", secret_ref="env:RCM_TEST_SFTP_KEY")
