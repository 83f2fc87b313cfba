"""submit_claims: charges in the practice's inbox → claims → scrub → batches → pyx12 gate →
archive → SFTP upload. Held claims are reported with the reasons."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from prefect import flow

from flows._common import RunReport, bridge_logs_to_prefect, publish_table
from flows._context import practice_today, run_source
from flows._outbound import send_built_file
from rcm.logging import logger
from rcm.models.types import utcnow
from tasks import claims as claim_tasks
from tasks import reports as report_tasks
from tasks.clearinghouse import connect, on_account
from tasks.imports import import_file, list_inbox, mark_imported
from tasks.practices import load_practice


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


def import_inbox(practice: str, kinds: tuple[str, ...], source: str) -> int:
    """Import every CSV waiting in the practice's inbox for `kinds`, in that order."""
    count = 0
    for kind in kinds:
        for path in list_inbox(practice, kind):
            import_file(practice, kind, path, source)
            mark_imported(path)
            count += 1
    return count


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
    source = run_source()
    summary = SubmissionSummary(practice=ref.slug, run_date=today)
    report = RunReport(f"Claim submission {today}", ref.slug)
    held_ids: list[uuid.UUID] = []

    on_account(connect, ref.clearinghouse)(ref.clearinghouse)
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
    if interchange_id is not None:
        if all(p.interchange_id != interchange_id for p in pending):
            report.note(
                f"interchange {interchange_id} is not waiting to be sent "
                "(already uploaded, rejected, or not this practice's): nothing to do"
            )
        pending = [p for p in pending if p.interchange_id == interchange_id]

    failures: list[str] = []
    for waiting in pending:
        pending_id = waiting.interchange_id
        if waiting.status == "assigned":
            built = claim_tasks.build_and_gate(pending_id, source)
        elif waiting.status == "built":
            built = claim_tasks.rebuild(pending_id)
        else:
            built = waiting  # archived: the archived bytes are sent
        if not built.passed:
            summary.files_rejected_by_gate += 1
            held_ids += built.held_claim_ids
            report.note(
                f"interchange {pending_id} failed the pyx12 gate "
                f"({built.errors} error(s)); its claims are held"
            )
            continue
        assert built.file_name and built.sha256
        try:
            sent = send_built_file(
                practice=ref.slug,
                clearinghouse=ref.clearinghouse,
                interchange_id=pending_id,
                kind=built.kind,
                file_name=built.file_name,
                sha256=built.sha256,
                created_at=built.created_at,
                data=built.data,
                existing_archive_key=built.archive_key,
                record_archived=claim_tasks.record_archived,
                record_uploaded=claim_tasks.record_uploaded,
                source=source,
            )
        except Exception as exc:
            failures.append(f"interchange {pending_id}: {exc}")
            logger.error("sending interchange {} failed: {}", pending_id, exc)
            continue
        summary.files_uploaded += 1
        summary.claims_submitted += sent.claims
        summary.interchanges.append(pending_id)

    by_payer = report_tasks.submitted_by_payer(ref.id, summary.interchanges)
    held = report_tasks.held_claims(ref.id, held_ids)

    summary.held = len(set(held_ids))
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
    if failures:
        raise RuntimeError(
            f"{len(failures)} file(s) could not be sent for {ref.slug}; rerun to resume: "
            + "; ".join(failures)
        )
    return summary


__all__ = ["SubmissionSummary", "import_inbox", "submit_claims"]
