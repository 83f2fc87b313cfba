"""ICD-10-CM, flattened from simple-icd-10-cm into frozensets, loaded once per process.

simple-icd-10-cm parses the CMS tabular XML on import (1.5-2 s on an idle core, 7 s on a loaded
one); everything the scrubber and the charges import ask is a set or dict lookup on dotless
upper-case codes, as claims store them. So the flattened set is built once per machine into the
cache folder (settings.cache_dir, RCM_CACHE_DIR; keyed by the simple-icd-10-cm version and
CACHE_FORMAT) and every process after that loads it in a few tens of milliseconds. A cache file
that is missing, stale or corrupt is rebuilt; one that cannot be written (a read-only home) just
means every process builds its own, as before.

The bundled release is April 2026. Other releases (a new fiscal year every October 1, sometimes an
April update) can be added from CMS's order file, icd10cm_order_<YYYY>.txt: fixed width, order
number 1-5, code 7-13, 15 '1' billable / '0' header, short description 17-76, long description
from 78. A claim is checked against the release in force on its first date of service.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from rcm.codesets._files import file_key, read_text
from rcm.errors import ConfigError

# The US switched from ICD-9-CM on this date of service.
ICD10CM_START = date(2015, 10, 1)

Icd10Status = Literal["billable", "header", "invalid"]


@dataclass(frozen=True, slots=True)
class Icd10CodeSet:
    """One release of ICD-10-CM.

    `billable` are the leaves (codes a claim may carry); `headers` are categories and
    subcategories that have children. `more_specific` maps an unspecified billable code to the
    category or subcategory under which more specific codes exist.
    """

    version: str
    effective_from: date
    effective_to: date
    billable: frozenset[str]
    headers: frozenset[str]
    more_specific: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def status(self, code: str) -> Icd10Status:
        if code in self.billable:
            return "billable"
        if code in self.headers:
            return "header"
        return "invalid"

    def is_billable(self, code: str) -> bool:
        return code in self.billable

    def covers(self, service_date: date) -> bool:
        return self.effective_from <= service_date <= self.effective_to


def is_external_cause(code: str) -> bool:
    """Chapter 20 (V00-Y99): how an injury happened, never the first-listed diagnosis."""
    return bool(code) and code[0] in "VWXY"


def _dotless(code: str) -> str:
    return code.replace(".", "")


def _build_from_simple_icd_10_cm() -> Icd10CodeSet:
    import simple_icd_10_cm as icd

    billable: set[str] = set()
    headers: set[str] = set()
    more_specific: dict[str, str] = {}
    for code in icd.get_all_codes(with_dots=True):
        # Chapters ("1".."22") and blocks ("A00-A09") are navigation, not codes.
        if "-" in code or code.isdigit() or not icd.is_category_or_subcategory(code):
            continue
        dotless = _dotless(code)
        if icd.is_leaf(code):
            billable.add(dotless)
        else:
            headers.add(dotless)
            continue
        # A seventh-character code (S72.001A) is as specific as its parent (S72.001); look
        # for specificity one level up from the code that carries the description.
        node = icd.get_parent(code) if icd.is_extended_subcategory(code) else code
        if "unspecified" not in icd.get_description(node).lower():
            continue
        parent = icd.get_parent(node)
        if not parent or not icd.is_category_or_subcategory(parent):
            continue
        for sibling in icd.get_children(parent):
            if sibling != node and "unspecified" not in icd.get_description(sibling).lower():
                more_specific[dotless] = _dotless(parent)
                break
    return Icd10CodeSet(
        version="2026-04",
        effective_from=date(2026, 4, 1),
        effective_to=date(2026, 9, 30),
        billable=frozenset(billable),
        headers=frozenset(headers),
        more_specific=MappingProxyType(more_specific),
    )


# Bump when _build_from_simple_icd_10_cm or the cache layout changes: older files are then
# stale and rebuilt.
CACHE_FORMAT = 1
_CACHE_KIND = "icd10cm"
_SOURCE = "simple-icd-10-cm"


def _source_version() -> str:
    """The installed simple-icd-10-cm's version, without importing it (the import is the slow
    part)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(_SOURCE)
    except PackageNotFoundError:
        return "unknown"


