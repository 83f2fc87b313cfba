"""check_eligibility: 270 inquiries for the coming appointments → archive → SFTP → the 271
answers collected and applied (coverage updated, problems raised as work items)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from prefect import flow

from flows._common import RunReport, bridge_logs_to_prefect, publish_table
from flows._context import practice_today, run_source
from flows._outbound import OutboundFile, send_files
from flows.responses import collect_for
from flows.submission import import_inbox
from rcm.logging import logger
from rcm.models.types import utcnow
from tasks import eligibility as eligibility_tasks
from tasks._runtime import domain_function
from tasks.clearinghouse import connect, on_account
from tasks.practices import PracticeRef, load_practice


@dataclass
class EligibilitySummary:
    practice: str
    run_date: date
    available: bool = True
    inquiries: int = 0
    files_uploaded: int = 0
    answers_processed: int = 0
    interchanges: list[uuid.UUID] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@flow(name="check-eligibility")
def check_eligibility(
    practice: str,
    run_date: date | None = None,
    days_ahead: int | None = None,
    interchange_id: uuid.UUID | None = None,
) -> EligibilitySummary:
    """Check coverage for the practice's coming appointments.

    Imports patients and appointments waiting in the practice's inbox, asks every payer about
    the appointments of the next days in one 270 (appointments asked about before are not
    asked again), archives and uploads it, then collects and applies the 271 answers that have
    arrived. Answers that arrive later are applied by collect_responses.

    Args:
        practice: The practice's slug.
        run_date: The business day; appointments from the next day on are checked (default:
            today in the practice's timezone).
        days_ahead: How many days of appointments (default: the practice's
            eligibility_days_ahead policy).
        interchange_id: Only finish sending this one outbound 270 (a rerun of one file).
    """
    bridge_logs_to_prefect()
    ref = load_practice(practice)
    today = practice_today(ref.timezone, run_date)
    summary = check_eligibility_for(
        [ref], today, run_source(), days_ahead=days_ahead, interchange_id=interchange_id
    )[ref.slug]
    if summary.errors:
        raise RuntimeError(f"eligibility for {ref.slug}: " + "; ".join(summary.errors))
    return summary


def check_eligibility_for(
    refs: list[PracticeRef],
    today: date,
    source: str,
    *,
    days_ahead: int | None = None,
    interchange_id: uuid.UUID | None = None,
) -> dict[str, EligibilitySummary]:
    """check_eligibility for several practices: 270s built per practice, sent in one upload
    session per clearinghouse account, the 271s collected once per account. A practice whose
    step fails is reported in its summary's errors and the others go on."""
    summaries = {ref.slug: EligibilitySummary(practice=ref.slug, run_date=today) for ref in refs}
    reports = {ref.slug: RunReport(f"Eligibility {today}", ref.slug) for ref in refs}
    if domain_function("rcm.eligibility", "build_270") is None:
        for ref in refs:
            summaries[ref.slug].available = False
            reports[ref.slug].skip("check eligibility", "rcm.eligibility is not available")
            reports[ref.slug].publish(f"{ref.slug}-eligibility")
        return summaries
    for clearinghouse in sorted({ref.clearinghouse for ref in refs}):
        on_account(connect, clearinghouse)(clearinghouse)
    outbound: list[OutboundFile] = []
    for ref in refs:
        summary = summaries[ref.slug]
        try:
            outbound += _build(
                ref, today, source, summary, reports[ref.slug], days_ahead, interchange_id
            )
        except Exception as exc:
            if len(refs) == 1:
                raise
            summary.errors.append(f"building the 270: {exc}")
            logger.error("eligibility inquiry failed for {}: {}", ref.slug, exc)
    sent = send_files(outbound, source=source)
    for item in sent.sent:
        summaries[item.practice].files_uploaded += 1
        summaries[item.practice].interchanges.append(item.interchange_id)
    for slug, failures in sent.failures.items():
        summaries[slug].errors += failures
    answers = collect_for(refs, today, kinds=["271"])
    for ref in refs:
        summary = summaries[ref.slug]
        summary.answers_processed = answers[ref.slug].processed
        report = reports[ref.slug]
        report.counts.update(
            {
                "inquiries created": summary.inquiries,
                "270 files uploaded": summary.files_uploaded,
                "271 files applied": summary.answers_processed,
            }
        )
        for error in summary.errors:
            report.note(f"failed: {error}")
        publish_table(
            f"{ref.slug}-eligibility-files",
            [{"interchange_id": i} for i in summary.interchanges],
            f"270 files sent, {today}",
            ["interchange_id"],
        )
        report.publish(f"{ref.slug}-eligibility")
        logger.info(
            "eligibility done: {} inquiries, {} file(s)",
            summary.inquiries,
            summary.files_uploaded,
            practice=ref.slug,
        )
    return summaries


def _build(
    ref: PracticeRef,
    today: date,
    source: str,
    summary: EligibilitySummary,
    report: RunReport,
    days_ahead: int | None,
    interchange_id: uuid.UUID | None,
) -> list[OutboundFile]:
    """Inbox → one 270 for the coming appointments; returns the 270s waiting to be sent."""
    ahead = days_ahead if days_ahead is not None else ref.eligibility_days_ahead
    if interchange_id is None:
        import_inbox(ref.slug, ("patients", "appointments"), source)
        built = eligibility_tasks.build_270(
            ref.id,
            ref.slug,
            ref.clearinghouse,
            ref.clearinghouse_account,
            today + timedelta(days=1),
            today + timedelta(days=max(1, ahead)),
            utcnow(),
            source,
        )
        summary.inquiries = built.checks_created
        unsent = built.unsent
    else:
        unsent = [
            u
            for u in eligibility_tasks.unsent_270s(ref.id, ref.slug)
            if u.interchange_id == interchange_id
        ]
        if not unsent:
            report.note(f"270 {interchange_id} is not waiting to be sent: nothing to do")
    files = []
    for item in unsent:
        assert item.sha256 is not None
        files.append(
            OutboundFile(
                practice=ref.slug,
                clearinghouse=ref.clearinghouse,
                interchange_id=item.interchange_id,
                kind="270",
                file_name=item.file_name,
                sha256=item.sha256,
                created_at=item.created_at,
                data=item.data,
                archive_key=item.archive_key,
            )
        )
    return files


__all__ = ["EligibilitySummary", "check_eligibility", "check_eligibility_for"]
