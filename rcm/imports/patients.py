"""Patients CSV: demographics and up to two coverages per patient (docs/import-formats.md).

Keyed by the practice's account number. The practice-management system is the source of truth
for demographics, so a changed row updates the patient (counted as updated). A coverage whose
payer or member ID changed is a new policy: the old coverage is deactivated, not rewritten,
because encounters and claims already point at it. When the coverage columns are present but
empty, the patient's active coverage at that priority is deactivated; when the columns are
absent from the file, coverages are left alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, select

from rcm.imports.common import (
    ACCOUNT_PATTERN,
    CsvFile,
    ImportRejectedError,
    ImportResult,
    RowCheck,
    RowProblem,
    get_practice,
    patients_by_account,
    payers_by_key,
    read_csv,
    record_import,
    set_changed,
    sha256_hex,
)

# Rows per multi-row INSERT.
_INSERT_CHUNK = 1000
SEXES = {"m": "M", "male": "M", "f": "F", "female": "F", "u": "U", "unknown": "U"}
# X12 individual relationship codes (SBR02 / PAT01) and the words PM exports use for them.
RELATIONSHIPS = {
    "18": "18",
    "self": "18",
    "01": "01",
    "spouse": "01",
    "19": "19",
    "child": "19",
    "g8": "G8",
    "other": "G8",
}
COVERAGE_FIELDS = (
    "payer",
    "member_id",
    "group_number",
    "plan_name",
    "relationship",
    "subscriber_last_name",
    "subscriber_first_name",
    "subscriber_birth_date",
    "subscriber_sex",
    "subscriber_address1",
    "subscriber_city",
    "subscriber_state",
    "subscriber_zip",
    "effective_date",
    "termination_date",
)
PRIORITIES = {"primary": 1, "secondary": 2}
REQUIRED = (
    "account_number",
    "last_name",
    "first_name",
    "birth_date",
    "sex",
    "address1",
    "city",
    "state",
    "zip",
)
OPTIONAL = (
    "middle_name",
    "address2",
    "phone",
    *(f"{prefix}_{name}" for prefix in PRIORITIES for name in COVERAGE_FIELDS),
)
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


@dataclass
class _CoverageRow:
    priority: int
    payer_key: str
    values: dict[str, Any]


@dataclass
class _PatientRow:
    line: int
    account_number: str
    values: dict[str, Any]
    coverages: list[_CoverageRow]


def _coverage(
    check: RowCheck, prefix: str, patient: dict[str, Any], payer_keys: set[str], today: date
) -> _CoverageRow | None:
    def col(name: str) -> str:
        return f"{prefix}_{name}"

    if not any(check.row.get(col(name)) for name in COVERAGE_FIELDS):
        return None
    payer = check.text(col("payer"))
    if payer is not None and payer not in payer_keys:
        check.problem(col("payer"), f"no payer {payer!r} (rcm payers list)")
        payer = None
    member_id = check.text(
        col("member_id"),
        max_length=80,
        pattern=r"[A-Za-z0-9-]+",
        pattern_help="letters, digits and hyphens only",
    )
    relationship = check.choice(col("relationship"), RELATIONSHIPS, default="18")
    values: dict[str, Any] = {
        "member_id": member_id,
        "group_number": check.text(col("group_number"), required=False, max_length=50),
        "plan_name": check.text(col("plan_name"), required=False, max_length=60),
        "relationship": relationship,
        "effective_date": check.date(col("effective_date"), required=False),
        "termination_date": check.date(col("termination_date"), required=False),
    }
    if (
        values["effective_date"] is not None
        and values["termination_date"] is not None
        and values["termination_date"] < values["effective_date"]
    ):
        check.problem(col("termination_date"), "before the effective date")
    if relationship in ("18", None):
        # The patient is the subscriber: X12 sends the subscriber loop from the patient.
        values.update(
            subscriber_last_name=patient.get("last_name"),
            subscriber_first_name=patient.get("first_name"),
            subscriber_birth_date=patient.get("birth_date"),
            subscriber_sex=patient.get("sex"),
            subscriber_address1=patient.get("address1"),
            subscriber_city=patient.get("city"),
            subscriber_state=patient.get("state"),
            subscriber_zip=patient.get("zip"),
        )
    else:
        values.update(
            subscriber_last_name=check.text(col("subscriber_last_name"), max_length=60),
            subscriber_first_name=check.text(col("subscriber_first_name"), max_length=35),
            subscriber_birth_date=check.date(
                col("subscriber_birth_date"), not_after=today, not_before=EARLIEST_BIRTH_DATE
            ),
            subscriber_sex=check.choice(col("subscriber_sex"), SEXES, default="U"),
        )
        if check.row.get(col("subscriber_address1")):
            values.update(
                subscriber_address1=check.text(col("subscriber_address1"), max_length=55),
                subscriber_city=check.text(col("subscriber_city"), max_length=30),
                subscriber_state=check.state(col("subscriber_state")),
                subscriber_zip=check.zip(col("subscriber_zip")),
            )
        else:
            # Same household: the subscriber lives at the patient's address.
            values.update(
                subscriber_address1=patient.get("address1"),
                subscriber_city=patient.get("city"),
                subscriber_state=patient.get("state"),
                subscriber_zip=patient.get("zip"),
            )
    if payer is None:
        return None
    return _CoverageRow(PRIORITIES[prefix], payer, values)


def _check_rows(
    csv_file: CsvFile, payer_keys: set[str], today: date
) -> tuple[list[_PatientRow], list[RowProblem]]:
    problems: list[RowProblem] = []
    parsed: list[_PatientRow] = []
    first_line: dict[str, int] = {}
    for row in csv_file.rows:
        check = RowCheck(csv_file.source_name, row, problems)
        before = len(problems)
        account = check.text(
            "account_number",
            pattern=ACCOUNT_PATTERN,
            pattern_help="1-38 letters, digits, '.', '_' or '-'",
        )
        values: dict[str, Any] = {
            "last_name": check.text("last_name", max_length=60),
            "first_name": check.text("first_name", max_length=35),
            "middle_name": check.text("middle_name", required=False, max_length=25),
            "birth_date": check.date("birth_date", not_after=today, not_before=EARLIEST_BIRTH_DATE),
            "sex": check.choice("sex", SEXES),
            "address1": check.text("address1", max_length=55),
            "address2": check.text("address2", required=False, max_length=55),
            "city": check.text("city", max_length=30),
            "state": check.state("state"),
            "zip": check.zip("zip"),
            "phone": check.phone("phone"),
        }
        coverages = []
        for prefix in PRIORITIES:
            coverage = _coverage(check, prefix, values, payer_keys, today)
            if coverage is not None:
                coverages.append(coverage)
        priorities = {c.priority for c in coverages}
        if 2 in priorities and 1 not in priorities and row.get("primary_payer") == "":
            check.problem("primary_payer", "a secondary coverage needs a primary")
        if len(coverages) == 2 and (
            coverages[0].payer_key == coverages[1].payer_key
            and coverages[0].values["member_id"] == coverages[1].values["member_id"]
        ):
            check.problem("secondary_member_id", "same payer and member ID as the primary")
        if account is not None:
            if account in first_line:
                check.problem("account_number", f"duplicate of line {first_line[account]}")
            first_line.setdefault(account, row.line)
        if len(problems) == before and account is not None:
            parsed.append(_PatientRow(row.line, account, values, coverages))
    return parsed, problems


def _row(model: Any, **values: Any) -> dict[str, Any]:
    """A full row of `model` for a Core INSERT: every column's model default, then `values`."""
    row: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if not info.is_required():
            row[name] = info.get_default(call_default_factory=True)
    row.update(values)
    return row


