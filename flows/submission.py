"""submit_claims: charges in the practice's inbox → claims → scrub → batches → pyx12 gate →
archive → SFTP upload. Held claims are reported with the reasons."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from prefect import flow
from prefect.utilities.annotations import quote

from flows._common import RunReport, bridge_logs_to_prefect, publish_table
from flows._context import practice_today, run_source
from flows._outbound import OutboundFile, SendResult, send_files
from rcm.logging import logger
from rcm.models.types import utcnow
from tasks import claims as claim_tasks
from tasks import reports as report_tasks
from tasks.clearinghouse import connect, on_account
from tasks.imports import import_inbox_files
from tasks.practices import PracticeRef, load_practice


@dataclass
class SubmissionSummary:
    practice: str
    run_date: date
    imported_files: int = 0
    claims_created: int = 0
    scrubbed: int = 0
    held: int = 0
    files_uploaded: int = 0
    claims_submitted: int = 0
    files_rejected_by_gate: int = 0
    interchanges: list[uuid.UUID] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def import_inbox(practice: str, kinds: tuple[str, ...], source: str) -> int:
    """Import every CSV waiting in the practice's inbox for `kinds`, in that order."""
    return len(import_inbox_files(practice, list(kinds), source))


@flow(name="submit-claims", log_prints=False)
def submit_claims(
    practice: str,
    run_date: date | None = None,
    interchange_id: uuid.UUID | None = None,
) -> SubmissionSummary:
    """Submit the practice's new claims to its clearinghouse.

    Imports charges waiting in the practice's inbox, creates claims, scrubs them, batches the
    clean ones into 837 files, puts each file through the pyx12 gate, archives it and uploads
    it. Files left unsent by an earlier run are finished first with the same bytes and control
    numbers; nothing already uploaded is sent again.

    Args:
        practice: The practice's slug, e.g. riverside-family-medicine.
        run_date: The business day (default: today in the practice's timezone).
        interchange_id: Only finish this one outbound 837 (a rerun of one file); no new claims
            are created or batched.
    """
    bridge_logs_to_prefect()
    ref = load_practice(practice)
    today = practice_today(ref.timezone, run_date)
    summary = submit_for([ref], today, run_source(), interchange_id=interchange_id)[ref.slug]
    if summary.errors:
        raise RuntimeError(
            f"{len(summary.errors)} file(s) or step(s) could not be sent for {ref.slug}; "
            "rerun to resume: " + "; ".join(summary.errors)
        )
    return summary


def submit_for(
    refs: list[PracticeRef],
    today: date,
    source: str,
    *,
    interchange_id: uuid.UUID | None = None,
) -> dict[str, SubmissionSummary]:
    """submit_claims for several practices at once: the database steps per practice, the pyx12
    gate over all their files, one upload session per clearinghouse account, one summary
    artifact per practice. A practice whose step fails is reported in its summary's errors and
    the others go on."""
    summaries = {ref.slug: SubmissionSummary(practice=ref.slug, run_date=today) for ref in refs}
    held_ids: dict[str, list[uuid.UUID]] = {ref.slug: [] for ref in refs}
    reports = {ref.slug: RunReport(f"Claim submission {today}", ref.slug) for ref in refs}
    live = _connected(refs, summaries)
    outbound: list[OutboundFile] = []
    # Two passes: every practice's claims and batches first, each practice's files handed to
    # the pyx12 pool as they are assigned (start_gate), so the pool validates while the next
    # practice is prepared; then the verdicts recorded practice by practice.
    prepared: list[tuple[PracticeRef, list[claim_tasks.BuiltFile]]] = []
    for ref in live:
        summary = summaries[ref.slug]
        try:
            pending = _prepare(
                ref,
                today,
                source,
                summary,
                held_ids[ref.slug],
                interchange_id,
                start_gate=len(live) > 1,
            )
        except Exception as exc:
            if len(refs) == 1:
                raise
            summary.errors.append(f"preparing claims: {exc}")
            logger.error("claim preparation failed for {}: {}", ref.slug, exc)
            continue
        if interchange_id is not None and all(p.interchange_id != interchange_id for p in pending):
            reports[ref.slug].note(
                f"interchange {interchange_id} is not waiting to be sent "
                "(already uploaded, rejected, or not this practice's): nothing to do"
            )
        if interchange_id is not None:
            pending = [p for p in pending if p.interchange_id == interchange_id]
        prepared.append((ref, pending))
    for ref, pending in prepared:
        summary = summaries[ref.slug]
        try:
            built = _build(pending, source)
        except Exception as exc:
            if len(refs) == 1:
                raise
            summary.errors.append(f"building files: {exc}")
            logger.error("building 837s failed for {}: {}", ref.slug, exc)
            continue
        for item in built:
            if not item.passed:
                summary.files_rejected_by_gate += 1
                held_ids[ref.slug] += item.held_claim_ids
                reports[ref.slug].note(
                    f"interchange {item.interchange_id} failed the pyx12 gate "
                    f"({item.errors} error(s)); its claims are held"
                )
                continue
            assert item.file_name and item.sha256
            outbound.append(
                OutboundFile(
                    practice=ref.slug,
                    clearinghouse=ref.clearinghouse,
                    interchange_id=item.interchange_id,
                    kind=item.kind,
                    file_name=item.file_name,
                    sha256=item.sha256,
                    created_at=item.created_at,
                    data=item.data,
                    archive_key=item.archive_key,
                )
            )
    try:
        sent = send_files(outbound, source=source)
    except Exception as exc:
        sent = SendResult()
        for item in outbound:
            sent.failures.setdefault(item.practice, []).append(
                f"{item.kind} interchange {item.interchange_id}: {exc}"
            )
    for item in sent.sent:
        summary = summaries[item.practice]
        summary.files_uploaded += 1
        summary.claims_submitted += item.claims
        summary.interchanges.append(item.interchange_id)
    for slug, failures in sent.failures.items():
        summaries[slug].errors += failures
    by_payer = report_tasks.submitted_by_payer(
        quote([(ref.id, summaries[ref.slug].interchanges) for ref in refs])
    )
    held = report_tasks.held_claims(quote([(ref.id, held_ids[ref.slug]) for ref in refs]))
    for ref in refs:
        summaries[ref.slug].held = len(set(held_ids[ref.slug]))
        _publish(
            ref,
            today,
            summaries[ref.slug],
            reports[ref.slug],
            by_payer.get(ref.id, []),
            held.get(ref.id, []),
        )
    return summaries


