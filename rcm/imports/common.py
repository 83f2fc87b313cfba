"""What every CSV import shares: reading the file, checking cells, and rejecting a file whole.

A file is checked completely before anything is written; a single bad row rejects the file, and
the error lists every bad row by line number and column. Messages never repeat a cell's value:
import files carry PHI, and these messages reach logs, terminals and Prefect artifacts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from rcm.errors import ConfigError, RcmError
from rcm.identifiers import (
    npi_problem,
    phone_problem,
    state_problem,
    zip_problem,
)
from rcm.logging import logger
from rcm.rows import hex_key, one_of, stored_text

MAX_PROBLEMS_LISTED = 200


@dataclass(frozen=True)
class RowProblem:
    source_name: str
    line: int  # physical line in the file; the header is line 1
    column: str | None
    message: str

    def __str__(self) -> str:
        column = f" {self.column}:" if self.column else ""
        return f"{self.source_name}: line {self.line}:{column} {self.message}"


class ImportRejectedError(RcmError):
    """The file has bad rows; nothing from it was written. `problems` lists every one."""

    def __init__(self, source_name: str, problems: Sequence[RowProblem]) -> None:
        self.source_name = source_name
        self.problems = list(problems)
        lines = sorted({p.line for p in self.problems})
        listed = self.problems[:MAX_PROBLEMS_LISTED]
        more = len(self.problems) - len(listed)
        detail = "".join(f"\n  - {p}" for p in listed)
        if more:
            detail += f"\n  ... and {more} more"
        super().__init__(
            f"{source_name}: rejected, {len(lines)} bad row(s); nothing was imported{detail}"
        )

    @property
    def bad_lines(self) -> list[int]:
        return sorted({p.line for p in self.problems})


@dataclass(frozen=True)
class ImportResult:
    kind: str  # patients | appointments | charges
    practice: str
    source_name: str
    sha256: str
    rows: int
    created: int
    updated: int
    unchanged: int
    details: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class CsvRow:
    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass
class CsvFile:
    source_name: str
    columns: list[str]
    rows: list[CsvRow]

    def has_column(self, column: str) -> bool:
        return column in self.columns


def _header_name(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def read_csv(
    data: bytes,
    *,
    source_name: str,
    required: Iterable[str],
    optional: Iterable[str],
) -> CsvFile:
    """Parse CSV bytes (UTF-8, BOM allowed). Header problems and malformed rows reject the file."""
    required = list(required)
    known = set(required) | set(optional)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRejectedError(
            source_name, [RowProblem(source_name, line, None, "not UTF-8 text")]
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[RowProblem] = []
    try:
        header = next(reader, None)
    except csv.Error:
        header = None
    if not header or not any(h.strip() for h in header):
        raise ImportRejectedError(source_name, [RowProblem(source_name, 1, None, "no header row")])
    columns = [_header_name(h) for h in header]
    for index, column in enumerate(columns):
        if column not in known:
            problems.append(RowProblem(source_name, 1, column or f"#{index + 1}", "unknown column"))
        elif columns.index(column) != index:
            problems.append(RowProblem(source_name, 1, column, "column appears twice"))
    for column in required:
        if column not in columns:
            problems.append(RowProblem(source_name, 1, column, "required column is missing"))
    if problems:
        raise ImportRejectedError(source_name, problems)

    rows: list[CsvRow] = []
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            problems.append(RowProblem(source_name, start, None, "malformed CSV (quoting)"))
            break
        line = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            problems.append(
                RowProblem(
                    source_name,
                    start,
                    None,
                    f"has {len(cells)} fields, the header has {len(columns)}",
                )
            )
            continue
        rows.append(CsvRow(start, {c: v.strip() for c, v in zip(columns, cells, strict=True)}))
    if problems:
        raise ImportRejectedError(source_name, problems)
    return CsvFile(source_name, columns, rows)


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d")


def parse_date(text: str) -> date | None:
    """YYYY-MM-DD, MM/DD/YYYY or YYYYMMDD; None when it is none of them."""
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


@dataclass
class FileMemo:
    """Values that repeat down one file (dates of service, NPIs), checked once per value.
    Kept for one file only: the dates are PHI."""

    dates: dict[str, date | None] = field(default_factory=dict)
    npi_problems: dict[str, str | None] = field(default_factory=dict)


class RowCheck:
    """Reads typed values from one row, collecting a problem per bad cell."""

    def __init__(
        self,
        source_name: str,
        row: CsvRow,
        problems: list[RowProblem],
        memo: FileMemo | None = None,
    ) -> None:
        self.source_name = source_name
        self.row = row
        self.problems = problems
        self.memo = memo if memo is not None else FileMemo()

    @property
    def line(self) -> int:
        return self.row.line

    def problem(self, column: str | None, message: str) -> None:
        self.problems.append(RowProblem(self.source_name, self.row.line, column, message))

    def text(
        self,
        column: str,
        *,
        required: bool = True,
        max_length: int | None = None,
        pattern: str | None = None,
        pattern_help: str = "",
    ) -> str | None:
        value = self.row.get(column)
        if not value:
            if required:
                self.problem(column, "required")
            return None
        if max_length is not None and len(value) > max_length:
            self.problem(column, f"longer than {max_length} characters")
            return None
        if pattern is not None and not re.fullmatch(pattern, value):
            self.problem(column, pattern_help or "not in the expected format")
            return None
        return value

    def checked(self, column: str, problem: str | None, *, required: bool = True) -> str | None:
        """The cell, when `problem` (from an rcm.identifiers checker) is None."""
        value = self.row.get(column)
        if not value and not required:
            return None
        if problem:
            self.problem(column, problem)
            return None
        return value

    def npi(self, column: str, *, required: bool = True) -> str | None:
        value = self.row.get(column)
        known = self.memo.npi_problems
        problem = known[value] if value in known else known.setdefault(value, npi_problem(value))
        return self.checked(column, problem, required=required)

    def state(self, column: str, *, required: bool = True) -> str | None:
        value = self.row.get(column).upper()
        if not value and not required:
            return None
        problem = state_problem(value)
        if problem:
            self.problem(column, problem)
            return None
        return value

    def zip(self, column: str, *, required: bool = True) -> str | None:
        value = self.checked(column, zip_problem(self.row.get(column)), required=required)
        return value.replace("-", "").replace(" ", "") if value else None

    def phone(self, column: str, *, required: bool = False) -> str | None:
        value = self.checked(column, phone_problem(self.row.get(column)), required=required)
        if not value:
            return None
        digits = "".join(c for c in value if c.isdigit())
        return digits[1:] if len(digits) == 11 else digits

    def date(
        self,
        column: str,
        *,
        required: bool = True,
        not_after: date | None = None,
        not_before: date | None = None,
    ) -> date | None:
        value = self.row.get(column)
        if not value:
            if required:
                self.problem(column, "required")
            return None
        known = self.memo.dates
        parsed = known[value] if value in known else known.setdefault(value, parse_date(value))
        if parsed is None:
            self.problem(column, "not a date (YYYY-MM-DD or MM/DD/YYYY)")
            return None
        if not_after is not None and parsed > not_after:
            self.problem(column, "is in the future")
            return None
        if not_before is not None and parsed < not_before:
            self.problem(column, f"is before {not_before.isoformat()}")
            return None
        return parsed

    def decimal(
        self, column: str, *, places: int, maximum: Decimal, required: bool = True
    ) -> Decimal | None:
        """A positive amount with at most `places` decimals; never through float."""
        value = self.row.get(column).replace(",", "").removeprefix("$")
        if not value:
            if required:
                self.problem(column, "required")
            return None
        try:
            amount = Decimal(value)
        except InvalidOperation:
            self.problem(column, "not a number")
            return None
        if not amount.is_finite():
            self.problem(column, "not a number")
            return None
        if amount <= 0:
            self.problem(column, "must be greater than zero")
            return None
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            self.problem(column, f"more than {places} decimal places")
            return None
        if amount > maximum:
            self.problem(column, f"larger than {maximum}")
            return None
        return amount

    def integer(self, column: str, *, minimum: int, maximum: int) -> int | None:
        value = self.row.get(column)
        if not value:
            self.problem(column, "required")
            return None
        if not value.isdigit():
            self.problem(column, "not a whole number")
            return None
        number = int(value)
        if not minimum <= number <= maximum:
            self.problem(column, f"must be between {minimum} and {maximum}")
            return None
        return number

    def choice(
        self,
        column: str,
        choices: Mapping[str, str],
        *,
        required: bool = True,
        default: str | None = None,
    ) -> str | None:
        """The canonical value for a cell (case-insensitive lookup in `choices`)."""
        value = self.row.get(column)
        if not value:
            if required and default is None:
                self.problem(column, "required")
            return default
        canonical = choices.get(value.lower())
        if canonical is None:
            self.problem(column, "must be one of " + ", ".join(sorted(set(choices.values()))))
        return canonical


def get_practice(session: Session, slug: str) -> Any:
    """The Practice row for `slug`; ConfigError when it has not been onboarded."""
    from rcm.models import Practice

    practice = session.exec(select(Practice).where(Practice.slug == slug)).first()
    if practice is None:
        raise ConfigError(f"no practice {slug!r}: onboard it first (rcm practice onboard FILE)")
    return practice


def payers_by_key(session: Session) -> dict[str, Any]:
    from rcm.models import Payer

    return {p.key: p for p in session.exec(select(Payer)).all()}


def patients_by_account(session: Session, practice_id: uuid.UUID) -> dict[str, Any]:
    from rcm.models import Patient

    rows = session.exec(select(Patient).where(Patient.practice_id == practice_id)).all()
    return {p.account_number: p for p in rows}


def patient_keys(
    session: Session, practice_id: uuid.UUID, accounts: Collection[str]
) -> dict[str, str]:
    """The key (32 hex digits) of each of the practice's patients named in `accounts`, by
    account number: only the file's patients, as plain rows (a practice has tens of
    thousands)."""
    from rcm.models import Patient

    if not accounts:
        return {}
    postgresql = session.connection().dialect.name == "postgresql"
    rows = session.execute(
        sa_select(col(Patient.account_number), hex_key(col(Patient.id))).where(
            col(Patient.practice_id) == practice_id,
            one_of(col(Patient.account_number), accounts, postgresql),
        )
    )
    return {account: key for account, key in rows}


def payer_keys(session: Session) -> dict[str, str]:
    """Every payer's key (32 hex digits) by payer key."""
    from rcm.models import Payer

    return {
        payer: key
        for payer, key in session.execute(sa_select(col(Payer.key), hex_key(col(Payer.id))))
    }