def cache_path(cache_dir: Path | None = None) -> Path:
    """Where the flattened bundled release is cached for this simple-icd-10-cm version."""
    from rcm.codesets import _cache

    folder = cache_dir if cache_dir is not None else _cache.cache_dir()
    return folder / f"{_CACHE_KIND}-{_SOURCE}-{_source_version()}.f{CACHE_FORMAT}.txt"


def _cache_header(source_version: str) -> dict[str, object]:
    return {
        "kind": _CACHE_KIND,
        "format": CACHE_FORMAT,
        "source": _SOURCE,
        "source_version": source_version,
    }


def _dump(code_set: Icd10CodeSet) -> tuple[dict[str, object], bytes]:
    """Header fields and body: three lines of space-separated codes (billable, headers,
    code=parent pairs for more_specific)."""
    lines = [
        " ".join(sorted(code_set.billable)),
        " ".join(sorted(code_set.headers)),
        " ".join(f"{code}={parent}" for code, parent in sorted(code_set.more_specific.items())),
    ]
    header: dict[str, object] = {
        "version": code_set.version,
        "effective_from": code_set.effective_from.isoformat(),
        "effective_to": code_set.effective_to.isoformat(),
        "counts": [len(code_set.billable), len(code_set.headers), len(code_set.more_specific)],
    }
    return header, "\n".join(lines).encode("ascii")


