"""collect_responses: the clearinghouse's answers (999, 277CA, 835, 271) → archive → one
inbound Interchange per (clearinghouse, sha256) → claim status, ledger, eligibility.

A file seen before is skipped whichever run sees it. A file that cannot be processed is
quarantined (archived under quarantine/, Interchange status quarantined, reason recorded) and
reported; it is never retried. When several practices share one clearinghouse login, each
file is processed by the run of the practice it belongs to and left alone by the others.
Files are handled in batches (one task downloads, archives or processes many files), each
file still in its own database transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from prefect import flow

from connectors.archive import sha256_hex
from flows._common import RunReport, bridge_logs_to_prefect, publish_table
from flows._context import practice_today
from rcm.logging import logger
from rcm.models.types import utcnow
from tasks import reports as report_tasks
from tasks.archive import archive_many, inbound_key
from tasks.clearinghouse import (
    DownloadedFile,
    download_files,
    list_inbound_files,
    move_to_processed,
    on_account,
)
from tasks.practices import PracticeRef, load_practice
from tasks.responses import (
    InboundJob,
    handler_available,
    identify_practices,
    process_files,
    quarantine_file,
    seen_before,
)

# Acknowledgments before remittances: a claim must be ACCEPTED before an 835 can pay it.
KIND_ORDER = {"999": 0, "277CA": 1, "271": 2, "835": 3}
QUARANTINE_KINDS = ("999", "277CA", "835", "271", "277")


@dataclass
class CollectSummary:
    practice: str
    listed: int = 0
    downloaded: int = 0
    processed: int = 0
    duplicates: int = 0
    quarantined: int = 0
    other_practices: int = 0
    not_handled: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    interchanges: dict[str, list[uuid.UUID]] = field(default_factory=dict)


@flow(name="collect-responses")
def collect_responses(
    practice: str,
    run_date: date | None = None,
    kinds: list[str] | None = None,
    file_name: str | None = None,
) -> CollectSummary:
    """Collect and process what the clearinghouse sent back.

    Lists the clearinghouse folders, downloads files not seen before, archives each under
    {practice}/inbound/{kind}/…, and processes 999s and 277CAs (claim accepted or rejected),
    271s (coverage) and 835s (posting to the ledger), in that order. Unreadable or unpostable
    files are quarantined and reported.

    Args:
        practice: The practice's slug.
        run_date: The business day used for posting dates (default: today in the practice's
            timezone).
        kinds: Only these kinds of file (999, 277CA, 835, 271); default all.
        file_name: Only this one file (a rerun of one answer); a file processed before is
            still skipped.
    """
    bridge_logs_to_prefect()
    ref = load_practice(practice)
    today = practice_today(ref.timezone, run_date)
    return collect(ref, today, kinds=kinds, file_name=file_name)


def collect(
    ref: PracticeRef,
    today: date,
    *,
    kinds: list[str] | None = None,
    file_name: str | None = None,
) -> CollectSummary:
    """The body of collect_responses, also run inside check_eligibility for the 271s."""
    started = utcnow()
    summary = CollectSummary(practice=ref.slug)
    report = RunReport(f"Clearinghouse responses {today}", ref.slug)
    downloaded = _download_new(ref, kinds, file_name, summary, report)
    _handle_all(ref, downloaded, today, summary)
    done = [f["path"] for f in summary.files if f["status"] != "another practice"]
    if done:
        on_account(move_to_processed, ref.clearinghouse)(ref.clearinghouse, done)
    rejections = report_tasks.front_end_rejections(ref.id, started)
    eras = report_tasks.era_totals(ref.id, summary.interchanges.get("835", []))
    _publish(ref, today, summary, report, rejections, eras)
    return summary


def _download_new(
    ref: PracticeRef,
    kinds: list[str] | None,
    file_name: str | None,
    summary: CollectSummary,
    report: RunReport,
) -> list[DownloadedFile]:
    listed = on_account(list_inbound_files, ref.clearinghouse)(ref.clearinghouse)
    summary.listed = len(listed)
    known = report_tasks.known_inbound_names(ref.clearinghouse)
    wanted = []
    for item in listed:
        if item.name in known:
            continue
        if kinds is not None and item.kind not in kinds:
            continue
        if file_name is not None and item.name != file_name:
            continue
        if not handler_available(item.kind):
            summary.not_handled += 1
            continue
        wanted.append(item)
    if summary.not_handled:
        report.skip(
            "process files",
            f"{summary.not_handled} file(s) of kinds with no processing step in this build "
            "left on the server",
        )
    if not wanted:
        return []
    downloaded = on_account(download_files, ref.clearinghouse)(ref.clearinghouse, wanted)
    summary.downloaded = len(downloaded)
    return sorted(downloaded, key=lambda d: (KIND_ORDER.get(d.kind or "", 9), d.name))


def _handle_all(
    ref: PracticeRef, downloaded: list[DownloadedFile], today: date, summary: CollectSummary
) -> None:
    if not downloaded:
        return
    seen = seen_before(ref.clearinghouse, [sha256_hex(d.data) for d in downloaded])
    fresh = [d for d in downloaded if sha256_hex(d.data) not in seen]
    for item in downloaded:
        if sha256_hex(item.data) in seen:
            _record(summary, item, "duplicate")
            summary.duplicates += 1
    owners = (
        identify_practices([(d.kind or "unknown", d.data, d.name) for d in fresh]) if fresh else []
    )
    received = utcnow()
    mine: list[DownloadedFile] = []
    refused: list[tuple[DownloadedFile, str]] = []
    for item, owner in zip(fresh, owners, strict=True):
        if isinstance(owner, uuid.UUID) and owner != ref.id:
            summary.other_practices += 1
            _record(summary, item, "another practice")
        elif isinstance(owner, uuid.UUID):
            mine.append(item)
        else:
            reason = (
                owner if isinstance(owner, str) else "it names no claim, payee or inquiry of ours"
            )
            refused.append((item, reason))
    if mine:
        keys = archive_many(
            [
                (
                    inbound_key(
                        ref.slug, d.kind or "unknown", received, d.data, d.name, quarantine=False
                    ),
                    d.data,
                    {"kind": d.kind or "unknown", "clearinghouse": ref.clearinghouse},
                )
                for d in mine
            ]
        )
        outcomes = process_files(
            [
                InboundJob(d.kind or "unknown", d.name, d.data, k)
                for d, k in zip(mine, keys, strict=True)
            ],
            clearinghouse=ref.clearinghouse,
            practice_id=ref.id,
            today=today,
        )
        for item, outcome in zip(mine, outcomes, strict=True):
            if outcome.status == "refused":
                refused.append((item, outcome.error or "refused"))
            elif outcome.status == "duplicate":
                summary.duplicates += 1
                _record(summary, item, "duplicate")
            else:
                summary.processed += 1
                _record(summary, item, "processed")
                if outcome.interchange_id is not None:
                    summary.interchanges.setdefault(item.kind or "", []).append(
                        outcome.interchange_id
                    )
    if refused:
        _quarantine(ref, refused, received, summary)


def _quarantine(
    ref: PracticeRef,
    refused: list[tuple[DownloadedFile, str]],
    received: datetime,
    summary: CollectSummary,
) -> None:
    keys = archive_many(
        [
            (
                inbound_key(
                    ref.slug, d.kind or "unknown", received, d.data, d.name, quarantine=True
                ),
                d.data,
                {"kind": d.kind or "unknown", "clearinghouse": ref.clearinghouse},
            )
            for d, _ in refused
        ]
    )
    for (item, reason), key in zip(refused, keys, strict=True):
        if (item.kind or "") in QUARANTINE_KINDS:
            quarantine_file(
                item.data,
                clearinghouse=ref.clearinghouse,
                practice_id=ref.id,
                kind=item.kind or "",
                error=reason,
                file_name=item.name,
                archive_key=key,
            )
        summary.quarantined += 1
        _record(summary, item, "quarantined")
        logger.warning("file {} quarantined: {}", item.name, reason, practice=ref.slug)


def _record(summary: CollectSummary, item: DownloadedFile, status: str) -> None:
    summary.files.append(
        {"file": item.name, "kind": item.kind, "status": status, "path": item.path}
    )


def _publish(
    ref: PracticeRef,
    today: date,
    summary: CollectSummary,
    report: RunReport,
    rejections: list[dict[str, Any]],
    eras: list[dict[str, Any]],
) -> None:
    report.counts.update(
        {
            "files listed": summary.listed,
            "files downloaded": summary.downloaded,
            "processed": summary.processed,
            "seen before (skipped)": summary.duplicates,
            "quarantined": summary.quarantined,
            "another practice's (left for its run)": summary.other_practices,
            "999/277CA rejections": len(rejections),
        }
    )
    publish_table(
        f"{ref.slug}-inbound-files",
        summary.files,
        f"Clearinghouse files handled, {today}",
        ["file", "kind", "status"],
    )
    publish_table(
        f"{ref.slug}-front-end-rejections",
        rejections,
        f"999 / 277CA rejections, {today}",
        ["claim_id", "patient_control_number", "source", "code", "message"],
    )
    publish_table(
        f"{ref.slug}-era-totals",
        eras,
        f"ERA totals, {today}",
        [
            "payer",
            "trace_number",
            "payment_date",
            "claims",
            "paid",
            "contractual",
            "patient_responsibility",
            "denied",
        ],
    )
    report.publish(f"{ref.slug}-responses")
    logger.info(
        "responses done: {} processed, {} skipped, {} quarantined",
        summary.processed,
        summary.duplicates,
        summary.quarantined,
        practice=ref.slug,
    )


__all__ = ["CollectSummary", "collect", "collect_responses"]