class ProviderKey(NamedTuple):
    id: str  # 32 hex digits
    role: str


def providers_by_npi(session: Session, practice_id: uuid.UUID) -> dict[str, ProviderKey]:
    """The practice's providers by NPI: key and role, as plain rows."""
    from rcm.models import Provider

    rows = session.execute(
        sa_select(
            col(Provider.npi), hex_key(col(Provider.id)), stored_text(col(Provider.role))
        ).where(col(Provider.practice_id) == practice_id)
    )
    return {npi: ProviderKey(key, role) for npi, key, role in rows}


def role_of(provider: Any) -> str:
    """A provider's role as its string value."""
    return str(getattr(provider.role, "value", provider.role))


def set_changed(row: Any, values: Mapping[str, Any]) -> list[str]:
    """Set columns whose value differs; the names of those that changed."""
    changed = []
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


def record_import(
    session: Session, *, practice_id: uuid.UUID, actor: str, result: ImportResult
) -> None:
    """One AuditEvent for an import that changed something (a no-op re-import writes nothing)."""
    from rcm.models import AuditEvent

    logger.bind(practice=result.practice, sha256=result.sha256).info(
        "import {}: {} rows, {} created, {} updated, {} unchanged",
        result.kind,
        result.rows,
        result.created,
        result.updated,
        result.unchanged,
    )
    if not result.changed:
        return
    session.add(
        AuditEvent(
            practice_id=practice_id,
            actor=actor,
            action=f"import_{result.kind}",
            entity_type="import_file",
            entity_id=result.sha256[:64],
            detail={
                "source_name": result.source_name,
                "rows": result.rows,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
            },
        )
    )


ACCOUNT_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,37}"
EXTERNAL_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"
