"""Medically Unlikely Edits (MUE) from CMS's quarterly files.

CMS publishes three tables, practitioner services, outpatient hospital services and DME supplier
services (MCR_MUE_<Setting>_Eff_<MM-DD-YYYY>.csv), each a copyright line and a header then one
row per code: HCPCS/CPT code, MUE value (units a provider would report for one patient on one
date of service), MUE adjudication indicator ("1 Line Edit", "2 Date of Service Edit: Policy",
"3 Date of Service Edit: Clinical"), rationale. A file carries no per-row dates: the whole
table takes effect on the date in its name (or the date given in config), and stays in effect
until the next file of the same setting takes over.
"""

from __future__ import annotations

import bisect
import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum, StrEnum
from functools import lru_cache
from pathlib import Path

from rcm.codesets._files import file_key, is_procedure_code, parse_cms_date, read_text
from rcm.errors import ConfigError


class MueSetting(StrEnum):
    PRACTITIONER = "practitioner"
    OUTPATIENT_HOSPITAL = "outpatient_hospital"
    DME = "dme"


class MueAdjudication(IntEnum):
    LINE = 1  # units on one claim line
    DATE_OF_SERVICE_POLICY = 2  # units on the date of service; absolute (regulation or policy)
    DATE_OF_SERVICE_CLINICAL = 3  # units on the date of service; clinical, may be appealed

    @property
    def label(self) -> str:
        return _MAI_LABELS[self]


_MAI_LABELS = {
    MueAdjudication.LINE: "line edit",
    MueAdjudication.DATE_OF_SERVICE_POLICY: "date of service edit: policy",
    MueAdjudication.DATE_OF_SERVICE_CLINICAL: "date of service edit: clinical",
}


@dataclass(frozen=True, slots=True)
class MueEdit:
    code: str
    value: int
    adjudication: MueAdjudication
    rationale: str


@dataclass(slots=True)
class MueTable:
    """Quarterly versions of one setting's table, each in force from its effective date."""

    effective_dates: list[date] = field(default_factory=list)
    versions: list[dict[str, MueEdit]] = field(default_factory=list)

    def add_version(self, effective: date, edits: dict[str, MueEdit]) -> None:
        index = bisect.bisect_left(self.effective_dates, effective)
        if index < len(self.effective_dates) and self.effective_dates[index] == effective:
            self.versions[index] = {**self.versions[index], **edits}
            return
        self.effective_dates.insert(index, effective)
        self.versions.insert(index, edits)

    def edit_for(self, code: str, service_date: date) -> MueEdit | None:
        index = bisect.bisect_right(self.effective_dates, service_date) - 1
        if index < 0:
            return None
        return self.versions[index].get(code)

    def __len__(self) -> int:
        return sum(len(v) for v in self.versions)


_EFFECTIVE_IN_NAME = re.compile(r"(?i)eff(?:ective)?[_-]?(\d{2})[-_](\d{2})[-_](\d{4})")


def effective_date_from_name(name: str) -> date | None:
    match = _EFFECTIVE_IN_NAME.search(name)
    if not match:
        return None
    month, day, year = (int(g) for g in match.groups())
    return date(year, month, day)


def parse_mue(lines: Iterable[str], *, source: str = "MUE file") -> dict[str, MueEdit]:
    edits: dict[str, MueEdit] = {}
    for number, row in enumerate(csv.reader(lines), start=1):
        if len(row) == 1 and "\t" in row[0]:
            row = row[0].split("\t")
        if len(row) < 3:
            continue
        code = row[0].strip()
        value_text = row[1].strip()
        if not is_procedure_code(code) or not value_text.isdigit():
            continue
        indicator = row[2].strip()[:1]
        if indicator not in ("1", "2", "3"):
            raise ConfigError(
                f"{source}: row {number}: MUE adjudication indicator must start with 1, 2 or 3"
            )
        edits[code] = MueEdit(
            code=code,
            value=int(value_text),
            adjudication=MueAdjudication(int(indicator)),
            rationale=row[3].strip() if len(row) > 3 else "",
        )
    return edits


@lru_cache(maxsize=32)
def _load_one(key: tuple[str, int, int]) -> dict[str, MueEdit]:
    path = Path(key[0])
    return parse_mue(read_text(path).splitlines(), source=path.name)


@dataclass(frozen=True, slots=True)
class MueFile:
    path: Path
    effective: date | None = None


def load_mue(files: Sequence[MueFile]) -> MueTable:
    """One setting's table from its quarterly files. A file's effective date comes from config,
    else from its CMS file name; a file with neither applies to every date of service."""
    table = MueTable()
    for item in files:
        effective = item.effective or effective_date_from_name(item.path.name) or date.min
        try:
            edits = _load_one(file_key(item.path))
        except OSError as exc:
            raise ConfigError(f"{item.path.name}: cannot be read ({exc.strerror})") from None
        table.add_version(effective, edits)
    return table


__all__ = [
    "MueAdjudication",
    "MueEdit",
    "MueFile",
    "MueSetting",
    "MueTable",
    "effective_date_from_name",
    "load_mue",
    "parse_cms_date",
    "parse_mue",
]
