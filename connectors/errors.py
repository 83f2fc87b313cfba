"""Errors raised by connectors. Library errors (paramiko, socket, botocore) never escape raw.

ConnectorError
├── TransientConnectorError   retried: timeouts, dropped connections, throttling, server busy
└── PermanentConnectorError   not retried: auth refused, host key mismatch, missing folder
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every connector failure."""


class TransientConnectorError(ConnectorError):
    """A fault that may pass: the same call may succeed if retried."""


class PermanentConnectorError(ConnectorError):
    """A fault that retrying cannot fix: credentials, host keys, paths, permissions."""


def is_transient(exc: BaseException) -> bool:
    """True when `exc` is worth retrying."""
    return isinstance(exc, TransientConnectorError)