def _connected(
    refs: list[PracticeRef], summaries: dict[str, SubmissionSummary]
) -> list[PracticeRef]:
    """The practices whose clearinghouse account answers: a permanent fault (changed host key,
    refused login) stops that account's practices before anything changes."""
    if len(refs) == 1:
        # One practice: its run fails with the connector's own error.
        on_account(connect, refs[0].clearinghouse)(refs[0].clearinghouse)
        return refs
    failed: dict[str, str] = {}
    for clearinghouse in sorted({ref.clearinghouse for ref in refs}):
        try:
            on_account(connect, clearinghouse)(clearinghouse)
        except Exception as exc:
            failed[clearinghouse] = f"{type(exc).__name__}: {exc}"
    for ref in refs:
        if ref.clearinghouse in failed:
            summaries[ref.slug].errors.append(
                f"clearinghouse {ref.clearinghouse}: {failed[ref.clearinghouse]}"
            )
    return [ref for ref in refs if ref.clearinghouse not in failed]


def _prepare(
    ref: PracticeRef,
    today: date,
    source: str,
    summary: SubmissionSummary,
    held_ids: list[uuid.UUID],
    interchange_id: uuid.UUID | None,
    start_gate: bool = False,
) -> list[claim_tasks.BuiltFile]:
    """Inbox → claims → scrub → batches; returns the interchanges waiting to be sent.

    With `start_gate`, the assigned files are also built and handed to the pyx12 pool before
    returning, without waiting for the verdicts: the pool validates them while the caller
    prepares the next practice, and `_build` records them (a file is archived and uploaded
    only after that). A start that fails changes nothing: `_build` builds and gates the file."""
    if interchange_id is None:
        summary.imported_files = import_inbox(ref.slug, ("patients", "charges"), source)
        created = claim_tasks.create_claims(ref.id, today, source)
        summary.claims_created = created.created
        scrubbed = claim_tasks.scrub_claims(ref.id, today, source)
        summary.scrubbed = scrubbed.scrubbed
        held_ids += scrubbed.held
        claim_tasks.assign_batches(
            ref.id, ref.clearinghouse, ref.clearinghouse_account, utcnow(), source
        )
    pending = claim_tasks.pending_interchanges(ref.id)
    assigned = [p.interchange_id for p in pending if p.status == "assigned"]
    if start_gate and interchange_id is None and assigned:
        try:
            claim_tasks.build_and_gate_many(quote(assigned), source, record=False)
        except Exception as exc:
            logger.warning("starting the pyx12 gate failed for {}: {}", ref.slug, exc)
    return pending


def _build(pending: list[claim_tasks.BuiltFile], source: str) -> list[claim_tasks.BuiltFile]:
    """Assigned files built and gated (pyx12 on every core; the verdicts of files whose gate
    `_prepare` started are collected, not validated again), built ones rebuilt byte for byte,
    archived ones sent from the archive."""
    assigned = [p.interchange_id for p in pending if p.status == "assigned"]
    built: dict[uuid.UUID, claim_tasks.BuiltFile] = {}
    if assigned:
        built.update(
            {b.interchange_id: b for b in claim_tasks.build_and_gate_many(quote(assigned), source)}
        )
    for waiting in pending:
        if waiting.status == "built":
            built[waiting.interchange_id] = claim_tasks.rebuild(waiting.interchange_id)
        elif waiting.status != "assigned":
            built[waiting.interchange_id] = waiting  # archived: the archived bytes are sent
    return [built[p.interchange_id] for p in pending]


def _publish(
    ref: PracticeRef,
    today: date,
    summary: SubmissionSummary,
    report: RunReport,
    by_payer: list[dict[str, Any]],
    held: list[dict[str, Any]],
) -> None:
    report.counts.update(
        {
            "inbox files imported": summary.imported_files,
            "claims created": summary.claims_created,
            "claims scrubbed": summary.scrubbed,
            "claims held": summary.held,
            "files uploaded": summary.files_uploaded,
            "claims submitted": summary.claims_submitted,
            "files rejected by the pyx12 gate": summary.files_rejected_by_gate,
        }
    )
    for error in summary.errors:
        report.note(f"failed: {error}")
    publish_table(
        f"{ref.slug}-claims-submitted",
        by_payer,
        f"Claims submitted per payer, {today}",
        ["payer", "claims", "billed"],
    )
    publish_table(
        f"{ref.slug}-held-claims",
        held,
        f"Claims held by this run and why, {today}",
        ["claim_id", "patient_control_number", "payer", "rule", "field", "message"],
    )
    report.publish(f"{ref.slug}-submission")
    logger.info(
        "submission done: {} file(s), {} claim(s) submitted, {} held",
        summary.files_uploaded,
        summary.claims_submitted,
        summary.held,
        practice=ref.slug,
    )


__all__ = ["SubmissionSummary", "import_inbox", "submit_claims", "submit_for"]
