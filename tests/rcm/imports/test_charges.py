from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from rcm.errors import ConfigError
from rcm.imports import ImportRejectedError, import_charges, sha256_hex
from tests.rcm.imports.conftest import CONESTOGA, RIVERSIDE, SUMMIT, example, read_rows, to_csv

TODAY = date(2026, 11, 22)


def _counts(session: Session) -> dict[str, int]:
    from rcm.models import AuditEvent, Diagnosis, Encounter, ServiceLine

    return {
        model.__name__: session.exec(select(func.count()).select_from(model)).one()
        for model in (Encounter, ServiceLine, Diagnosis, AuditEvent)
    }


def _import(session: Session, data: bytes, practice: str = RIVERSIDE):
    return import_charges(session, practice, data, source_name="charges.csv", today=TODAY)


@pytest.mark.parametrize("practice", [RIVERSIDE, SUMMIT, CONESTOGA])
def test_examples_import_and_reimport_is_a_noop(
    session: Session, onboard: Callable[[str], None], practice: str
) -> None:
    onboard(practice)
    data = example(practice, "charges").read_bytes()
    first = _import(session, data, practice)
    session.commit()
    rows = len(read_rows(example(practice, "charges")))
    assert (first.created, first.unchanged, first.rows) == (rows, 0, rows)
    assert first.sha256 == sha256_hex(data)
    before = _counts(session)
    second = _import(session, data, practice)
    assert (second.created, second.updated, second.unchanged) == (0, 0, rows)
    assert not second.changed
    assert not session.new and not session.dirty
    session.commit()
    assert _counts(session) == before


def test_encounter_diagnoses_and_lines(session: Session, onboard: Callable[[str], None]) -> None:
    from rcm.models import ClaimType, Coverage, Diagnosis, DiagnosisKind, Encounter, ServiceLine

    onboard(RIVERSIDE)
    data = example(RIVERSIDE, "charges").read_bytes()
    _import(session, data)
    encounter = session.exec(select(Encounter).where(Encounter.external_id == "ENC-24004")).one()
    assert encounter.claim_type == ClaimType.PROFESSIONAL
    assert encounter.place_of_service == "11"
    assert encounter.service_date == date(2026, 11, 6)
    assert encounter.import_sha256 == sha256_hex(data)
    assert encounter.referring_provider_id is not None
    coverage = session.get(Coverage, encounter.coverage_id)
    assert coverage is not None and coverage.priority == 1
    diagnoses = session.exec(
        select(Diagnosis).where(Diagnosis.encounter_id == encounter.id).order_by(Diagnosis.sequence)
    ).all()
    assert [d.code for d in diagnoses] == ["I509", "E1122", "N1830"]
    assert [d.kind for d in diagnoses] == [
        DiagnosisKind.PRINCIPAL, DiagnosisKind.OTHER, DiagnosisKind.OTHER
    ]  # fmt: skip
    lines = session.exec(
        select(ServiceLine)
        .where(ServiceLine.encounter_id == encounter.id)
        .order_by(ServiceLine.line_number)
    ).all()
    assert [(s.procedure_code, s.modifiers, s.diagnosis_pointers) for s in lines] == [
        ("99215", ["25"], [1, 2, 3]),
        ("93000", [], [1]),
    ]
    assert lines[0].charge == Decimal("250.00") and isinstance(lines[0].charge, Decimal)
    assert lines[0].units == Decimal("1")
    # ENC-24001 line 3 leaves the codes empty: it shares the encounter's list.
    first = session.exec(select(Encounter).where(Encounter.external_id == "ENC-24001")).one()
    codes = session.exec(select(Diagnosis.code).where(Diagnosis.encounter_id == first.id)).all()
    assert sorted(codes) == ["E119", "I10"]


