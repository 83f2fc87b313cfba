"""NCCI procedure-to-procedure (PTP) edits from CMS's quarterly files.

CMS publishes practitioner (ccipra-v<version>-f<n>) and hospital (ccioph-…) tables, tab-delimited
text after a copyright line and a header block spread over several rows. Each edit row:
Column 1, Column 2, '*' when the edit existed before 1996, effective date, deletion date ('*' =
none), modifier indicator (0 no modifier bypasses the edit, 1 an NCCI-associated modifier may,
9 the edit does not apply), rationale. Dates are YYYYMMDD. An edit applies to a date of service
on or after its effective date and before its deletion date. Rows whose first two columns are not
procedure codes (titles, header rows) are skipped, so the same reader takes the TXT files and a
CSV export of the Excel ones.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from rcm.codesets._files import file_key, is_procedure_code, parse_cms_date, read_text
from rcm.errors import ConfigError


class PtpSetting(StrEnum):
    PRACTITIONER = "practitioner"
    HOSPITAL = "hospital"


MODIFIER_NOT_ALLOWED = "0"
MODIFIER_ALLOWED = "1"
MODIFIER_NOT_APPLICABLE = "9"


@dataclass(frozen=True, slots=True)
class PtpEdit:
    column1: str
    column2: str
    prior_1996: bool
    effective_date: date
    deletion_date: date | None
    modifier_indicator: str
    rationale: str

    def applies_on(self, service_date: date) -> bool:
        if service_date < self.effective_date:
            return False
        return self.deletion_date is None or service_date < self.deletion_date


@dataclass(slots=True)
class PtpTable:
    """Edits keyed by (column 1, column 2); a pair may have several rows over time."""

    edits: dict[tuple[str, str], tuple[PtpEdit, ...]]

    def __len__(self) -> int:
        return len(self.edits)

    def edit_for(self, column1: str, column2: str, service_date: date) -> PtpEdit | None:
        """The edit in force for this ordered pair on the date of service, if any."""
        rows = self.edits.get((column1, column2))
        if rows is None:
            return None
        for edit in rows:
            if edit.applies_on(service_date):
                return edit
        return None

    def has_pair(self, code_a: str, code_b: str) -> bool:
        return (code_a, code_b) in self.edits or (code_b, code_a) in self.edits


def _rows(lines: Iterable[str]) -> Iterable[list[str]]:
    for line in lines:
        if "\t" in line:
            yield line.rstrip("\r\n").split("\t")
        elif line.strip():
            yield next(csv.reader([line]))


def parse_ptp(lines: Iterable[str], *, source: str = "PTP file") -> PtpTable:
    grouped: dict[tuple[str, str], list[PtpEdit]] = {}
    for number, row in enumerate(_rows(lines), start=1):
        if len(row) < 6:
            continue
        column1, column2 = row[0].strip(), row[1].strip()
        if not (is_procedure_code(column1) and is_procedure_code(column2)):
            continue
        try:
            effective = parse_cms_date(row[3])
            deletion = parse_cms_date(row[4])
        except ValueError as exc:
            raise ConfigError(f"{source}: row {number}: {exc}") from None
        indicator = row[5].strip()[:1]
        if effective is None or indicator not in ("0", "1", "9"):
            raise ConfigError(
                f"{source}: row {number}: needs an effective date and a modifier indicator "
                "0, 1 or 9"
            )
        edit = PtpEdit(
            column1=column1,
            column2=column2,
            prior_1996=row[2].strip() == "*",
            effective_date=effective,
            deletion_date=deletion,
            modifier_indicator=indicator,
            rationale=row[6].strip() if len(row) > 6 else "",
        )
        grouped.setdefault((column1, column2), []).append(edit)
    return PtpTable(
        edits={
            pair: tuple(sorted(rows, key=lambda e: e.effective_date, reverse=True))
            for pair, rows in grouped.items()
        }
    )


@lru_cache(maxsize=16)
def _load_one(key: tuple[str, int, int]) -> PtpTable:
    path = Path(key[0])
    return parse_ptp(read_text(path).splitlines(), source=path.name)


def load_ptp(paths: Sequence[Path]) -> PtpTable:
    """One table from the files of one setting (CMS splits a table across several files)."""
    merged: dict[tuple[str, str], tuple[PtpEdit, ...]] = {}
    for path in paths:
        try:
            one = _load_one(file_key(path))
        except OSError as exc:
            raise ConfigError(f"{path.name}: cannot be read ({exc.strerror})") from None
        for pair, rows in one.edits.items():
            if pair in merged:
                combined = {*merged[pair], *rows}
                merged[pair] = tuple(sorted(combined, key=lambda e: e.effective_date, reverse=True))
            else:
                merged[pair] = rows
    return PtpTable(edits=merged)


__all__ = [
    "MODIFIER_ALLOWED",
    "MODIFIER_NOT_ALLOWED",
    "MODIFIER_NOT_APPLICABLE",
    "PtpEdit",
    "PtpSetting",
    "PtpTable",
    "load_ptp",
    "parse_ptp",
]
