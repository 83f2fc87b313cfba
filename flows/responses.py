"""collect_responses: the clearinghouse's answers (999, 277CA, 835, 271) → archive → one
inbound Interchange per (clearinghouse, sha256) → claim status, ledger, eligibility.

A file seen before is skipped whichever run sees it. A file that cannot be processed is
quarantined (archived under quarantine/, Interchange status quarantined, reason recorded) and
reported; it is never retried. When several practices share one clearinghouse login, each
file is processed by the run of the practice it belongs to and left alone by the others.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from prefect import flow, tags

from connectors.archive import sha256_hex
from flows._common import RunReport, bridge_logs_to_prefect, publish_table
from flows._context import practice_today
from rcm.logging import logger
from rcm.models.types import utcnow
from tasks import reports as report_tasks
from tasks.archive import archive_bytes, inbound_key
from tasks.clearinghouse import (
    DownloadedFile,
    connect,
    download_files,
    list_inbound_files,
    move_to_processed,
    on_account,
)
from tasks.practices import PracticeRef, load_practice
from tasks.responses import (
    handler_available,
    identify_practice,
    process_file,
    quarantine_file,
    seen_before,
)

# Acknowledgments before remittances: a claim must be ACCEPTED before an 835 can pay it.
KIND_ORDER = {"999": 0, "277CA": 1, "271": 2, "835": 3}


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
    started = utcnow()
    summary = CollectSummary(practice=ref.slug)
    report = RunReport(f"Clearinghouse responses {today}", ref.slug)

    with tags(f"practice:{ref.slug}"):
        on_account(connect, ref.clearinghouse)(ref.clearinghouse)
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
        downloaded = sorted(
            on_account(download_files, ref.clearinghouse)(ref.clearinghouse, wanted),
            key=lambda d: (KIND_ORDER.get(d.kind or "", 9), d.name),
        )
        summary.downloaded = len(downloaded)
        seen = seen_before(ref.clearinghouse, [sha256_hex(d.data) for d in downloaded])
        done_paths: list[str] = []
        for item in downloaded:
            status = _handle(ref, item, seen, today, summary)
            summary.files.append({"file": item.name, "kind": item.kind, "status": status})
            if status in ("processed", "duplicate", "quarantined"):
                done_paths.append(item.path)
        on_account(move_to_processed, ref.clearinghouse)(ref.clearinghouse, done_paths)

        rejections = report_tasks.front_end_rejections(ref.id, started)
        eras = report_tasks.era_totals(ref.id, summary.interchanges.get("835", []))

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
    return summary


def _handle(
    ref: PracticeRef,
    item: DownloadedFile,
    seen: set[str],
    today: date,
    summary: CollectSummary,
) -> str:
    kind = item.kind or "unknown"
    digest = sha256_hex(item.data)
    if digest in seen:
        summary.duplicates += 1
        return "duplicate"
    owner = identify_practice(kind, item.data, item.name)
    if isinstance(owner, uuid.UUID) and owner != ref.id:
        summary.other_practices += 1
        return "another practice"
    received = utcnow()
    if not isinstance(owner, uuid.UUID):
        reason = owner if isinstance(owner, str) else "it names no claim, payee or inquiry of ours"
        return _quarantine(ref, item, kind, received, reason, summary)
    key = archive_bytes(
        inbound_key(ref.slug, kind, received, item.data, item.name, quarantine=False),
        item.data,
        {"kind": kind, "clearinghouse": ref.clearinghouse},
    )
    outcome = process_file(
        kind,
        item.data,
        clearinghouse=ref.clearinghouse,
        file_name=item.name,
        practice_id=ref.id,
        archive_key=key,
        today=today,
    )
    if outcome.status == "duplicate":
        summary.duplicates += 1
        return "duplicate"
    if outcome.status == "refused":
        return _quarantine(ref, item, kind, received, outcome.error or "refused", summary)
    summary.processed += 1
    if outcome.interchange_id is not None:
        summary.interchanges.setdefault(kind, []).append(outcome.interchange_id)
    return "processed"


def _quarantine(
    ref: PracticeRef,
    item: DownloadedFile,
    kind: str,
    received: Any,
    reason: str,
    summary: CollectSummary,
) -> str:
    key = archive_bytes(
        inbound_key(ref.slug, kind, received, item.data, item.name, quarantine=True),
        item.data,
        {"kind": kind, "clearinghouse": ref.clearinghouse},
    )
    if kind in ("999", "277CA", "835", "271", "277"):
        quarantine_file(
            item.data,
            clearinghouse=ref.clearinghouse,
            practice_id=ref.id,
            kind=kind,
            error=reason,
            file_name=item.name,
            archive_key=key,
        )
    summary.quarantined += 1
    logger.warning("file {} quarantined: {}", item.name, reason, practice=ref.slug)
    return "quarantined"


__all__ = ["CollectSummary", "collect_responses"]
