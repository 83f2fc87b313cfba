"""The pyx12 gate's process pool (tasks/_validation_pool.py): same verdicts as in-process, a
killed worker survived, RCM_VALIDATION_WORKERS=0 in-process, small files inline while no pool
runs, and workers that never re-run the parent's main module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from rcm.errors import ConfigError
from rcm.x12.validate import ValidationReport, validate
from tasks._validation_pool import (
    ValidationPool,
    shutdown_validation_pool,
    validation_executor,
    validation_pool,
    validation_workers,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def _837(claims: int) -> bytes:
    from benchmarks.x12_bench import _837_bytes

    data = _837_bytes(claims)
    assert data is not None
    return data


def _invalid(claims: int) -> bytes:
    # SBR09 "XX" is no claim filing indicator: pyx12 refuses every subscriber loop.
    return _837(claims).replace(b"******CI~", b"******XX~")


def _verdict(report: ValidationReport) -> tuple[object, ...]:
    return (
        report.valid,
        report.validator,
        [(e.code, e.segment_number, e.segment_id, e.element, e.message) for e in report.errors],
        report.validator_failure,
    )


@pytest.fixture(scope="module")
def pool() -> Iterator[ValidationPool]:
    started = ValidationPool(2)
    yield started
    started.shutdown()


def test_the_pool_gives_the_in_process_verdicts(pool: ValidationPool) -> None:
    files = {"good": _837(40), "bad": _invalid(40), "garbage": b"not an X12 file"}
    futures = {name: pool.submit(validate, data, file_name=name) for name, data in files.items()}
    pooled = {name: future.result(timeout=120) for name, future in futures.items()}
    local = {name: validate(data, file_name=name) for name, data in files.items()}
    assert pooled["good"].valid and pooled["good"].validator == "pyx12"
    assert not pooled["bad"].valid and any(e.element == "SBR09" for e in pooled["bad"].errors)
    assert not pooled["garbage"].valid
    assert {n: _verdict(r) for n, r in pooled.items()} == {n: _verdict(r) for n, r in local.items()}
    assert pool.running and len(pool.worker_pids()) == 2


def test_a_killed_worker_is_replaced_and_its_files_validated_again(pool: ValidationPool) -> None:
    data = _837(300)
    expected = _verdict(validate(data))
    restarts = pool.restarts
    futures = [pool.submit(validate, data, file_name=f"f{i}") for i in range(4)]
    deadline = time.monotonic() + 60
    while not (pids := pool.worker_pids()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # let the workers take a file each
    os.kill(pids[0], signal.SIGKILL)
    results = [future.result(timeout=300) for future in futures]
    assert [_verdict(r) for r in results] == [expected] * 4
    assert pool.restarts == restarts + 1
    assert pool.running and pids[0] not in pool.worker_pids()


def test_a_file_that_kills_every_worker_fails_after_the_attempts() -> None:
    pool = ValidationPool(1, initializer=None, max_attempts=2)
    try:
        future = pool.submit(os._exit, 3)
        with pytest.raises(BrokenProcessPool):
            future.result(timeout=120)
        assert pool.restarts == 2
        assert pool.submit(len, b"abc").result(timeout=120) == 3  # a fresh pool again
    finally:
        pool.shutdown()


def test_zero_workers_validates_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCM_VALIDATION_WORKERS", "0")
    assert validation_workers() == 0
    assert validation_executor() is None
    inline = ValidationPool()
    assert inline.max_workers == 0
    future = inline.submit(validate, _837(2), file_name="x")
    assert future.done() and future.result().valid
    assert not inline.running
    failing = inline.submit(validate)  # missing argument: the error is the future's
    with pytest.raises(TypeError):
        failing.result()


def test_the_worker_count_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RCM_VALIDATION_WORKERS", raising=False)
    assert validation_workers() == (os.cpu_count() or 1)
    monkeypatch.setenv("RCM_VALIDATION_WORKERS", "3")
    assert validation_workers() == 3
    for bad in ("two", "-1"):
        monkeypatch.setenv("RCM_VALIDATION_WORKERS", bad)
        with pytest.raises(ConfigError, match="RCM_VALIDATION_WORKERS"):
            validation_workers()


def test_small_files_are_validated_inline_while_no_pool_runs() -> None:
    pool = ValidationPool(2, inline_bytes=64 * 1024)
    try:
        small = pool.submit(validate, _837(3), file_name="small")
        assert small.done() and small.result().valid
        assert not pool.running
    finally:
        pool.shutdown()


def test_the_shared_pool_is_one_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCM_VALIDATION_WORKERS", "1")
    try:
        shared = validation_pool()
        assert validation_executor() is shared and validation_pool() is shared
        assert shared.max_workers == 1 and not shared.running  # processes start on demand
    finally:
        shutdown_validation_pool()
    assert validation_pool() is not shared
    shutdown_validation_pool()


def test_a_script_without_a_main_guard_can_use_the_pool(tmp_path: Path) -> None:
    """Workers never re-import the parent's __main__ (a Prefect flow-run process's main is
    prefect.engine; a user's script may have no `if __name__ == "__main__"` guard)."""
    script = tmp_path / "unguarded.py"
    marker = tmp_path / "runs.txt"
    script.write_text(
        textwrap.dedent(
            f"""
            with open({str(marker)!r}, "a") as f:
                f.write("ran\\n")
            import sys
            from tasks._validation_pool import ValidationPool
            pool = ValidationPool(2, initializer=None)
            modules = pool.submit(eval, "sorted(__import__('sys').modules)").result(timeout=120)
            pool.shutdown()
            print("prefect" in modules, "sqlmodel" in modules)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker.read_text() == "ran\n"  # the script ran once: not again in the workers
    assert done.stdout.split() == ["False", "False"]  # workers stay light