def test_institutional_charges(session: Session, onboard: Callable[[str], None]) -> None:
    from rcm.models import ClaimType, Diagnosis, DiagnosisKind, Encounter, ServiceLine

    onboard(CONESTOGA)
    _import(session, example(CONESTOGA, "charges").read_bytes(), CONESTOGA)
    encounter = session.exec(select(Encounter).where(Encounter.external_id == "ENC-PT-7002")).one()
    assert encounter.claim_type == ClaimType.INSTITUTIONAL
    assert encounter.type_of_bill == "131"
    assert encounter.prior_authorization == "WC-AUTH-3391"
    assert encounter.facility_provider_id is not None
    line = session.exec(select(ServiceLine).where(ServiceLine.encounter_id == encounter.id)).one()
    assert (line.revenue_code, line.modifiers, line.units) == ("0420", ["GP"], Decimal("3"))
    kinds = session.exec(
        select(Diagnosis.kind)
        .where(Diagnosis.encounter_id == encounter.id)
        .order_by(Diagnosis.sequence)
    ).all()
    assert kinds == [DiagnosisKind.PRINCIPAL, DiagnosisKind.EXTERNAL_CAUSE]


def test_outpatient_institutional_encounters_default_to_discharged_home(
    session: Session, onboard: Callable[[str], None]
) -> None:
    from rcm.models import Encounter

    onboard(CONESTOGA)
    rows = read_rows(example(CONESTOGA, "charges"))
    first_encounter = rows[0]["encounter_id"]
    for row in rows:
        row["patient_status"] = "30" if row["encounter_id"] == first_encounter else ""
    _import(session, to_csv(rows), CONESTOGA)
    statuses = dict(session.exec(select(Encounter.external_id, Encounter.patient_status)).all())
    assert statuses.pop(first_encounter) == "30"
    assert set(statuses.values()) == {"01"}  # type of bill 131: hospital outpatient


def test_a_malformed_patient_status_is_refused(
    session: Session, onboard: Callable[[str], None]
) -> None:
    onboard(CONESTOGA)
    rows = read_rows(example(CONESTOGA, "charges"))
    for row in rows:
        row["patient_status"] = "home"
    with pytest.raises(ImportRejectedError) as info:
        _import(session, to_csv(rows), CONESTOGA)
    assert {p.column for p in info.value.problems} == {"patient_status"}


# Each kind of bad row: (line to change (0-based data row), column, new value, expected column,
# expected message start). The file's first data row is line 2.
BAD_ROWS = [
    (0, "service_date", "2026-13-01", "service_date", "not a date"),
    (0, "service_date", "2027-01-05", "service_date", "is in the future"),
    (3, "service_date", "2024-01-05", "service_date", "outside the patient's ibx coverage dates"),
    (0, "charge", "0", "charge", "must be greater than zero"),
    (0, "charge", "-10.00", "charge", "must be greater than zero"),
    (0, "charge", "12.345", "charge", "more than 2 decimal places"),
    (0, "charge", "ten", "charge", "not a number"),
    (0, "units", "0", "units", "must be greater than zero"),
    (0, "procedure_code", "9921", "procedure_code", "not a CPT or HCPCS"),
    (0, "modifiers", "25|XS|59|RT|LT", "modifiers", "at most 4 modifiers"),
    (0, "modifiers", "2", "modifiers", "a modifier is 2 letters or digits"),
    (3, "diagnosis_codes", "J06.9|Q99.99", "diagnosis_codes", "code 2 is not an ICD-10-CM code"),
    (3, "diagnosis_codes", "J06.9|J06.9", "diagnosis_codes", "a code is repeated"),
    (
        0,
        "diagnosis_pointers",
        "1|3",
        "diagnosis_pointers",
        "pointer 3 is beyond the diagnosis codes",
    ),
    (0, "diagnosis_pointers", "1|1", "diagnosis_pointers", "a pointer is repeated"),
    (0, "diagnosis_pointers", "1|2|3|4|5", "diagnosis_pointers", "at most 4 pointers"),
    (0, "diagnosis_pointers", "", "diagnosis_pointers", "required"),
    (3, "patient_account", "RFM-99999", "patient_account", "no patient with this account number"),
    (3, "rendering_npi", "1830166133", "rendering_npi", "check digit invalid"),
    (3, "rendering_npi", "1234567893", "rendering_npi", "NPI 1234567893 is not a provider"),
    (3, "rendering_npi", "1181909379", "rendering_npi", "NPI 1181909379 is a referring provider"),
    (3, "referring_npi", "1234567893", "referring_npi", "NPI 1234567893 is not on file"),
    (3, "payer", "acme-health", "payer", "no payer 'acme-health'"),
    (3, "payer", "uhc", "member_id", "the patient has no active uhc coverage"),
    (3, "member_id", "YHP884120357", "member_id", "the patient has no active ibx coverage"),
    (3, "place_of_service", "", "place_of_service", "required"),
    (3, "claim_type", "dental", "claim_type", "must be one of"),
    (0, "line_number", "0", "line_number", "must be between 1 and 50"),
    (0, "encounter_id", "ENC 24001!", "encounter_id", "1-80 letters"),
    (1, "line_number", "1", "line_number", "duplicate of line 2"),
    (1, "place_of_service", "22", "place_of_service", "differs from line 2 of the same encounter"),
    (
        1,
        "diagnosis_codes",
        "I10|E11.9",
        "diagnosis_codes",
        "differ from line 2 of the same encounter",
    ),
    (
        3,
        "revenue_code",
        "0420",
        "revenue_code",
        "revenue code and type of bill are for institutional",
    ),
]


