"""The ICD-10-CM cache file (rcm/codesets/icd10.py, rcm/codesets/_cache.py): built when
missing, reused, rebuilt when stale or corrupt, safe when processes build at once, and the
same code set as simple-icd-10-cm gives."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from types import MappingProxyType

import pytest

from rcm.codesets import icd10
from rcm.codesets.icd10 import Icd10CodeSet, cache_path, icd10cm, load_icd10cm_cached

REPO = Path(__file__).resolve().parents[3]

SMALL = Icd10CodeSet(
    version="2026-04",
    effective_from=date(2026, 4, 1),
    effective_to=date(2026, 9, 30),
    billable=frozenset({"I10", "E119", "J069", "S72001A"}),
    headers=frozenset({"E11", "J06", "S72", "S720", "S7200", "S72001"}),
    more_specific=MappingProxyType({"J069": "J06"}),
)


class Builder:
    """A stand-in for the simple-icd-10-cm build that counts its calls."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self) -> Icd10CodeSet:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        return SMALL


def slow_build() -> Icd10CodeSet:
    """For the subprocess test: long enough that two processes overlap."""
    time.sleep(1.0)
    return SMALL


def never() -> Icd10CodeSet:
    raise AssertionError("the cache should have been used")


def same(a: Icd10CodeSet, b: Icd10CodeSet) -> bool:
    return (
        a.version == b.version
        and a.effective_from == b.effective_from
        and a.effective_to == b.effective_to
        and a.billable == b.billable
        and a.headers == b.headers
        and dict(a.more_specific) == dict(b.more_specific)
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_fresh_cache_is_built_then_reused(tmp_path: Path) -> None:
    build = Builder()
    first = load_icd10cm_cached(tmp_path, build=build)
    assert build.calls == 1 and same(first, SMALL)
    path = cache_path(tmp_path)
    assert path.is_file() and path.parent == tmp_path
    assert "simple-icd-10-cm" in path.name and f".f{icd10.CACHE_FORMAT}." in path.name
    again = load_icd10cm_cached(tmp_path, build=never)
    assert same(again, SMALL)
    assert leftovers(tmp_path) == []


def test_the_cache_folder_comes_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rcm.settings import reset_settings_cache

    monkeypatch.setenv("RCM_CACHE_DIR", str(tmp_path / "cache"))
    reset_settings_cache()
    load_icd10cm_cached(build=Builder())
    assert cache_path().parent == tmp_path / "cache"
    assert cache_path().is_file()


def test_a_new_simple_icd_10_cm_version_is_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_icd10cm_cached(tmp_path, build=Builder())
    old = cache_path(tmp_path)
    monkeypatch.setattr(icd10, "_source_version", lambda: "99.0.0")
    build = Builder()
    load_icd10cm_cached(tmp_path, build=build)
    assert build.calls == 1
    assert cache_path(tmp_path) != old and cache_path(tmp_path).is_file()
    load_icd10cm_cached(tmp_path, build=never)


@pytest.mark.parametrize(
    ("field", "value"),
    [("source_version", "0.0.1"), ("format", 0), ("kind", "hcpcs"), ("source", "other")],
)
def test_a_stale_header_is_rebuilt(tmp_path: Path, field: str, value: object) -> None:
    load_icd10cm_cached(tmp_path, build=Builder())
    path = cache_path(tmp_path)
    header_line, _, body = path.read_bytes().partition(b"\n")
    header = json.loads(header_line)
    header[field] = value
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)
    build = Builder()
    assert same(load_icd10cm_cached(tmp_path, build=build), SMALL)
    assert build.calls == 1
    load_icd10cm_cached(tmp_path, build=never)  # and the rebuilt file is good


def _rewrite_body(path: Path, body: bytes) -> None:
    """Replace the body and fix its digest (corruption a checksum cannot see)."""
    header = json.loads(path.read_bytes().partition(b"\n")[0])
    header["sha256"] = hashlib.sha256(body).hexdigest()
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)


