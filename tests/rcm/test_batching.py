"""Batching READY claims into 837 interchanges: assign, build, pyx12 gate, archive, upload,
resume, and concurrent runs on PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlmodel import Session, col

from rcm.batching import (
    BatchError,
    EnvelopeSettings,
    assign_batches,
    batch_practice,
    build_and_gate,
    build_and_gate_all,
    build_interchange_bytes,
    claims_by_segment,
    gate_interchange,
    pending_interchanges,
    record_archived,
    record_uploaded,
)
from rcm.claims.create import create_claims
from rcm.claims.states import transition
from rcm.models import (
    AuditEvent,
    Claim,
    ClaimEdit,
    ClaimEvent,
    ClaimStatus,
    ClaimType,
    ControlNumber,
    EditSeverity,
    EditSource,
    FrequencyCode,
    Interchange,
    InterchangeKind,
    InterchangeStatus,
    Payer,
)
from rcm.x12.validate import ValidationIssue, ValidationReport, validate
from tests.rcm.claims.test_create import TODAY, Clinic
from tests.rcm.claims.test_submission import make_secondary, replacement_of

NOW = datetime(2026, 11, 21, 14, 30, tzinfo=UTC)
ENVELOPE = EnvelopeSettings(
    sender_id="RCMSUBMITTER", receiver_id="RCMSANDBOX", receiver_name="RCM SANDBOX"
)


def make_ready(session: Session, clinic: Clinic) -> list[Claim]:
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    claims = [c for c in clinic.claims() if c.status is ClaimStatus.DRAFT]
    for claim in claims:
        transition(session, claim, ClaimStatus.READY, reason="scrubbed", source="test")
    return claims


def assign(session: Session, clinic: Clinic, **kwargs: object) -> list[Interchange]:
    interchanges = assign_batches(
        session,
        practice_id=clinic.practice.id,
        profile_name="sandbox",
        envelope=ENVELOPE,
        now=NOW,
        **kwargs,  # type: ignore[arg-type]
    )
    session.commit()
    return interchanges


def assert_clean(data: bytes) -> None:
    report = validate(data, file_name="batch.837")
    assert report.validator == "pyx12"
    assert report.error_count == 0, "\n".join(e.describe() for e in report.errors[:10])


def test_professional_and_institutional_batches_pass_pyx12(session: Session) -> None:
    clinic = Clinic(session)
    for _ in range(3):
        patient, coverage = clinic.patient()
        clinic.encounter(patient, coverage)
        clinic.encounter(
            patient,
            coverage,
            claim_type=ClaimType.INSTITUTIONAL,
            lines=(("97110", "300.00", ()), ("", "50.00", ())),
        )
    make_ready(session, clinic)
    interchanges = assign(session, clinic)
    assert sorted(i.kind.value for i in interchanges) == ["837I", "837P"]
    for interchange in interchanges:
        assert interchange.status is InterchangeStatus.ASSIGNED
        assert interchange.claim_count == 3
        outcome = build_and_gate(session, interchange.id)
        assert outcome.passed, outcome
        assert outcome.data is not None
        assert_clean(outcome.data)
        assert interchange.status is InterchangeStatus.BUILT
        assert interchange.sha256 == hashlib.sha256(outcome.data).hexdigest()
        assert interchange.file_name == (
            f"northside_{interchange.kind.value}_{interchange.isa_control_number:09d}_"
            "20261121143000.x12"
        )
    claims = clinic.claims()
    assert {c.status for c in claims} == {ClaimStatus.BATCHED}
    assert len({c.interchange_id for c in claims}) == 2


def test_secondary_and_frequency_7_claims_batch_and_pass_pyx12(session: Session) -> None:
    clinic = Clinic(session)
    primary, secondary = make_secondary(session, clinic)
    replacement = replacement_of(session, clinic, primary, FrequencyCode.REPLACEMENT, "NOR-R7")
    for claim in (secondary, replacement):
        transition(session, claim, ClaimStatus.READY, reason="scrubbed", source="test")
    (interchange,) = assign(session, clinic)
    assert interchange.claim_count == 2
    outcome = build_and_gate(session, interchange.id)
    assert outcome.passed and outcome.data is not None
    assert b"CLM*NOR-R7*140***11:B:7" in outcome.data
    assert b"AMT*D*72~" in outcome.data
    assert_clean(outcome.data)


def test_rebuild_gives_identical_bytes(session: Session) -> None:
    clinic = Clinic(session)
    for _ in range(4):
        patient, coverage = clinic.patient()
        clinic.encounter(patient, coverage)
    make_ready(session, clinic)
    (interchange,) = assign(session, clinic)
    first = build_interchange_bytes(session, interchange.id)
    outcome = build_and_gate(session, interchange.id)
    session.commit()
    session.expire_all()
    again = build_interchange_bytes(session, interchange.id)
    assert first == again == outcome.data
    # A change to the rows after the file was built is refused rather than sent renumbered.
    claim = clinic.claims()[0]
    claim.total_charge = Decimal("999.00")
    session.add(claim)
    session.flush()
    with pytest.raises(BatchError, match="archived file"):
        build_interchange_bytes(session, interchange.id)


def test_the_file_depends_on_the_interchange_row_not_on_audit_events(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    clinic.encounter(patient, coverage)
    make_ready(session, clinic)
    (interchange,) = assign(session, clinic)
    assert interchange.envelope == ENVELOPE.as_dict()
    first = build_interchange_bytes(session, interchange.id)
    assert b"*RCM SANDBOX*" in first
    session.execute(delete(AuditEvent))
    session.commit()
    session.expire_all()
    assert build_interchange_bytes(session, interchange.id) == first
    interchange.envelope = None
    with pytest.raises(BatchError, match="no recorded envelope settings"):
        build_interchange_bytes(session, interchange.id)


def test_split_at_the_claims_per_file_limit_with_fresh_control_numbers(session: Session) -> None:
    clinic = Clinic(session)
    for _ in range(5):
        patient, coverage = clinic.patient()
        clinic.encounter(patient, coverage)
    make_ready(session, clinic)
    interchanges = assign(session, clinic, max_claims_per_file=2)
    assert [i.claim_count for i in interchanges] == [2, 2, 1]
    assert [i.isa_control_number for i in interchanges] == [1, 2, 3]
    assert [i.gs_control_number for i in interchanges] == [1, 2, 3]
    numbers = session.execute(select(ControlNumber)).scalars().all()
    assert len(numbers) == 6
    assert {n.interchange_id for n in numbers} == {i.id for i in interchanges}
    for interchange in interchanges:
        outcome = build_and_gate(session, interchange.id)
        assert outcome.passed
        assert outcome.data is not None
        assert outcome.data.count(b"~CLM*") == interchange.claim_count


def test_rerun_assigns_nothing_twice_and_resumes(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    clinic.encounter(patient, coverage)
    make_ready(session, clinic)
    (interchange,) = assign(session, clinic)
    assert assign(session, clinic) == []
    assert [i.id for i in pending_interchanges(session, practice_id=clinic.practice.id)] == [
        interchange.id
    ]
    run = batch_practice(
        session, practice_id=clinic.practice.id, profile_name="sandbox", envelope=ENVELOPE, now=NOW
    )
    session.commit()
    assert run.assigned == []
    (outcome,) = run.outcomes
    assert outcome.interchange_id == interchange.id and outcome.passed
    # Built but not yet uploaded: the next run hands back the same bytes, allocates nothing.
    again = batch_practice(
        session, practice_id=clinic.practice.id, profile_name="sandbox", envelope=ENVELOPE, now=NOW
    )
    assert [o.data for o in again.outcomes] == [outcome.data]
    assert session.execute(select(func.count()).select_from(ControlNumber)).scalar_one() == 2


def test_archive_and_upload_hooks(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    clinic.encounter(patient, coverage)
    make_ready(session, clinic)
    (interchange,) = assign(session, clinic)
    with pytest.raises(BatchError):
        record_archived(session, interchange.id, "outbound/x.x12")
    build_and_gate(session, interchange.id)
    record_archived(session, interchange.id, "outbound/x.x12")
    record_archived(session, interchange.id, "outbound/x.x12")
    assert interchange.status is InterchangeStatus.ARCHIVED
    at = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    record_uploaded(session, interchange.id, "northside_837P.x12", at)
    record_uploaded(session, interchange.id, "northside_837P.x12", at)
    session.commit()
    assert interchange.status is InterchangeStatus.UPLOADED
    assert interchange.uploaded_at == at
    (claim,) = clinic.claims()
    assert claim.status is ClaimStatus.SUBMITTED
    assert claim.submitted_at == at
    transitions = (
        session.execute(
            select(ClaimEvent.to_status).where(ClaimEvent.claim_id == claim.id)  # type: ignore[call-overload]
        )
        .scalars()
        .all()
    )
    assert list(transitions).count(ClaimStatus.SUBMITTED) == 1
    assert pending_interchanges(session, practice_id=clinic.practice.id) == []


def test_a_file_failing_pyx12_holds_its_claims_with_edits(session: Session) -> None:
    clinic = Clinic(session)
    good_patient, good_coverage = clinic.patient()
    clinic.encounter(good_patient, good_coverage, external_id="GOOD")
    bad_patient, bad_coverage = clinic.patient()
    # SBR09 "XX" is no claim filing indicator code: pyx12 refuses the subscriber loop.
    bad_payer = Payer(
        key="bad-plan", name="BAD PLAN", payer_id="33333", claim_filing_indicator="XX"
    )
    session.add(bad_payer)
    session.flush()
    bad_coverage.payer_id = bad_payer.id
    session.add(bad_coverage)
    clinic.encounter(bad_patient, bad_coverage, external_id="BAD")
    make_ready(session, clinic)
    (interchange,) = assign(session, clinic)
    outcome = build_and_gate(session, interchange.id)
    session.commit()

    assert not outcome.passed
    assert outcome.errors >= 1
    assert interchange.status is InterchangeStatus.REJECTED
    assert interchange.sha256 is None and interchange.error
    claims = {c.patient_control_number: c for c in clinic.claims()}
    assert {c.status for c in claims.values()} == {ClaimStatus.HELD}
    assert all(c.interchange_id is None for c in claims.values())
    edits = session.execute(select(ClaimEdit)).scalars().all()
    by_claim = {pcn: [e for e in edits if e.claim_id == c.id] for pcn, c in claims.items()}
    bad = by_claim["NOR-BAD"]
    assert bad and all(e.source is EditSource.PYX12 for e in bad)
    assert any(e.severity is EditSeverity.ERROR and e.field == "SBR09" for e in bad)
    assert [e.severity for e in by_claim["NOR-GOOD"]] == [EditSeverity.WARNING]
    assert all("BAD PLAN" not in e.message and "MEM" not in e.message for e in edits)


def test_a_gate_verdict_from_elsewhere_is_mapped_by_segment(session: Session) -> None:
    clinic = Clinic(session)
    for name in ("A1", "B1"):
        patient, coverage = clinic.patient()
        clinic.encounter(patient, coverage, external_id=name)
    make_ready(session, clinic)
    (interchange,) = assign(session, clinic)
    data = build_interchange_bytes(session, interchange.id)
    owner, order = claims_by_segment(data)
    assert order == ["NOR-A1", "NOR-B1"]
    sv1 = next(n for n, pcns in owner.items() if pcns == ["NOR-B1"])
    report = ValidationReport(
        file_name="x",
        valid=False,
        errors=[
            ValidationIssue(
                "element", "7", "bad code", segment_number=sv1, segment_id="SV1", element="SV101-2"
            )
        ],
    )
    outcome = gate_interchange(session, interchange.id, data, report)
    assert outcome.status is InterchangeStatus.REJECTED
    errors = (
        session.execute(select(ClaimEdit).where(col(ClaimEdit.severity) == EditSeverity.ERROR))
        .scalars()
        .all()
    )
    (claim_b,) = [c for c in clinic.claims() if c.patient_control_number == "NOR-B1"]
    assert [e.claim_id for e in errors] == [claim_b.id]
    assert errors[0].field == "SV101-2"


def test_an_unwritable_claim_is_held_and_named(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    coverage.group_number = "G*1"  # a data element separator inside data
    session.add(coverage)
    clinic.encounter(patient, coverage, external_id="DELIM")
    make_ready(session, clinic)
    (interchange,) = assign(session, clinic)
    outcome = build_and_gate(session, interchange.id)
    assert outcome.status is InterchangeStatus.REJECTED
    (edit,) = session.execute(select(ClaimEdit)).scalars().all()
    assert edit.severity is EditSeverity.ERROR and "SBR03" in edit.message
    assert "G*1" not in edit.message


def test_other_statuses_and_practices_are_not_batched(session: Session) -> None:
    north = Clinic(session)
    south = Clinic(session, slug="southside")
    for clinic in (north, south):
        patient, coverage = clinic.patient()
        clinic.encounter(patient, coverage)
        clinic.encounter(patient, coverage)
    make_ready(session, north)
    create_claims(session, practice_id=south.practice.id, today=TODAY)
    draft = north.claims()[0]
    transition(session, draft, ClaimStatus.HELD, reason="edit", source="test")
    (interchange,) = assign(session, north)
    assert interchange.claim_count == 1
    assert (
        assign_batches(
            session,
            practice_id=south.practice.id,
            profile_name="sandbox",
            envelope=ENVELOPE,
            now=NOW,
        )
        == []
    )


def test_envelope_settings_are_checked() -> None:
    with pytest.raises(BatchError):
        EnvelopeSettings(sender_id="S", receiver_id="R", usage="X")
    with pytest.raises(BatchError):
        EnvelopeSettings(sender_id="S" * 16, receiver_id="R")


# --------------------------------------------------------------------------------------------
# Concurrency (PostgreSQL)
# --------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_concurrent_batch_builds_never_share_claims_or_numbers(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("needs RCM_TEST_DATABASE_URL (PostgreSQL)")
    from connectors.db import make_engine

    with Session(engine) as setup:
        clinic = Clinic(setup)
        for _ in range(40):
            patient, coverage = clinic.patient()
            clinic.encounter(patient, coverage)
        make_ready(setup, clinic)
        setup.commit()
        practice_id = clinic.practice.id

    url = engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url) for _ in range(2)]
    barrier = threading.Barrier(4)
    results: list[list[int]] = []
    failures: list[BaseException] = []

    def worker(db: Engine) -> None:
        try:
            for _ in range(3):
                with Session(db) as session:
                    barrier.wait(timeout=30)
                    made = assign_batches(
                        session,
                        practice_id=practice_id,
                        profile_name="sandbox",
                        envelope=ENVELOPE,
                        now=NOW,
                        max_claims_per_file=7,
                    )
                    for interchange in made:
                        build_and_gate(session, interchange.id, validator=_always_valid)
                    session.commit()
                    results.append([i.claim_count for i in made])
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(db,)) for db in (*engines, *engines)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for db in engines:
        db.dispose()
    assert not failures, failures

    with Session(engine) as check:
        claims = (
            check.execute(select(Claim).where(col(Claim.practice_id) == practice_id))
            .scalars()
            .all()
        )
        assert {c.status for c in claims} == {ClaimStatus.BATCHED}
        interchanges = check.execute(select(Interchange)).scalars().all()
        assert sum(i.claim_count for i in interchanges) == 40
        assert sum(sum(r) for r in results) == 40
        batched_events = check.execute(
            select(func.count())
            .select_from(ClaimEvent)
            .where(col(ClaimEvent.to_status) == ClaimStatus.BATCHED)
        ).scalar_one()
        assert batched_events == 40
        isa = [i.isa_control_number for i in interchanges]
        assert len(isa) == len(set(isa))
        numbers = check.execute(select(ControlNumber)).scalars().all()
        assert len(numbers) == 2 * len(interchanges)
        assert all(i.status is InterchangeStatus.BUILT for i in interchanges)
        assert all(i.kind is InterchangeKind.CLAIM_837P for i in interchanges)
    assert os.environ.get("RCM_TEST_DATABASE_URL")


def _always_valid(data: bytes, *, file_name: str | None = None) -> ValidationReport:
    return ValidationReport(file_name=file_name, valid=True)


def test_charges_to_gated_files_through_the_scrubber(session: Session) -> None:
    """Encounters → create_claims → scrub_claims (rcm.scrub) → batch_practice: every file the
    chain writes passes pyx12."""
    from rcm.scrub.adapter import scrub_claims

    clinic = Clinic(session)
    for _ in range(3):
        patient, coverage = clinic.patient()
        clinic.encounter(patient, coverage)
        clinic.encounter(
            patient, coverage, claim_type=ClaimType.INSTITUTIONAL, lines=(("97110", "300.00", ()),)
        )
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    outcome = scrub_claims(session, practice_id=clinic.practice.id, today=TODAY, source="test")
    assert len(outcome.ready) == 6, outcome.summary()
    run = batch_practice(
        session, practice_id=clinic.practice.id, profile_name="sandbox", envelope=ENVELOPE, now=NOW
    )
    session.commit()
    assert run.summary()["built"] == 2 and run.summary()["claims"] == 6
    for built in run.outcomes:
        assert built.data is not None
        assert_clean(built.data)


def test_files_validated_in_a_process_pool(session: Session) -> None:
    from concurrent.futures import ProcessPoolExecutor

    clinic = Clinic(session)
    for _ in range(3):
        patient, coverage = clinic.patient()
        clinic.encounter(patient, coverage)
    make_ready(session, clinic)
    interchanges = assign(session, clinic, max_claims_per_file=2)
    with ProcessPoolExecutor(max_workers=1) as pool:
        outcomes = build_and_gate_all(session, [i.id for i in interchanges], executor=pool)
    assert [o.status for o in outcomes] == [InterchangeStatus.BUILT] * 2
    assert [o.claim_count for o in outcomes] == [2, 1]
    for outcome in outcomes:
        assert outcome.data is not None
        assert_clean(outcome.data)
