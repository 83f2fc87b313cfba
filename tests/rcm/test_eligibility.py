"""Eligibility: 270 for appointments, 271 answers applied (rcm.eligibility)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from rcm.batching import EnvelopeSettings
from rcm.eligibility import (
    InquiryBatch,
    apply_271,
    build_270,
    build_270_bytes,
    record_archived,
    record_inbound,
    record_uploaded,
)
from rcm.models import (
    Appointment,
    AuditEvent,
    ControlNumber,
    Coverage,
    EligibilityCheck,
    EligibilityCheckStatus,
    EligibilityStatus,
    InterchangeKind,
    InterchangeStatus,
    Patient,
    WorkItem,
)
from rcm.x12 import x271 as e
from rcm.x12.core import InterchangeEnvelope
from rcm.x12.x270 import IMPLEMENTATION, Party, parse_270
from tests.rcm.claims.test_create import Clinic

NOW = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
VISIT = date(2026, 11, 23)
ENVELOPE = EnvelopeSettings(sender_id="RCMSUBMITTER", receiver_id="RCMSANDBOX")


def appointment(session: Session, clinic: Clinic, patient: Patient, hour: int = 15) -> Appointment:
    row = Appointment(
        practice_id=clinic.practice.id,
        external_id=f"APT-{patient.account_number}-{hour}",
        patient_id=patient.id,
        provider_id=clinic.rendering.id,
        scheduled_at=datetime(2026, 11, 23, hour, 0, tzinfo=UTC),
    )
    session.add(row)
    session.flush()
    return row


def build(session: Session, clinic: Clinic):  # type: ignore[no-untyped-def]
    return build_270(
        session,
        practice_id=clinic.practice.id,
        date_from=VISIT,
        date_to=VISIT,
        profile_name="sandbox",
        envelope=ENVELOPE,
        now=NOW,
    )


def answer(
    trace: str,
    *benefits: e.Benefit,
    member_id: str = "MEM000001",
    rejections: tuple[e.Rejection, ...] = (),
    last_name: str = "PATIENT1",
    corrected: bool = False,
    dates: tuple[e.DateRange, ...] = (),
) -> e.EligibilityResponse:
    return e.EligibilityResponse(
        source=Party(entity_id="PR", name="PLAN ONE", identifier="11111", id_qualifier="PI"),
        receiver=Party(
            entity_id="1P", name="NORTHSIDE", identifier="1234567893", id_qualifier="XX"
        ),
        subscriber=e.EligibilityMember(
            last_name=last_name,
            first_name="TESTY",
            member_id=member_id,
            traces=(e.Trace(type_code="2", number=trace, originator="1123456789"),),
            rejections=rejections,
            benefits=benefits,
            dates=dates,
            insured="Y" if corrected else None,
            relationship="18" if corrected else None,
            maintenance_type="001" if corrected else None,
            maintenance_reason="25" if corrected else None,
        ),
    )


def file_271(*responses: e.EligibilityResponse) -> bytes:
    envelope = InterchangeEnvelope(
        sender_qualifier="ZZ",
        sender_id="RCMSANDBOX",
        receiver_qualifier="ZZ",
        receiver_id="RCMSUBMITTER",
        control_number=9,
        group_control_number=9,
        functional_id="HB",
        version=IMPLEMENTATION,
        created=NOW,
        usage="T",
    )
    return e.build_271_interchange(
        envelope, [e.Eligibility271(reference_id="R1", created=NOW, responses=responses)]
    )


def apply(session: Session, clinic: Clinic, data: bytes):  # type: ignore[no-untyped-def]
    row, new = record_inbound(
        session,
        practice_id=clinic.practice.id,
        clearinghouse="sandbox",
        data=data,
        file_name="answer.271",
    )
    assert new
    return apply_271(
        session, practice_id=clinic.practice.id, data=data, interchange_id=row.id, now=NOW
    )


ACTIVE = (
    e.Benefit(
        information="1", coverage_level="IND", service_types=("30",), plan_description="GOLD PPO"
    ),
    e.Benefit(
        information="B",
        coverage_level="IND",
        service_types=("98",),
        time_period="27",
        amount=Decimal("25"),
        in_network="Y",
    ),
    e.Benefit(
        information="A",
        coverage_level="IND",
        service_types=("30",),
        time_period="27",
        percent=Decimal("0.2"),
        in_network="Y",
    ),
    e.Benefit(
        information="C",
        coverage_level="IND",
        service_types=("30",),
        time_period="23",
        amount=Decimal("1500"),
        in_network="Y",
    ),
    e.Benefit(
        information="C",
        coverage_level="IND",
        service_types=("30",),
        time_period="29",
        amount=Decimal("600.50"),
        in_network="Y",
    ),
    e.Benefit(
        information="G",
        coverage_level="IND",
        service_types=("30",),
        time_period="29",
        amount=Decimal("3200"),
        in_network="Y",
    ),
)


def test_one_270_for_all_appointments_with_trace_numbers(session: Session) -> None:
    clinic = Clinic(session)
    p1, _ = clinic.patient(secondary=True)
    p2, c2 = clinic.patient()
    c2.relationship = "19"
    c2.subscriber_first_name, c2.subscriber_last_name = "PARENT", "SUBSCRIBER"
    session.add(c2)
    appointment(session, clinic, p1)
    appointment(session, clinic, p2)
    batch = build(session, clinic)
    session.commit()
    assert batch.interchange is not None and batch.data is not None
    assert batch.interchange.kind is InterchangeKind.ELIGIBILITY_270
    assert batch.interchange.status is InterchangeStatus.BUILT
    assert len(batch.created) == 3  # p1's primary and secondary, p2's coverage
    checks = session.execute(select(EligibilityCheck)).scalars().all()
    assert {c.interchange_id for c in checks} == {batch.interchange.id}
    assert all(c.status is EligibilityCheckStatus.PENDING for c in checks)
    assert all(c.service_date == VISIT for c in checks)
    requests = parse_270(batch.data)
    assert len(requests) == 2  # one ST per payer
    traces = sorted(i.trace_number for r in requests for i in r.inquiries)
    assert traces == sorted(c.trace_number for c in checks)
    dependents = [i for r in requests for i in r.inquiries if i.dependent is not None]
    assert len(dependents) == 1 and dependents[0].subscriber.last_name == "SUBSCRIBER"
    assert build_270_bytes(session, batch.interchange.id) == batch.data
    from rcm.x12.validate import validate

    report = validate(batch.data)
    assert report.error_count == 0, [x.describe() for x in report.errors]


def test_rebuilding_reuses_pending_checks_and_makes_no_second_270(session: Session) -> None:
    clinic = Clinic(session)
    patient, _ = clinic.patient()
    appointment(session, clinic, patient)
    first = build(session, clinic)
    session.commit()
    second = build(session, clinic)
    session.commit()
    assert first.interchange is not None
    assert second.interchange is None and second.created == []
    assert second.reused == first.created
    assert second.existing_interchanges == [first.interchange.id]
    assert session.execute(select(func.count()).select_from(EligibilityCheck)).scalar_one() == 1
    assert session.execute(select(func.count()).select_from(ControlNumber)).scalar_one() == 2
    # A new appointment the next run finds gets its own, new 270.
    other, _ = clinic.patient()
    appointment(session, clinic, other)
    third = build(session, clinic)
    assert third.interchange is not None and len(third.created) == 1


def test_appointments_outside_the_range_or_cancelled_are_skipped(session: Session) -> None:
    clinic = Clinic(session)
    patient, _ = clinic.patient()
    late = appointment(session, clinic, patient, hour=15)
    late.scheduled_at = datetime(2026, 11, 24, 4, 30, tzinfo=UTC)  # 23:30 on the 23rd in New York
    cancelled = appointment(session, clinic, patient, hour=16)
    cancelled.status = "cancelled"  # type: ignore[assignment]
    session.add_all([late, cancelled])
    session.flush()
    batch = build(session, clinic)
    assert len(batch.created) == 1


def test_active_answer_updates_coverage_money_fields(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    appointment(session, clinic, patient)
    batch = build(session, clinic)
    (check,) = session.execute(select(EligibilityCheck)).scalars().all()
    result = apply(session, clinic, file_271(answer(check.trace_number, *ACTIVE)))
    session.commit()
    assert result.matched == 1 and result.unmatched == 0
    assert check.status is EligibilityCheckStatus.ACTIVE
    assert check.response["plan"] == "GOLD PPO"
    assert coverage.eligibility_status is EligibilityStatus.ACTIVE
    assert coverage.eligibility_checked_at == NOW
    assert coverage.copay == Decimal("25.00")
    assert coverage.coinsurance_percent == Decimal("20.00")
    assert coverage.deductible_remaining == Decimal("600.50")
    assert coverage.out_of_pocket_remaining == Decimal("3200.00")
    assert coverage.plan_name == "GOLD PPO"
    assert session.execute(select(WorkItem)).scalars().all() == []
    assert batch.interchange is not None


def test_a_rerun_after_the_271_does_not_ask_again(session: Session) -> None:
    clinic = Clinic(session)
    patient, _ = clinic.patient()
    appointment(session, clinic, patient)
    first = build(session, clinic)
    (check,) = session.execute(select(EligibilityCheck)).scalars().all()
    apply(session, clinic, file_271(answer(check.trace_number, *ACTIVE)))
    session.commit()

    again = build(session, clinic)
    session.commit()
    assert again.interchange is None or again.interchange.id == first.interchange.id
    assert again.created == []
    assert list(again.skipped.values()) == ["the payer already answered for this visit"]
    assert len(session.execute(select(EligibilityCheck)).scalars().all()) == 1


@pytest.mark.parametrize(
    ("response_kwargs", "benefits", "status", "coverage_status", "kinds"),
    [
        (
            {},
            (e.Benefit(information="6", service_types=("30",)),),
            EligibilityCheckStatus.INACTIVE,
            EligibilityStatus.INACTIVE,
            {"eligibility_inactive"},
        ),
        (
            {"rejections": (e.Rejection(reason_code="75", follow_up="C"),)},
            (),
            EligibilityCheckStatus.NOT_FOUND,
            EligibilityStatus.NOT_FOUND,
            {"eligibility_not_found"},
        ),
        (
            {"rejections": (e.Rejection(reason_code="72", follow_up="C"),)},
            (),
            EligibilityCheckStatus.REJECTED,
            EligibilityStatus.ERROR,
            {"eligibility_rejected", "member_id_mismatch"},
        ),
        (
            {"member_id": "NEWID99"},
            ACTIVE[:1],
            EligibilityCheckStatus.ACTIVE,
            EligibilityStatus.ACTIVE,
            {"member_id_mismatch"},
        ),
        (
            {"last_name": "SOMEONEELSE"},
            ACTIVE[:1],
            EligibilityCheckStatus.ACTIVE,
            EligibilityStatus.ACTIVE,
            {"name_mismatch"},
        ),
        (
            {
                "dates": (
                    e.DateRange(qualifier="346", start=date(2025, 1, 1)),
                    e.DateRange(qualifier="347", start=date(2026, 10, 31)),
                )
            },
            ACTIVE[:1],
            EligibilityCheckStatus.INACTIVE,
            EligibilityStatus.INACTIVE,
            {"eligibility_inactive"},
        ),
    ],
)
def test_problems_become_work_items_on_the_appointment(
    session: Session,
    response_kwargs: dict,
    benefits: tuple,
    status: EligibilityCheckStatus,  # type: ignore[type-arg]
    coverage_status: EligibilityStatus,
    kinds: set[str],
) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    visit = appointment(session, clinic, patient)
    build(session, clinic)
    (check,) = session.execute(select(EligibilityCheck)).scalars().all()
    apply(session, clinic, file_271(answer(check.trace_number, *benefits, **response_kwargs)))
    assert check.status is status
    assert coverage.eligibility_status is coverage_status
    items = session.execute(select(WorkItem)).scalars().all()
    assert {i.kind for i in items} == kinds
    assert all(i.appointment_id == visit.id for i in items)
    assert all(patient.last_name not in i.detail and "MEM" not in i.detail for i in items)
    if "member_id" in response_kwargs:
        assert coverage.member_id.startswith("MEM")  # not corrected by the payer: kept


def test_member_id_corrected_by_the_payer_is_applied(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    appointment(session, clinic, patient)
    build(session, clinic)
    (check,) = session.execute(select(EligibilityCheck)).scalars().all()
    apply(
        session,
        clinic,
        file_271(answer(check.trace_number, *ACTIVE[:1], member_id="CORRECTED1", corrected=True)),
    )
    assert coverage.member_id == "CORRECTED1"


def test_unknown_secondary_payer_is_flagged(session: Session) -> None:
    clinic = Clinic(session)
    patient, _ = clinic.patient()
    appointment(session, clinic, patient)
    build(session, clinic)
    (check,) = session.execute(select(EligibilityCheck)).scalars().all()
    other = e.Benefit(
        information="R",
        service_types=("30",),
        entities=(
            e.RelatedEntity(
                party=Party(
                    entity_id="PR", name="MYSTERY PLAN", identifier="55555", id_qualifier="PI"
                )
            ),
        ),
    )
    result = apply(session, clinic, file_271(answer(check.trace_number, *ACTIVE[:1], other)))
    assert dict(result.work_items) == {"unknown_secondary": 1}
    # The same payer as a known secondary coverage raises nothing.
    known = session.execute(select(WorkItem)).scalars().one()
    assert known.kind == "unknown_secondary"


def test_known_secondary_payer_is_not_flagged(session: Session) -> None:
    clinic = Clinic(session)
    patient, _ = clinic.patient(secondary=True)
    appointment(session, clinic, patient)
    build(session, clinic)
    primary = (
        session.execute(
            select(EligibilityCheck)
            .join(Coverage, col(Coverage.id) == col(EligibilityCheck.coverage_id))
            .where(col(Coverage.priority) == 1)
        )
        .scalars()
        .one()
    )
    other = e.Benefit(
        information="R",
        service_types=("30",),
        entities=(
            e.RelatedEntity(
                party=Party(entity_id="PR", name="PLAN TWO", identifier="22222", id_qualifier="PI")
            ),
        ),
    )
    result = apply(session, clinic, file_271(answer(primary.trace_number, *ACTIVE[:1], other)))
    assert dict(result.work_items) == {}


def test_unmatched_answers_are_counted(session: Session) -> None:
    clinic = Clinic(session)
    result = apply(session, clinic, file_271(answer("NOSUCHTRACE", *ACTIVE[:1])))
    assert (result.matched, result.unmatched) == (0, 1)


def _corpus_271s(corpus: Path) -> list[Path]:
    found = []
    for path in sorted(corpus.rglob("*")):
        if not path.is_file() or path.name in ("LICENSE", "MANIFEST.tsv", "README.md"):
            continue
        head = path.read_bytes()[:4000]
        if b"005010X279A1" in head and (b"ST*271" in head or b"ST|271" in head):
            found.append(path)
    return found


def test_corpus_271s_apply_and_map_statuses(session: Session, x12_corpus: Path) -> None:
    files = _corpus_271s(x12_corpus)
    assert files, "no 271 in the corpus"
    clinic = Clinic(session)
    applied = 0
    statuses: set[str] = set()
    for path in files:
        data = path.read_bytes()
        try:
            responses = e.parse_271(data, strict=False)
        except Exception:
            continue
        # Give every traced answer a pending check, as if we had asked.
        for response in responses:
            for trace in response.trace_numbers:
                if session.execute(
                    select(EligibilityCheck).where(col(EligibilityCheck.trace_number) == trace)
                ).first():
                    continue
                patient, coverage = clinic.patient()
                visit = appointment(session, clinic, patient)
                session.add(
                    EligibilityCheck(
                        practice_id=clinic.practice.id,
                        patient_id=patient.id,
                        coverage_id=coverage.id,
                        appointment_id=visit.id,
                        trace_number=trace,
                        service_date=VISIT,
                    )
                )
        session.flush()
        row, new = record_inbound(
            session,
            practice_id=clinic.practice.id,
            clearinghouse="corpus",
            data=data,
            file_name=path.name,
        )
        if not new:
            continue
        result = apply_271(
            session, practice_id=clinic.practice.id, data=data, interchange_id=row.id, now=NOW
        )
        applied += 1
        statuses |= set(result.by_status)
        assert row.status is InterchangeStatus.PROCESSED
    session.commit()
    assert applied >= 3
    assert statuses & {"active", "inactive", "not_found", "rejected", "error"}
    checks = session.execute(select(EligibilityCheck)).scalars().all()
    assert any(c.status is not EligibilityCheckStatus.PENDING for c in checks)


def test_270_archive_and_upload_hooks(session: Session) -> None:
    clinic = Clinic(session)
    patient, _ = clinic.patient()
    appointment(session, clinic, patient)
    batch = build(session, clinic)
    assert batch.interchange is not None
    interchange = batch.interchange
    assert (
        interchange.file_name
        == f"northside_270_{interchange.isa_control_number:09d}_20261120230000.x12"
    )
    record_archived(session, interchange.id, "outbound/a.x12")
    record_archived(session, interchange.id, "outbound/a.x12")
    assert interchange.status is InterchangeStatus.ARCHIVED
    record_uploaded(session, interchange.id, "a.x12", NOW)
    record_uploaded(session, interchange.id, "a.x12", NOW)
    assert interchange.status is InterchangeStatus.UPLOADED and interchange.uploaded_at == NOW


def test_the_270_keeps_its_envelope_on_the_interchange_row(session: Session) -> None:
    clinic = Clinic(session)
    patient, _ = clinic.patient()
    appointment(session, clinic, patient)
    batch = build(session, clinic)
    session.commit()
    assert batch.interchange is not None and batch.data is not None
    assert batch.interchange.envelope == ENVELOPE.as_dict()
    session.execute(delete(AuditEvent))
    session.commit()
    session.expire_all()
    assert build_270_bytes(session, batch.interchange.id) == batch.data


@pytest.fixture(params=[EligibilityCheckStatus.ACTIVE, EligibilityCheckStatus.SUPERSEDED])
def answered(request: pytest.FixtureRequest) -> EligibilityCheckStatus:
    return request.param  # type: ignore[no-any-return]


def test_only_one_check_per_appointment_and_coverage_is_pending(
    session: Session, answered: EligibilityCheckStatus
) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    visit = appointment(session, clinic, patient)

    def check(status: EligibilityCheckStatus, trace: str) -> EligibilityCheck:
        return EligibilityCheck(
            practice_id=clinic.practice.id,
            patient_id=patient.id,
            coverage_id=coverage.id,
            appointment_id=visit.id,
            trace_number=trace,
            service_date=VISIT,
            status=status,
        )

    session.add_all([check(EligibilityCheckStatus.PENDING, "T1"), check(answered, "T2")])
    session.flush()
    session.add(check(EligibilityCheckStatus.PENDING, "T3"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_moved_appointment_supersedes_the_check_already_sent(session: Session) -> None:
    clinic = Clinic(session)
    patient, _ = clinic.patient()
    moved = appointment(session, clinic, patient)
    first = build(session, clinic)
    session.commit()
    assert first.interchange is not None
    (old_id,) = first.created
    moved.scheduled_at = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    session.add(moved)
    second = build_270(
        session,
        practice_id=clinic.practice.id,
        date_from=VISIT,
        date_to=date(2026, 11, 24),
        profile_name="sandbox",
        envelope=ENVELOPE,
        now=NOW,
    )
    session.commit()
    assert second.interchange is not None and second.interchange.id != first.interchange.id
    old = session.get(EligibilityCheck, old_id)
    assert old is not None and old.status is EligibilityCheckStatus.SUPERSEDED
    (new_id,) = second.created
    new = session.get(EligibilityCheck, new_id)
    assert new is not None and new.status is EligibilityCheckStatus.PENDING
    assert new.service_date == date(2026, 11, 24)


@pytest.mark.integration
def test_concurrent_270_runs_make_one_pending_check_per_appointment(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("needs RCM_TEST_DATABASE_URL (PostgreSQL)")
    with Session(engine) as setup:
        clinic = Clinic(setup)
        p1, _ = clinic.patient(secondary=True)
        p2, _ = clinic.patient()
        appointment(setup, clinic, p1)
        appointment(setup, clinic, p2)
        setup.commit()
        practice_id = clinic.practice.id

    def run(session: Session) -> InquiryBatch:
        return build_270(
            session,
            practice_id=practice_id,
            date_from=VISIT,
            date_to=VISIT,
            profile_name="sandbox",
            envelope=ENVELOPE,
            now=NOW,
        )

    outcome: dict[str, object] = {}

    def second_run() -> None:
        try:
            with Session(engine) as session:
                outcome["batch"] = run(session)
                session.commit()
        except BaseException as exc:
            outcome["error"] = exc

    # The first run has inserted its pending checks and not committed when the second starts:
    # the second finds no pending check, inserts its own and waits on the unique index.
    with Session(engine) as first_session:
        first = run(first_session)
        thread = threading.Thread(target=second_run)
        thread.start()
        blocked = False
        # Autocommit: pg_stat_activity is read once per transaction.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as monitor:
            for _ in range(200):
                blocked = bool(
                    monitor.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND query ILIKE '%INSERT INTO eligibility_check%'"
                        )
                    ).scalar_one()
                )
                if blocked or not thread.is_alive():
                    break
                time.sleep(0.05)
        first_session.commit()
        first_ids = sorted(first.created, key=str)
        first_interchange = first.interchange.id if first.interchange else None
    thread.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")
    assert blocked, "the second run never waited on the first run's pending checks"

    second = outcome["batch"]
    assert isinstance(second, InquiryBatch)
    assert len(first_ids) == 3 and first_interchange is not None
    assert second.created == [] and second.interchange is None
    assert sorted(second.reused, key=str) == first_ids
    assert second.existing_interchanges == [first_interchange]
    with Session(engine) as check:
        pending = check.execute(
            select(EligibilityCheck).where(
                col(EligibilityCheck.status) == EligibilityCheckStatus.PENDING
            )
        ).scalars()
        assert sorted((c.id for c in pending), key=str) == first_ids
        assert check.execute(select(func.count()).select_from(ControlNumber)).scalar_one() == 2
