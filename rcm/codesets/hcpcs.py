"""HCPCS Level II from CMS's annual (and quarterly) alpha-numeric file.

The file is fixed width, 320 characters a record (HCPC<YYYY>_recordlayout.txt): code in 1-5
(a modifier sits in 4-5), sequence 6-10, record ID 11 (3 first line of a procedure, 4 its
continuation, 7 first line of a modifier, 8 its continuation), long description 12-91, short
description 92-119, coverage code 230, code added date 269-276, action effective date 277-284,
termination date 285-292 (the last date of service the code may be used), action code 293.
Level I (CPT) codes are the AMA's and are not in this file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from rcm.codesets._files import file_key, parse_cms_date, read_text
from rcm.errors import ConfigError

RECORD_PROCEDURE = "3"
RECORD_PROCEDURE_MORE = "4"
RECORD_MODIFIER = "7"
RECORD_MODIFIER_MORE = "8"


@dataclass(frozen=True, slots=True)
class HcpcsEntry:
    code: str
    long_description: str
    short_description: str
    coverage_code: str
    add_date: date | None
    action_effective_date: date | None
    termination_date: date | None
    action_code: str

    def active_on(self, service_date: date) -> bool:
        if self.add_date is not None and service_date < self.add_date:
            return False
        return self.termination_date is None or service_date <= self.termination_date


@dataclass(frozen=True, slots=True)
class HcpcsCodeSet:
    procedures: dict[str, HcpcsEntry]
    modifiers: dict[str, HcpcsEntry]

    def procedure(self, code: str) -> HcpcsEntry | None:
        return self.procedures.get(code)

    def modifier(self, modifier: str) -> HcpcsEntry | None:
        return self.modifiers.get(modifier)


def _field(line: str, start: int, end: int) -> str:
    """1-based inclusive positions, as the record layout gives them."""
    return line[start - 1 : end].strip()


def parse_hcpcs(lines: Iterable[str], *, source: str = "HCPCS file") -> HcpcsCodeSet:
    procedures: dict[str, HcpcsEntry] = {}
    modifiers: dict[str, HcpcsEntry] = {}
    pending: dict[str, list[str]] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if len(line) < 11:
            continue
        record_id = line[10]
        if record_id in (RECORD_PROCEDURE_MORE, RECORD_MODIFIER_MORE):
            key = record_id + _field(line, 1, 5)
            pending.setdefault(key, []).append(_field(line, 12, 91))
            continue
        if record_id not in (RECORD_PROCEDURE, RECORD_MODIFIER):
            continue
        line = line.ljust(320)
        code = _field(line, 1, 5)
        try:
            entry = HcpcsEntry(
                code=code,
                long_description=_field(line, 12, 91),
                short_description=_field(line, 92, 119),
                coverage_code=_field(line, 230, 230),
                add_date=parse_cms_date(_field(line, 269, 276)),
                action_effective_date=parse_cms_date(_field(line, 277, 284)),
                termination_date=parse_cms_date(_field(line, 285, 292)),
                action_code=_field(line, 293, 293),
            )
        except ValueError as exc:
            raise ConfigError(f"{source}: line {number}: {exc}") from None
        if record_id == RECORD_PROCEDURE:
            procedures[code] = entry
        else:
            modifiers[code] = entry
    # Continuation lines carry the rest of the long description.
    for key, parts in pending.items():
        table = procedures if key[0] == RECORD_PROCEDURE_MORE else modifiers
        first = table.get(key[1:])
        if first is not None:
            table[key[1:]] = _with_description(first, " ".join([first.long_description, *parts]))
    return HcpcsCodeSet(procedures=procedures, modifiers=modifiers)


def _with_description(entry: HcpcsEntry, description: str) -> HcpcsEntry:
    return HcpcsEntry(
        code=entry.code,
        long_description=description,
        short_description=entry.short_description,
        coverage_code=entry.coverage_code,
        add_date=entry.add_date,
        action_effective_date=entry.action_effective_date,
        termination_date=entry.termination_date,
        action_code=entry.action_code,
    )


@lru_cache(maxsize=8)
def _load_one(key: tuple[str, int, int]) -> HcpcsCodeSet:
    path = Path(key[0])
    return parse_hcpcs(read_text(path).splitlines(), source=path.name)


def load_hcpcs(paths: Sequence[Path]) -> HcpcsCodeSet:
    """Files in release order: a later quarterly file's entries replace an earlier one's."""
    procedures: dict[str, HcpcsEntry] = {}
    modifiers: dict[str, HcpcsEntry] = {}
    for path in paths:
        try:
            one = _load_one(file_key(path))
        except OSError as exc:
            raise ConfigError(f"{path.name}: cannot be read ({exc.strerror})") from None
        procedures.update(one.procedures)
        modifiers.update(one.modifiers)
    return HcpcsCodeSet(procedures=procedures, modifiers=modifiers)


__all__ = ["HcpcsCodeSet", "HcpcsEntry", "load_hcpcs", "parse_hcpcs"]