@pytest.mark.parametrize(("index", "column", "value", "expected_column", "message"), BAD_ROWS)
def test_each_bad_row_is_named_by_line(
    session: Session,
    onboard: Callable[[str], None],
    index: int,
    column: str,
    value: str,
    expected_column: str,
    message: str,
) -> None:
    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "charges"))
    rows[index][column] = value
    before = _counts(session)
    with pytest.raises(ImportRejectedError) as info:
        _import(session, to_csv(rows))
    problems = info.value.problems
    assert [(p.line, p.column) for p in problems] == [(index + 2, expected_column)], problems
    assert problems[0].message.startswith(message), problems[0].message
    assert str(problems[0]).startswith(f"charges.csv: line {index + 2}: {expected_column}: ")
    session.rollback()
    assert _counts(session) == before


def test_institutional_rows_need_revenue_code_and_type_of_bill(
    session: Session, onboard: Callable[[str], None]
) -> None:
    onboard(CONESTOGA)
    rows = read_rows(example(CONESTOGA, "charges"))
    rows[3]["revenue_code"] = ""
    rows[3]["type_of_bill"] = "13"
    with pytest.raises(ImportRejectedError) as info:
        _import(session, to_csv(rows), CONESTOGA)
    assert [(p.line, p.column, p.message) for p in info.value.problems] == [
        (5, "revenue_code", "required for institutional claims"),
        (5, "type_of_bill", "a type of bill is 3 digits (or 4 with a leading 0)"),
    ]


def test_one_bad_row_rejects_the_whole_file(
    session: Session, onboard: Callable[[str], None]
) -> None:
    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "charges"))
    rows[-1]["charge"] = "0.00"
    before = _counts(session)
    with pytest.raises(ImportRejectedError) as info:
        _import(session, to_csv(rows))
    assert info.value.bad_lines == [len(rows) + 1]
    assert "nothing was imported" in str(info.value)
    assert _counts(session) == before
    assert before["Encounter"] == before["ServiceLine"] == before["Diagnosis"] == 0


def test_every_bad_row_is_listed(session: Session, onboard: Callable[[str], None]) -> None:
    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "charges"))
    rows[0]["charge"] = "abc"
    rows[3]["service_date"] = "yesterday"
    rows[7]["procedure_code"] = ""
    with pytest.raises(ImportRejectedError) as info:
        _import(session, to_csv(rows))
    assert info.value.bad_lines == [2, 5, 9]


def test_messages_carry_no_phi(session: Session, onboard: Callable[[str], None]) -> None:
    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "charges"))
    rows[0]["member_id"] = "ZZ9988776655"
    rows[1]["diagnosis_codes"] = "E11.9|Q99.99"
    rows[2]["patient_account"] = "RFM-55555"
    rows[3]["service_date"] = "02/30/2026"
    with pytest.raises(ImportRejectedError) as info:
        _import(session, to_csv(rows))
    text = str(info.value)
    for secret in [
        "ZZ9988776655",
        "3EG4TE5MK72",
        "Q99.99",
        "Q9999",
        "E11.9",
        "RFM-55555",
        "02/30/2026",
    ]:
        assert secret not in text


