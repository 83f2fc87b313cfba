"""Derived code-set files in the cache folder (settings.cache_dir, RCM_CACHE_DIR): written
whole or not at all, read back only when intact.

A cache file is one JSON header line, then the body. The header names the file's kind, the
format version and the version of whatever it was derived from, and carries the body's
SHA-256: a file whose header does not match what the reader expects, or whose body does not
match its digest, is ignored (and rebuilt by the caller), never trusted. Writers write a
temporary file in the same folder and rename it over the final name, so two processes building
at once each install a complete file and a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


class CacheMiss(Exception):
    """The cache file is absent, stale (other format or source version) or corrupt."""


def cache_dir() -> Path:
    from rcm.settings import get_settings

    return Path(get_settings().cache_dir).expanduser()


def read(path: Path, expected: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The header and body of `path`, when its header carries every `expected` item and its
    body matches the header's digest; otherwise CacheMiss."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CacheMiss("absent") from None
    except OSError as exc:
        raise CacheMiss(f"unreadable ({exc.strerror})") from None
    first, newline, body = data.partition(b"\n")
    if not newline:
        raise CacheMiss("no header line")
    try:
        header = json.loads(first)
    except ValueError:
        raise CacheMiss("header is not JSON") from None
    if not isinstance(header, dict):
        raise CacheMiss("header is not an object")
    for key, value in expected.items():
        if header.get(key) != value:
            raise CacheMiss(f"stale: {key} is {header.get(key)!r}, not {value!r}")
    if header.get("sha256") != hashlib.sha256(body).hexdigest():
        raise CacheMiss("body does not match its digest")
    return header, body


def write(path: Path, header: dict[str, Any], body: bytes) -> None:
    """Install `path` atomically: a temporary file in the same folder, renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {**header, "sha256": hashlib.sha256(body).hexdigest()}
    line = json.dumps(record, sort_keys=True, separators=(",", ":")).encode("ascii")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it 0600; the cache is as readable as its folder
        with os.fdopen(fd, "wb") as handle:
            handle.write(line + b"\n" + body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
