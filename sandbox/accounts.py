"""Sandbox SFTP accounts: who may log in to the simulator and how.

The demo account's password comes from RCM_SANDBOX_SFTP_PASSWORD, defaulting to
``sandbox-demo`` so `rcm demo` runs out of the box; config/clearinghouses/sandbox.yaml refers to
the same variable with the same default. RCM_SANDBOX_AUTHORIZED_KEYS may name an OpenSSH
authorized_keys file whose keys the demo account also accepts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DEMO_USERNAME = "rcm-demo"
DEMO_PASSWORD_ENV = "RCM_SANDBOX_SFTP_PASSWORD"
DEMO_PASSWORD_DEFAULT = "sandbox-demo"
AUTHORIZED_KEYS_ENV = "RCM_SANDBOX_AUTHORIZED_KEYS"

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class SandboxAccount:
    """A login on the sandbox server: a password, authorized public key lines, or both."""

    username: str
    password: str | None = None
    authorized_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _USERNAME.match(self.username):
            raise ValueError(f"sandbox username {self.username!r} is not a safe folder name")
        if self.password is None and not self.authorized_keys:
            raise ValueError(f"sandbox account {self.username!r} has neither password nor key")

    def __repr__(self) -> str:
        return f"SandboxAccount(username={self.username!r}, keys={len(self.authorized_keys)})"


def read_authorized_keys(path: Path) -> tuple[str, ...]:
    """Public key lines from an authorized_keys file (comments and blanks skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def demo_account(username: str = DEMO_USERNAME) -> SandboxAccount:
    """The demo login, configured from the environment."""
    password = os.environ.get(DEMO_PASSWORD_ENV) or DEMO_PASSWORD_DEFAULT
    keys_file = os.environ.get(AUTHORIZED_KEYS_ENV)
    keys = read_authorized_keys(Path(keys_file)) if keys_file else ()
    return SandboxAccount(username=username, password=password, authorized_keys=keys)