def test_changed_row_for_existing_key_is_reported(
    session: Session, onboard: Callable[[str], None]
) -> None:
    from rcm.models import ServiceLine

    onboard(RIVERSIDE)
    original = read_rows(example(RIVERSIDE, "charges"))
    _import(session, to_csv(original))
    session.commit()
    rows = [dict(r) for r in original]
    rows[1]["charge"] = "16.00"
    rows[4]["diagnosis_codes"] = "Z00.129"
    rows[4]["diagnosis_pointers"] = "1"
    rows[5]["diagnosis_codes"] = "Z00.129"
    rows[5]["diagnosis_pointers"] = "1"
    rows[6]["diagnosis_codes"] = "Z00.129"
    rows[6]["diagnosis_pointers"] = "1"
    before = _counts(session)
    with pytest.raises(ImportRejectedError) as info:
        _import(session, to_csv(rows))
    found = {(p.line, p.column) for p in info.value.problems}
    assert (3, "charge") in found
    assert (6, "diagnosis_codes") in found
    assert (7, "diagnosis_pointers") in found
    session.rollback()
    assert _counts(session) == before
    charges = session.exec(
        select(ServiceLine.charge).where(ServiceLine.procedure_code == "36415")
    ).all()
    assert charges == [Decimal("15.00")]


def test_lines_added_or_missing_for_an_imported_encounter(
    session: Session, onboard: Callable[[str], None]
) -> None:
    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "charges"))
    _import(session, to_csv(rows))
    session.commit()
    extra = dict(rows[2], line_number="4")
    with pytest.raises(ImportRejectedError) as info:
        _import(session, to_csv([*rows, extra]))
    assert [(p.line, p.column) for p in info.value.problems] == [(len(rows) + 2, "line_number")]
    session.rollback()
    with pytest.raises(ImportRejectedError) as info:
        _import(
            session,
            to_csv(
                [r for r in rows if r["line_number"] != "3" or r["encounter_id"] != "ENC-24001"]
            ),
        )
    assert "line(s) 3" in info.value.problems[0].message


def test_a_new_file_with_old_and_new_encounters(
    session: Session, onboard: Callable[[str], None]
) -> None:
    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "charges"))
    _import(session, to_csv(rows[:4]))
    session.commit()
    result = _import(session, to_csv(rows))
    assert (result.created, result.unchanged) == (len(rows) - 4, 4)
    assert result.details["encounters"] == {"created": 4, "unchanged": 2}


def test_header_problems(session: Session, onboard: Callable[[str], None]) -> None:
    onboard(RIVERSIDE)
    with pytest.raises(ImportRejectedError) as info:
        _import(session, b"encounter_id,line_number,colour\nE1,1,red\n")
    problems = {(p.line, p.column, p.message) for p in info.value.problems}
    assert (1, "colour", "unknown column") in problems
    assert (1, "charge", "required column is missing") in problems


def test_malformed_files(session: Session, onboard: Callable[[str], None]) -> None:
    onboard(RIVERSIDE)
    data = example(RIVERSIDE, "charges").read_bytes()
    header, first, rest = data.split(b"\n", 2)
    with pytest.raises(ImportRejectedError) as info:
        _import(session, header + b"\n" + first + b",extra\n" + rest)
    assert info.value.problems[0].line == 2
    assert "has 21 fields" in info.value.problems[0].message
    with pytest.raises(ImportRejectedError) as info:
        _import(session, header + b"\n" + first + b"\n" + b"\xff\xfe bad\n")
    assert (info.value.problems[0].line, info.value.problems[0].message) == (3, "not UTF-8 text")
    # A BOM, CRLF line ends and blank lines are fine.
    bom = b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n") + b"\r\n\r\n"
    assert _import(session, bom).created == len(read_rows(example(RIVERSIDE, "charges")))


def test_unknown_practice(session: Session) -> None:
    with pytest.raises(ConfigError, match="no practice 'nope'"):
        _import(session, b"encounter_id\n", "nope")
