"""Secrets by reference: config files name a secret, never hold it.

A reference is one of:

- ``env:NAME`` — the environment variable NAME;
- ``env:NAME:-default`` — the same with a fallback; only sandbox profiles may use it (the
  clearinghouse profile loader refuses a default anywhere else), so a demo runs out of the box;
- ``prefect-secret:BLOCK`` — the value of the Prefect Secret block named BLOCK;
- ``file:PATH`` — the contents of a file (a mounted container secret, a CI key file).

Values are returned, never logged. Errors name the reference, never the value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import cast

from connectors.errors import PermanentConnectorError, TransientConnectorError

_ENV_REF = re.compile(r"^env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?$", re.DOTALL)
_PREFECT_REF = re.compile(r"^prefect-secret:(?P<name>[a-z0-9][a-z0-9-]*)$")
_FILE_REF = re.compile(r"^file:(?P<path>.+)$")

SECRET_REF_FORMS = ("env:NAME", "env:NAME:-default", "prefect-secret:BLOCK", "file:PATH")


class SecretError(PermanentConnectorError):
    """A secret reference that is malformed or does not resolve."""


def is_valid_ref(ref: str) -> bool:
    """True when `ref` has one of the accepted forms (it may still not resolve)."""
    return any(p.match(ref) for p in (_ENV_REF, _PREFECT_REF, _FILE_REF))


def ref_has_default(ref: str) -> bool:
    """True for ``env:NAME:-default`` references (allowed only in sandbox profiles)."""
    match = _ENV_REF.match(ref)
    return bool(match and match.group("default") is not None)


def resolve_secret(ref: str) -> str:
    """The secret value `ref` points at. SecretError when it is missing or malformed."""
    if match := _ENV_REF.match(ref):
        value = os.environ.get(match.group("name"))
        if value:
            return value
        if match.group("default") is not None:
            return match.group("default")
        raise SecretError(f"secret {ref!r}: environment variable {match.group('name')} is not set")
    if match := _PREFECT_REF.match(ref):
        return _prefect_secret(match.group("name"), ref)
    if match := _FILE_REF.match(ref):
        path = Path(os.path.expandvars(match.group("path"))).expanduser()
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise SecretError(f"secret {ref!r}: file does not exist") from exc
        except OSError as exc:
            raise SecretError(f"secret {ref!r}: file cannot be read ({exc.strerror})") from exc
    raise SecretError(f"secret reference {ref!r} is not one of {', '.join(SECRET_REF_FORMS)}")


def is_prefect_ref(ref: str) -> bool:
    """True for ``prefect-secret:`` references (resolving them calls the Prefect API)."""
    return bool(_PREFECT_REF.match(ref))


def secret_resolves(ref: str) -> bool:
    """True when `ref` resolves to a non-empty value right now."""
    try:
        return bool(resolve_secret(ref))
    except (SecretError, TransientConnectorError):
        return False


def _prefect_secret(name: str, ref: str) -> str:
    try:
        from prefect.blocks.system import Secret
    except ImportError as exc:  # pragma: no cover - prefect is a dependency
        raise SecretError(f"secret {ref!r}: prefect is not installed") from exc
    try:
        block = cast(Secret, Secret.load(name))
    except ValueError as exc:
        # Prefect raises ValueError for a block that does not exist.
        raise SecretError(f"secret {ref!r}: no Prefect Secret block named {name!r}") from exc
    except Exception as exc:
        # The Prefect API being unreachable is a fault that may pass.
        raise TransientConnectorError(
            f"secret {ref!r}: Prefect API unavailable ({type(exc).__name__})"
        ) from exc
    value = block.get()
    if isinstance(value, (dict, list)):
        raise SecretError(f"secret {ref!r}: the Secret block holds JSON, expected a string")
    return str(value)


__all__ = [
    "SECRET_REF_FORMS",
    "SecretError",
    "is_prefect_ref",
    "is_valid_ref",
    "ref_has_default",
    "resolve_secret",
    "secret_resolves",
]