def _load(header: dict[str, object], body: bytes) -> Icd10CodeSet:
    from rcm.codesets._cache import CacheMiss

    try:
        billable_line, headers_line, specific_line = body.decode("ascii").split("\n")
        billable = frozenset(billable_line.split())
        headers = frozenset(headers_line.split())
        more_specific = dict(pair.split("=", 1) for pair in specific_line.split())
        code_set = Icd10CodeSet(
            version=str(header["version"]),
            effective_from=date.fromisoformat(str(header["effective_from"])),
            effective_to=date.fromisoformat(str(header["effective_to"])),
            billable=billable,
            headers=headers,
            more_specific=MappingProxyType(more_specific),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CacheMiss(f"unreadable body ({type(exc).__name__})") from None
    counts = [len(billable), len(headers), len(more_specific)]
    if header.get("counts") != counts or not billable:
        raise CacheMiss("counts do not match the header")
    return code_set


def load_icd10cm_cached(
    cache_dir: Path | None = None,
    *,
    build: Callable[[], Icd10CodeSet] | None = None,
) -> Icd10CodeSet:
    """The bundled release from the cache file, or built (by `build`, default from
    simple-icd-10-cm) and cached when the file is missing, stale or corrupt."""
    from rcm.codesets import _cache
    from rcm.logging import logger

    source_version = _source_version()
    expected = _cache_header(source_version)
    try:
        path = cache_path(cache_dir)
    except Exception as exc:  # settings unreadable: build without a cache
        logger.warning("ICD-10-CM cache folder unavailable ({}); building in memory", exc)
        return (build or _build_from_simple_icd_10_cm)()
    try:
        return _load(*_cache.read(path, expected))
    except _cache.CacheMiss as miss:
        reason = str(miss)
    started = time.perf_counter()
    code_set = (build or _build_from_simple_icd_10_cm)()
    built = time.perf_counter() - started
    header, body = _dump(code_set)
    try:
        _cache.write(path, {**expected, **header}, body)
    except OSError as exc:
        logger.warning(
            "ICD-10-CM built in {:.1f} s but not cached in {} ({})", built, path.parent, exc
        )
    else:
        log = logger.info if reason == "absent" else logger.warning
        log("ICD-10-CM cache {} ({}): built in {:.1f} s", path.name, reason, built)
    return code_set


@lru_cache(maxsize=1)
def icd10cm() -> Icd10CodeSet:
    """The ICD-10-CM release bundled with simple-icd-10-cm, loaded once per process (from the
    cache file, built into it on first use)."""
    return load_icd10cm_cached()


def parse_icd10cm_order(
    lines: Iterable[str], *, version: str, effective_from: date, effective_to: date = date.max
) -> Icd10CodeSet:
    """A release from CMS's order file (see the module docstring for the layout)."""
    billable: set[str] = set()
    headers: set[str] = set()
    descriptions: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        code = line[6:13].strip()
        flag = line[14:15]
        if not code or flag not in ("0", "1"):
            raise ConfigError(f"ICD-10-CM order file {version}: line {number} is not in the layout")
        (billable if flag == "1" else headers).add(code)
        descriptions[code] = line[77:].strip().lower()
    more_specific: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    for code in descriptions:
        if len(code) > 3:
            children.setdefault(code[:-1], []).append(code)
    for code in billable:
        # A seventh character (S72001A) adds the encounter, not specificity: look one level up.
        node = code[:-1] if len(code) == 7 and code[:-1] in headers else code
        if "unspecified" not in descriptions.get(node, ""):
            continue
        parent = node[:-1]
        if len(node) <= 3 or parent not in headers:
            continue
        if any(
            sibling != node and "unspecified" not in descriptions[sibling]
            for sibling in children.get(parent, ())
        ):
            more_specific[code] = parent
    return Icd10CodeSet(
        version=version,
        effective_from=effective_from,
        effective_to=effective_to,
        billable=frozenset(billable),
        headers=frozenset(headers),
        more_specific=MappingProxyType(more_specific),
    )


_ORDER_NAME = re.compile(r"(?i)icd10cm[_-]order[_-](?:(april)[_-])?(\d{4})")


def release_dates_from_name(name: str) -> tuple[str, date] | None:
    """('2027', 2026-10-01) for icd10cm_order_2027.txt; ('2025-04', 2025-04-01) for the April
    update icd10cm-order-April-2025.txt."""
    match = _ORDER_NAME.search(name)
    if not match:
        return None
    year = int(match.group(2))
    if match.group(1):
        return f"{year}-04", date(year, 4, 1)
    return str(year), date(year - 1, 10, 1)


@lru_cache(maxsize=16)
def _load_order(key: tuple[str, int, int], version: str, effective_from: date) -> Icd10CodeSet:
    path = Path(key[0])
    return parse_icd10cm_order(
        read_text(path).splitlines(), version=version, effective_from=effective_from
    )


@dataclass(frozen=True, slots=True)
class Icd10File:
    path: Path
    effective: date | None = None


def load_icd10cm_order(item: Icd10File) -> Icd10CodeSet:
    named = release_dates_from_name(item.path.name)
    effective = item.effective or (named[1] if named else None)
    if effective is None:
        raise ConfigError(
            f"{item.path.name}: give its effective date (not a CMS icd10cm_order_<YYYY> name)"
        )
    version = named[0] if named else effective.isoformat()
    try:
        return _load_order(file_key(item.path), version, effective)
    except OSError as exc:
        raise ConfigError(f"{item.path.name}: cannot be read ({exc.strerror})") from None


@dataclass(frozen=True, slots=True)
class Icd10Releases:
    """Releases by effective date; each is in force until the next one starts."""

    releases: tuple[Icd10CodeSet, ...]
    starts: tuple[date, ...]

    @classmethod
    def of(cls, releases: Sequence[Icd10CodeSet]) -> Icd10Releases:
        # Later in the list wins a tie: user files come after the bundled release.
        by_start: dict[date, Icd10CodeSet] = {}
        for release in releases:
            by_start[release.effective_from] = release
        ordered = [by_start[d] for d in sorted(by_start)]
        windowed = []
        for index, release in enumerate(ordered):
            end = (
                ordered[index + 1].effective_from - timedelta(days=1)
                if index + 1 < len(ordered)
                else max(release.effective_to, release.effective_from)
            )
            windowed.append(
                Icd10CodeSet(
                    version=release.version,
                    effective_from=release.effective_from,
                    effective_to=end,
                    billable=release.billable,
                    headers=release.headers,
                    more_specific=release.more_specific,
                )
            )
        return cls(tuple(windowed), tuple(r.effective_from for r in windowed))

    def for_date(self, service_date: date) -> Icd10CodeSet:
        """The release in force on the date; before the first one, the first; after the last
        one's window, the last (the newest release the platform has)."""
        index = bisect.bisect_right(self.starts, service_date) - 1
        return self.releases[max(index, 0)]


def describe(code: str) -> str | None:
    """The tabular description of a code (dotless or dotted), or None when it does not exist."""
    import simple_icd_10_cm as icd

    if not icd.is_valid_item(code):
        return None
    return str(icd.get_description(code))


__all__ = [
    "CACHE_FORMAT",
    "ICD10CM_START",
    "Icd10CodeSet",
    "Icd10File",
    "Icd10Releases",
    "Icd10Status",
    "cache_path",
    "describe",
    "icd10cm",
    "is_external_cause",
    "load_icd10cm_cached",
    "load_icd10cm_order",
    "parse_icd10cm_order",
    "release_dates_from_name",
]