@pytest.mark.parametrize(
    "damage",
    [
        "flipped-byte",
        "truncated",
        "empty",
        "no-header",
        "garbage-header",
        "header-not-object",
        "lines-missing",
        "counts-differ",
        "bad-pair",
        "not-ascii",
    ],
)
def test_a_corrupt_cache_is_never_trusted(tmp_path: Path, damage: str) -> None:
    load_icd10cm_cached(tmp_path, build=Builder())
    path = cache_path(tmp_path)
    data = path.read_bytes()
    body = data.partition(b"\n")[2]
    if damage == "flipped-byte":
        index = len(data) - 3
        path.write_bytes(data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :])
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "no-header":
        path.write_bytes(body.replace(b"\n", b" "))
    elif damage == "garbage-header":
        path.write_bytes(b"\x00\xff{not json\n" + body)
    elif damage == "header-not-object":
        path.write_bytes(b"[1, 2]\n" + body)
    elif damage == "lines-missing":
        _rewrite_body(path, body.split(b"\n")[0])
    elif damage == "counts-differ":
        _rewrite_body(path, body.replace(b"I10 ", b""))
    elif damage == "bad-pair":
        _rewrite_body(path, body.replace(b"J069=J06", b"J069"))
    elif damage == "not-ascii":
        _rewrite_body(path, body.replace(b"I10", b"I\xc3\xa9"))
    build = Builder()
    assert same(load_icd10cm_cached(tmp_path, build=build), SMALL)
    assert build.calls == 1
    assert same(load_icd10cm_cached(tmp_path, build=never), SMALL)


def test_an_unwritable_cache_folder_still_gives_the_code_set(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    build = Builder()
    assert same(load_icd10cm_cached(blocker, build=build), SMALL)
    assert same(load_icd10cm_cached(blocker, build=build), SMALL)
    assert build.calls == 2  # nothing cached, nothing broken


def test_threads_building_at_once(tmp_path: Path) -> None:
    build = Builder(delay=0.2)
    results: list[Icd10CodeSet] = []

    def load() -> None:
        results.append(load_icd10cm_cached(tmp_path, build=build))

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 6 and all(same(r, SMALL) for r in results)
    assert build.calls >= 1
    assert leftovers(tmp_path) == []
    assert same(load_icd10cm_cached(tmp_path, build=never), SMALL)


def test_processes_building_at_once(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rcm.codesets.icd10 import load_icd10cm_cached\n"
        "from tests.rcm.codesets.test_icd10_cache import slow_build\n"
        "s = load_icd10cm_cached(Path(sys.argv[1]), build=slow_build)\n"
        "print(len(s.billable), len(s.headers), len(s.more_specific))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=180) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err[-1000:] for _, err in outputs]
    assert {out.strip() for out, _ in outputs} == {"4 6 1"}
    assert leftovers(tmp_path) == []
    assert same(load_icd10cm_cached(tmp_path, build=never), SMALL)


def test_the_real_release_survives_the_cache(tmp_path: Path) -> None:
    """Built from simple-icd-10-cm into an empty folder, then read back: the same sets, and the
    charges import's existence check agrees with simple_icd_10_cm.is_valid_item."""
    import simple_icd_10_cm as icd

    from rcm.identifiers import icd10_shape_problem, normalize_icd10
    from rcm.imports.charges import _icd_exists

    built = load_icd10cm_cached(tmp_path)
    loaded = load_icd10cm_cached(tmp_path, build=never)
    assert same(built, loaded) and len(loaded.billable) > 70_000
    assert same(icd10cm(), loaded)

    codes = icd.get_all_codes(with_dots=False)
    sample = [*codes[::97], "A000", "S72001A", "Z99", "E11", "E119", "E11.9", "J06.9"]
    sample += ["A0", "ZZZ9", "E11999", "S72001Z", "U071", "I1O"]
    for raw in sample:
        code = normalize_icd10(raw)
        if icd10_shape_problem(code):
            continue
        assert _icd_exists(code) == icd.is_valid_item(code), code