def import_patients(
    session: Session,
    practice_slug: str,
    data: bytes,
    *,
    source_name: str = "patients.csv",
    actor: str = "import",
    today: date | None = None,
) -> ImportResult:
    """Create or update patients and their coverages from a patients CSV.

    Every row is checked first; ImportRejectedError (nothing written) lists each bad row.
    The caller commits.
    """
    from rcm.models import Coverage, Sex

    practice = get_practice(session, practice_slug)
    today = today or date.today()
    sha256 = sha256_hex(data)
    csv_file = read_csv(data, source_name=source_name, required=REQUIRED, optional=OPTIONAL)
    payers = payers_by_key(session)
    rows, problems = _check_rows(csv_file, set(payers), today)
    if problems:
        raise ImportRejectedError(source_name, problems)

    from rcm.models import Patient
    from rcm.models.types import new_id, utcnow

    manages = {
        priority: csv_file.has_column(f"{prefix}_payer") for prefix, priority in PRIORITIES.items()
    }
    patients = patients_by_account(session, practice.id)
    active_coverages: dict[tuple[uuid.UUID, int], Any] = {}
    for coverage in session.exec(
        select(Coverage).where(Coverage.practice_id == practice.id, Coverage.active == True)  # noqa: E712
    ).all():
        active_coverages[(coverage.patient_id, coverage.priority)] = coverage

    counts = {
        "patients": {"created": 0, "updated": 0, "unchanged": 0},
        "coverages": {"created": 0, "updated": 0, "unchanged": 0, "deactivated": 0},
    }
    # New patients and coverages are written as plain rows in multi-row INSERTs after the
    # updates are flushed (so a deactivated coverage is written before its replacement):
    # an ORM object and a flush per patient cost most of the import (benchmarks/README.md).
    now = utcnow()
    new_patients: list[dict[str, Any]] = []
    new_coverages: list[dict[str, Any]] = []
    for row in rows:
        values = dict(row.values)
        values["sex"] = Sex(values["sex"])
        patient = patients.get(row.account_number)
        changed = False
        if patient is None:
            patient_id = new_id()
            new_patients.append(
                _row(
                    Patient,
                    id=patient_id,
                    practice_id=practice.id,
                    account_number=row.account_number,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
            counts["patients"]["created"] += 1
            created = True
        else:
            patient_id = patient.id
            created = False
            changed = bool(set_changed(patient, values))

        wanted = {c.priority: c for c in row.coverages}
        for priority, managed in manages.items():
            if not managed:
                continue
            current = None if created else active_coverages.get((patient_id, priority))
            incoming = wanted.get(priority)
            if incoming is None:
                if current is not None:
                    current.active = False
                    session.add(current)
                    counts["coverages"]["deactivated"] += 1
                    changed = True
                continue
            payer_id = payers[incoming.payer_key].id
            coverage_values = dict(incoming.values)
            if coverage_values.get("subscriber_sex") is not None:
                coverage_values["subscriber_sex"] = Sex(coverage_values["subscriber_sex"])
            if (
                current is not None
                and current.payer_id == payer_id
                and current.member_id == coverage_values["member_id"]
            ):
                if set_changed(current, coverage_values):
                    session.add(current)
                    counts["coverages"]["updated"] += 1
                    changed = True
                else:
                    counts["coverages"]["unchanged"] += 1
                continue
            if current is not None:
                current.active = False
                session.add(current)
                counts["coverages"]["deactivated"] += 1
            new_coverages.append(
                _row(
                    Coverage,
                    id=new_id(),
                    practice_id=practice.id,
                    patient_id=patient_id,
                    payer_id=payer_id,
                    priority=priority,
                    active=True,
                    **coverage_values,
                )
            )
            counts["coverages"]["created"] += 1
            changed = True
        if not created and patient is not None:
            if changed:
                patient.updated_at = utcnow()
                session.add(patient)
                counts["patients"]["updated"] += 1
            else:
                counts["patients"]["unchanged"] += 1
    session.flush()
    for model, new_rows in ((Patient, new_patients), (Coverage, new_coverages)):
        for start in range(0, len(new_rows), _INSERT_CHUNK):
            session.execute(insert(model), new_rows[start : start + _INSERT_CHUNK])

    result = ImportResult(
        kind="patients",
        practice=practice_slug,
        source_name=source_name,
        sha256=sha256,
        rows=len(rows),
        created=counts["patients"]["created"],
        updated=counts["patients"]["updated"],
        unchanged=counts["patients"]["unchanged"],
        details=counts,
    )
    record_import(session, practice_id=practice.id, actor=actor, result=result)
    session.flush()
    return result
