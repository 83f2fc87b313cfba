"""Appeals of denials, and corrected claims for denials caused by coding or data errors.

`create_appeal` drafts a letter (PDF bytes; archiving it and setting letter_archive_key is the
caller's job) addressed to the payer's appeal address, naming the claim and line, the denial
reason in words, an argument suited to the denial's category and the attachments a reviewer
needs. `submit_appeal` and `record_appeal_outcome` track it: the claim goes DENIED/PARTIAL →
APPEALED when submitted, and the denial is closed when the outcome arrives (the payer's
reprocessing 835 moves the claim on).

`create_corrected_claim` is the other path: a frequency 7 replacement claim that references the
original's payer claim control number (REF*F8); the original becomes REPLACED when the graph
allows it (from DENIED). `auto_correct_claim` is that path without a biller: it applies the fixes
the denials themselves make clear (rcm.denials.fixes, e.g. the therapy modifier a CO-4 asks for)
and creates the corrected claim, or, when a fix cannot be inferred, puts the denials in the
billers' corrections queue. A corrected claim identical to the denied one is never sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType

from fpdf import FPDF
from sqlalchemy import select
from sqlmodel import Session, col

from rcm.claims.states import can_transition, transition
from rcm.denials.carc import load_carc_table
from rcm.denials.fixes import LineFix, apply_plan, correction_denials, plan_correction
from rcm.denials.queue import assign_denial
from rcm.errors import RcmError, StateError
from rcm.models import (
    Appeal,
    AppealStatus,
    AuditEvent,
    Claim,
    ClaimStatus,
    Coverage,
    Denial,
    DenialStatus,
    Patient,
    Payer,
    Practice,
    ServiceLine,
    utcnow,
)


class AppealError(RcmError):
    """An appeal or corrected claim that cannot be made."""


ARGUMENTS: Mapping[str, str] = MappingProxyType(
    {
        "medical_necessity": (
            "The service was medically necessary for the patient's condition. The enclosed "
            "clinical notes document the symptoms, findings and prior treatment that support "
            "it, and the service meets the payer's published coverage criteria for the "
            "diagnoses billed."
        ),
        "authorization": (
            "Authorization requirements were met or did not apply: the enclosed records show "
            "the authorization on file (or the urgent circumstances in which it could not be "
            "obtained beforehand). We ask that the claim be reprocessed against that "
            "authorization."
        ),
        "bundling": (
            "The service is separately identifiable from the other services on the same date: it "
            "was performed at a separate session or site, or for a distinct problem, as the "
            "enclosed documentation shows, and the modifiers billed identify it as distinct "
            "under NCCI policy."
        ),
        "coding": (
            "The codes billed accurately describe the service documented in the enclosed "
            "records. We ask the payer to review the documentation against the code and "
            "modifiers billed and reprocess the claim."
        ),
        "eligibility": (
            "The patient was covered on the date of service: the enclosed eligibility response "
            "and insurance card show active coverage. We ask that the claim be reprocessed."
        ),
        "timely_filing": (
            "The claim was filed within the payer's filing limit: the enclosed clearinghouse "
            "acceptance report shows the original submission date. We ask that the claim be "
            "reprocessed as timely."
        ),
        "duplicate": (
            "This claim is not a duplicate: it is for a different date, service or "
            "occurrence than the claim it was matched to, as the enclosed records show."
        ),
        "coordination_of_benefits": (
            "Coordination of benefits has been updated: the enclosed primary payer's "
            "explanation of benefits shows its adjudication, and this payer's liability follows "
            "from it."
        ),
        "missing_information": (
            "The information the payer needed is enclosed. We ask that the claim be reprocessed "
            "with it."
        ),
        "non_covered": (
            "The service is covered under the patient's plan for the diagnoses billed, as the "
            "enclosed plan documents and clinical records show. We ask for a review of the "
            "coverage determination."
        ),
    }
)
DEFAULT_ARGUMENT = (
    "We believe the claim was adjudicated in error and ask for a review of the enclosed "
    "documentation and reprocessing of the claim."
)

ATTACHMENTS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "medical_necessity": (
            "Office or procedure notes for the date of service",
            "Relevant history, test results and prior treatment",
            "Letter of medical necessity from the rendering provider",
            "Payer coverage policy (LCD/NCD or medical policy) cited",
        ),
        "authorization": (
            "Authorization or referral number and approval",
            "Notes documenting urgency when authorization was not possible",
        ),
        "bundling": (
            "Procedure notes showing the separate session, site or problem",
            "Modifier justification (25, 59, XE/XS/XP/XU)",
        ),
        "coding": (
            "Office or procedure notes for the date of service",
            "Coding rationale for the procedure and diagnosis codes",
        ),
        "eligibility": (
            "Eligibility response (271) for the date of service",
            "Copy of the insurance card (front and back)",
        ),
        "timely_filing": (
            "Clearinghouse acceptance report (999/277CA) for the original claim",
            "Payer correspondence with dates",
        ),
        "duplicate": ("Records distinguishing this service from the matched claim",),
        "coordination_of_benefits": (
            "Primary payer explanation of benefits",
            "Coordination of benefits questionnaire",
        ),
        "missing_information": ("The requested records or information",),
        "non_covered": ("Plan benefit documentation", "Clinical records for the date of service"),
    }
)
DEFAULT_ATTACHMENTS = (
    "Copy of the claim",
    "Remittance advice showing the denial",
    "Clinical records for the date of service",
)


@dataclass(frozen=True, slots=True)
class AppealDraft:
    letter_pdf: bytes
    appeal: Appeal


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _money(amount: Decimal) -> str:
    return f"${amount.quantize(Decimal('0.01')):,}"


def _context(
    session: Session, denial: Denial
) -> tuple[Claim, Practice, Payer, Patient, Coverage | None, list[ServiceLine]]:
    claim = session.get(Claim, denial.claim_id)
    if claim is None:
        raise AppealError(f"denial {denial.id} names no claim")
    practice = session.get(Practice, claim.practice_id)
    payer = session.get(Payer, claim.payer_id)
    patient = session.get(Patient, claim.patient_id)
    if practice is None or payer is None or patient is None:
        raise AppealError(f"claim {claim.id} is missing its practice, payer or patient")
    coverage = session.get(Coverage, claim.coverage_id)
    lines = list(
        session.scalars(
            select(ServiceLine)
            .where(col(ServiceLine.encounter_id) == claim.encounter_id)
            .order_by(col(ServiceLine.line_number))
        )
    )
    if denial.service_line_id is not None:
        lines = [line for line in lines if line.id == denial.service_line_id] or lines
    return claim, practice, payer, patient, coverage, lines


def render_letter(session: Session, denial: Denial, *, today: date) -> bytes:
    """The appeal letter as PDF bytes (deterministic for the same rows and date)."""
    claim, practice, payer, patient, coverage, lines = _context(session, denial)
    table = load_carc_table()
    pdf = FPDF(format="letter", unit="pt")
    pdf.set_creation_date(datetime.combine(today, datetime.min.time(), tzinfo=UTC))
    pdf.set_title(_latin1(f"Appeal {claim.patient_control_number}"))
    pdf.set_auto_page_break(auto=True, margin=54)
    pdf.add_page()

    def line(text: str, *, bold: bool = False, size: int = 10, height: int = 13) -> None:
        pdf.set_font("Helvetica", "B" if bold else "", size)
        pdf.multi_cell(0, height, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    line(practice.name, bold=True, size=13, height=17)
    line(f"{practice.address1}, {practice.city}, {practice.state} {practice.zip}")
    line(
        f"NPI {practice.billing_npi}   TIN {practice.tin}"
        + (f"   Phone {practice.phone}" if practice.phone else "")
    )
    pdf.ln(14)
    line(today.strftime("%B %d, %Y").replace(" 0", " "))
    pdf.ln(8)
    line(f"{payer.name}", bold=True)
    line("Attn: Appeals / Claim Reconsideration")
    if payer.address1:
        line(payer.address1)
        line(f"{payer.city or ''}, {payer.state or ''} {payer.zip or ''}".strip(", "))
    else:
        line("(appeal address not on file: confirm with the payer before mailing)")
    pdf.ln(12)
    name = f"{patient.first_name} {patient.last_name}"
    line(f"RE: Request for reconsideration of claim {claim.patient_control_number}", bold=True)
    details = [
        f"Patient: {name}   Date of birth: {patient.birth_date.isoformat()}",
        f"Member ID: {coverage.member_id if coverage else 'see enclosed card'}",
        f"Payer claim number: {claim.payer_claim_control_number or 'not assigned'}",
        f"Dates of service: {claim.service_date_from.isoformat()}"
        + (
            f" to {claim.service_date_to.isoformat()}"
            if claim.service_date_to != claim.service_date_from
            else ""
        ),
        f"Billed: {_money(claim.total_charge)}   Denied: {_money(denial.amount)}",
    ]
    for text in details:
        line(text)
    pdf.ln(8)
    line("Services appealed", bold=True)
    for sl in lines:
        mods = "-".join(sl.modifiers or [])
        line(
            f"  Line {sl.line_number}: {sl.procedure_code}{' ' + mods if mods else ''}, "
            f"{sl.units} unit(s), {(sl.service_date or claim.service_date_from).isoformat()}, "
            f"charge {_money(sl.charge)}"
        )
    pdf.ln(8)
    line("Denial reason", bold=True)
    line(f"  CARC {denial.group_code}-{denial.carc}: {table.get(denial.carc).description}")
    for code in denial.rarcs or []:
        line(f"  RARC {code}: {table.describe_rarc(code) or 'see remittance advice'}")
    pdf.ln(8)
    line("Why the claim should be paid", bold=True)
    line(ARGUMENTS.get(denial.category, DEFAULT_ARGUMENT))
    pdf.ln(8)
    line("Enclosed", bold=True)
    for item in (
        *DEFAULT_ATTACHMENTS[:2],
        *ATTACHMENTS.get(denial.category, DEFAULT_ATTACHMENTS[2:]),
    ):
        line(f"  - {item}")
    pdf.ln(8)
    if denial.appeal_deadline:
        line(
            f"This appeal is filed within the payer's appeal window "
            f"(deadline {denial.appeal_deadline.isoformat()})."
        )
    line("Please reprocess the claim and contact our billing office with any questions.")
    pdf.ln(18)
    line("Sincerely,")
    pdf.ln(18)
    line(f"Billing office, {practice.name}")
    return bytes(pdf.output())


def create_appeal(session: Session, denial_id: uuid.UUID, *, today: date) -> AppealDraft:
    """Draft an appeal for an open denial: an Appeal row (draft) and its letter. Flushes."""
    denial = session.get(Denial, denial_id)
    if denial is None:
        raise AppealError(f"no denial {denial_id}")
    if denial.status not in (DenialStatus.OPEN, DenialStatus.ASSIGNED):
        raise AppealError(f"denial {denial_id} is {DenialStatus(denial.status).value}")
    if denial.appeal_deadline is not None and today > denial.appeal_deadline:
        raise AppealError(
            f"denial {denial_id}: the appeal deadline {denial.appeal_deadline} has passed"
        )
    letter = render_letter(session, denial, today=today)
    appeal = Appeal(practice_id=denial.practice_id, denial_id=denial.id, claim_id=denial.claim_id)
    session.add(appeal)
    session.flush()
    return AppealDraft(letter, appeal)


def _appeal(session: Session, appeal_id: uuid.UUID) -> Appeal:
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise AppealError(f"no appeal {appeal_id}")
    return appeal


def submit_appeal(
    session: Session,
    appeal_id: uuid.UUID,
    *,
    letter_archive_key: str | None = None,
    actor: str = "system",
) -> Appeal:
    """Record that the appeal went to the payer: claim → APPEALED, denial → appealed."""
    appeal = _appeal(session, appeal_id)
    if appeal.status is not AppealStatus.DRAFT:
        raise AppealError(f"appeal {appeal_id} is already {AppealStatus(appeal.status).value}")
    appeal.status = AppealStatus.SUBMITTED
    appeal.submitted_at = utcnow()
    if letter_archive_key:
        appeal.letter_archive_key = letter_archive_key
    session.add(appeal)
    denial = session.get(Denial, appeal.denial_id)
    if denial is not None:
        denial.status = DenialStatus.APPEALED
        denial.updated_at = utcnow()
        session.add(denial)
    claim = session.get(Claim, appeal.claim_id)
    if claim is not None and can_transition(ClaimStatus(claim.status), ClaimStatus.APPEALED):
        transition(
            session,
            claim,
            ClaimStatus.APPEALED,
            reason="appeal submitted to the payer",
            source=f"appeal {appeal.id}",
        )
    session.add(
        AuditEvent(
            practice_id=appeal.practice_id,
            actor=actor,
            action="appeal.submitted",
            entity_type="appeal",
            entity_id=str(appeal.id),
        )
    )
    session.flush()
    return appeal


def record_appeal_outcome(
    session: Session,
    appeal_id: uuid.UUID,
    *,
    outcome: AppealStatus,
    note: str,
    amount: Decimal | None = None,
    actor: str = "system",
) -> Appeal:
    """Won, lost or partial: recorded on the appeal, and the denial is closed (resolved when
    anything was won; a lost appeal leaves the denial for a write-off decision)."""
    if outcome not in (AppealStatus.WON, AppealStatus.LOST, AppealStatus.PARTIAL):
        raise AppealError(f"{outcome.value} is not an appeal outcome")
    appeal = _appeal(session, appeal_id)
    if appeal.status is not AppealStatus.SUBMITTED:
        raise AppealError(f"appeal {appeal_id} is {AppealStatus(appeal.status).value}")
    appeal.status = outcome
    appeal.outcome = note
    appeal.outcome_amount = amount
    session.add(appeal)
    denial = session.get(Denial, appeal.denial_id)
    if denial is not None:
        denial.status = (
            DenialStatus.ASSIGNED if outcome is AppealStatus.LOST else (DenialStatus.RESOLVED)
        )
        denial.resolution = f"appeal {outcome.value}: {note}"[:2000]
        denial.updated_at = utcnow()
        session.add(denial)
    session.add(
        AuditEvent(
            practice_id=appeal.practice_id,
            actor=actor,
            action=f"appeal.{outcome.value}",
            entity_type="appeal",
            entity_id=str(appeal.id),
        )
    )
    session.flush()
    return appeal


def create_corrected_claim(
    session: Session,
    claim_id: uuid.UUID,
    *,
    reason: str,
    actor: str = "system",
    fixes: Sequence[LineFix] = (),
) -> Claim:
    """The corrected-claim path out of a denial caused by a coding or data error: a frequency 7
    claim replacing `claim_id` (rcm.claims.corrections: same encounter with its corrected lines,
    REF*F8 to the original's payer claim control number, the ledger moved to the new claim),
    and the original's open denials marked corrected. `fixes` (what was changed on the lines)
    go into the audit trail. Flushes; the caller commits."""
    from rcm.claims.corrections import create_replacement_claim

    original = session.get(Claim, claim_id)
    if original is None:
        raise AppealError(f"no claim {claim_id}")
    try:
        corrected = create_replacement_claim(
            session, claim_id, reason=reason, source=f"denial work queue ({actor})"
        )
    except StateError as exc:
        raise AppealError(str(exc)) from exc
    now = utcnow()
    for denial in session.scalars(
        select(Denial).where(
            col(Denial.claim_id) == original.id,
            col(Denial.status).in_([DenialStatus.OPEN, DenialStatus.ASSIGNED]),
        )
    ):
        denial.status = DenialStatus.CORRECTED
        denial.resolution = f"corrected claim {corrected.id}"
        denial.updated_at = now
        session.add(denial)
    session.add(
        AuditEvent(
            practice_id=original.practice_id,
            actor=actor,
            action="claim.corrected",
            entity_type="claim",
            entity_id=str(corrected.id),
            detail={
                "original_claim_id": str(original.id),
                "fixes": [fix.as_dict() for fix in fixes],
            },
        )
    )
    session.flush()
    return corrected


CORRECTIONS_QUEUE = "corrections"


@dataclass(frozen=True, slots=True)
class AutoCorrection:
    """What `auto_correct_claim` did with one denied claim."""

    claim_id: uuid.UUID
    corrected_claim_id: uuid.UUID | None = None
    fixes: tuple[LineFix, ...] = ()
    queued_denial_ids: tuple[uuid.UUID, ...] = ()
    note: str = ""

    @property
    def corrected(self) -> bool:
        return self.corrected_claim_id is not None


def auto_correct_claim(
    session: Session,
    claim_id: uuid.UUID,
    *,
    actor: str = "system",
    queue: str = CORRECTIONS_QUEUE,
) -> AutoCorrection:
    """Correct a DENIED claim without a biller when its denials say what to fix.

    The denials that recommend a corrected claim are planned (rcm.denials.fixes). When every one
    has a fix, the fixes are applied to the encounter's lines and a frequency 7 claim replaces
    the denied one (`create_corrected_claim`). Otherwise nothing is changed and those denials
    not yet with anyone are assigned to `queue`, the billers' corrections queue, with the reason
    in the audit trail. A claim no longer DENIED (appealed, corrected already) is left alone, so
    asking again is harmless. Flushes; the caller commits."""
    claim = session.get(Claim, claim_id)
    if claim is None:
        raise AppealError(f"no claim {claim_id}")
    status = ClaimStatus(claim.status)
    if status is not ClaimStatus.DENIED:
        return AutoCorrection(claim.id, note=f"claim is {status.value}; nothing to correct")
    plan = plan_correction(session, claim.id)
    if not plan.denial_ids:
        return AutoCorrection(claim.id, note="no open denial asks for a corrected claim")
    if not plan.automatic:
        why = {u.denial_id: u.reason for u in plan.unresolved}
        return _queue_for_biller(session, claim, why, plan.describe(), actor=actor, queue=queue)
    if not claim.payer_claim_control_number:
        note = "no payer claim control number to name in REF*F8"
        return _queue_for_biller(session, claim, {}, note, actor=actor, queue=queue)
    apply_plan(session, plan)
    description = plan.describe()
    corrected = create_corrected_claim(
        session,
        claim.id,
        reason=f"corrected per the payer's denial (auto): {description}"[:2000],
        actor=actor,
        fixes=plan.fixes,
    )
    return AutoCorrection(claim.id, corrected.id, plan.fixes, note=description)


def _queue_for_biller(
    session: Session,
    claim: Claim,
    why: Mapping[uuid.UUID, str],
    note: str,
    *,
    actor: str,
    queue: str,
) -> AutoCorrection:
    """The claim's correctable denials no one has yet go to `queue`, each with its reason."""
    queued: list[uuid.UUID] = []
    for denial in correction_denials(session, claim.id):
        if denial.status != DenialStatus.OPEN:
            continue  # already with a biller
        assign_denial(session, denial.id, queue, actor=actor)
        session.add(
            AuditEvent(
                practice_id=denial.practice_id,
                actor=actor[:255],
                action="denial.correction_needed",
                entity_type="denial",
                entity_id=str(denial.id),
                detail={"queue": queue, "reason": why.get(denial.id, note)[:500]},
            )
        )
        queued.append(denial.id)
    session.flush()
    return AutoCorrection(claim.id, queued_denial_ids=tuple(queued), note=note)


__all__ = [
    "ARGUMENTS",
    "ATTACHMENTS",
    "CORRECTIONS_QUEUE",
    "AppealDraft",
    "AppealError",
    "AutoCorrection",
    "auto_correct_claim",
    "create_appeal",
    "create_corrected_claim",
    "record_appeal_outcome",
    "render_letter",
    "submit_appeal",
]
