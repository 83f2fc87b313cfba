"""Crashes at step boundaries of the flows, injected by monkeypatching the task, domain and
connector functions `submit_claims` and `collect_responses` call (the flows are not edited).

A crash is a BaseException: nothing in the flows or tasks catches it (they catch Exception), no
retry policy retries it, and every open database transaction rolls back, as when the process is
killed at that point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest


class Crash(BaseException):
    """The process dies here."""


INJECTED: dict[str, int] = {"crashes": 0, "network faults": 0}


def _crash(where: str) -> None:
    INJECTED["crashes"] += 1
    raise Crash(where)


def after(original: Callable[..., Any], where: str, *, on_call: int = 1) -> Callable[..., Any]:
    """`original` runs (its transaction commits), then the process dies — on the n-th call."""
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == on_call:
            _crash(where)
        return result

    return wrapper


def before(original: Callable[..., Any], where: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _crash(where)

    return wrapper


def inside(original: Callable[..., Any], where: str, *, on_call: int = 1) -> Callable[..., Any]:
    """A domain function taking the task's session: it does all its writes (flushed), then the
    process dies before the task commits."""
    calls = {"n": 0}

    def wrapper(session: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(session, *args, **kwargs)
        session.flush()
        calls["n"] += 1
        if calls["n"] == on_call:
            _crash(where)
        return result

    return wrapper


def half_upload(original: Callable[..., Any]) -> Callable[..., Any]:
    """SftpSession.upload that writes half the bytes to the temporary name and dies."""
    from connectors.sftp import _remote_join

    def upload(self: Any, folder: str | None, name: str, data: bytes) -> Any:
        if "_837" not in name:
            return original(self, folder, name, data)
        remote_folder = self._folder(folder or self.profile.upload_folder)
        temp = _remote_join(remote_folder, self.profile.temp_name(name))
        with self._sftp().open(temp, "wb") as handle:
            handle.write(data[: len(data) // 2])
        _crash(f"mid-upload of {name}")

    return upload


@dataclass(frozen=True)
class CrashPoint:
    name: str
    flow: str  # "submit" or "collect"
    install: Callable[[pytest.MonkeyPatch], None]


def _patch(
    target: str, attribute: str, make: Callable[[Any], Any]
) -> Callable[[pytest.MonkeyPatch], None]:
    def install(monkeypatch: pytest.MonkeyPatch) -> None:
        import importlib

        module = importlib.import_module(target)
        original = getattr(module, attribute)
        monkeypatch.setattr(module, attribute, make(original))

    return install


def _patch_method(
    cls_path: str, attribute: str, make: Callable[[Any], Any]
) -> Callable[[pytest.MonkeyPatch], None]:
    def install(monkeypatch: pytest.MonkeyPatch) -> None:
        import importlib

        module_name, cls_name = cls_path.rsplit(".", 1)
        cls = getattr(importlib.import_module(module_name), cls_name)
        monkeypatch.setattr(cls, attribute, make(getattr(cls, attribute)))

    return install


CRASH_POINTS = [
    CrashPoint(
        "after-control-numbers-allocated",
        "submit",
        _patch("tasks.claims", "assign_batches", lambda f: after(f, "control numbers allocated")),
    ),
    CrashPoint(
        "after-file-built",
        "submit",
        _patch("tasks.claims", "build_and_gate_many", lambda f: after(f, "files built")),
    ),
    CrashPoint(
        "after-archive-before-upload",
        "submit",
        _patch("flows._outbound", "record_files_archived", lambda f: after(f, "archived")),
    ),
    CrashPoint(
        "mid-upload",
        "submit",
        _patch_method("connectors.sftp.SftpSession", "upload", half_upload),
    ),
    CrashPoint(
        "after-upload-before-commit",
        "submit",
        _patch(
            "rcm.batching", "record_uploaded", lambda f: inside(f, "upload recorded, uncommitted")
        ),
    ),
    CrashPoint(
        "after-download-before-archive",
        "collect",
        _patch("flows.responses", "archive_many", lambda f: before(f, "downloaded, not archived")),
    ),
    CrashPoint(
        "mid-posting",
        "collect",
        _patch("rcm.posting", "post_835_file", lambda f: inside(f, "835 posted, uncommitted")),
    ),
    CrashPoint(
        "after-posting-before-files-moved",
        "collect",
        _patch("flows.responses", "process_files", lambda f: after(f, "posted, files not moved")),
    ),
]
