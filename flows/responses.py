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
from prefect.utilities.annotations import quote

from connectors.archive import sha256_hex
from flows._common import RunReport, bridge_logs_to_prefect, gather_artifacts, publish_table
from flows._context import practice_today
from rcm.logging import logger
from rcm.models.types import utcnow
from tasks import reports as report_tasks
from tasks.archive import archive_many, inbound_key
from tasks.clearinghouse import (
    DownloadedFile,
    fetch_new_files,
    move_to_processed,
    on_account,
)
from tasks.practices import PracticeRef, list_active_practices, load_practice, load_practices
from tasks.responses import (
    HANDLERS,
    InboundJob,
    PracticeFiles,
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


@flow(name="collect-responses-all")
def collect_responses_all(
    run_date: date | None = None, kinds: list[str] | None = None
) -> dict[str, CollectSummary]:
    """collect_responses for every active practice at once: each clearinghouse account is
    listed and read once, each file processed for the practice it belongs to.

    Args:
        run_date: The business day used for posting dates (default: each practice's today).
        kinds: Only these kinds of file (999, 277CA, 835, 271); default all.
    """
    bridge_logs_to_prefect()
    refs = load_practices(list_active_practices())
    by_day: dict[date, list[PracticeRef]] = {}
    for ref in refs:
        by_day.setdefault(practice_today(ref.timezone, run_date), []).append(ref)
    summaries: dict[str, CollectSummary] = {}
    with gather_artifacts([ref.slug for ref in refs], "Clearinghouse responses"):
        for day, group in sorted(by_day.items()):
            summaries.update(collect_for(group, day, kinds=kinds))
    return summaries


def collect(
    ref: PracticeRef,
    today: date,
    *,
    kinds: list[str] | None = None,
    file_name: str | None = None,
) -> CollectSummary:
    """The body of collect_responses, also run inside check_eligibility for the 271s."""
    return collect_for([ref], today, kinds=kinds, file_name=file_name)[ref.slug]


def collect_for(
    refs: list[PracticeRef],
    today: date,
    *,
    kinds: list[str] | None = None,
    file_name: str | None = None,
) -> dict[str, CollectSummary]:
    """collect_responses for several practices: each clearinghouse account is listed and read
    once, its files are sent to the practice they belong to and processed there, and each
    practice gets its own summary artifacts. Files of practices outside `refs` are left on
    the server for their own runs."""
    started = utcnow()
    summaries = {ref.slug: CollectSummary(practice=ref.slug) for ref in refs}
    reports = {ref.slug: RunReport(f"Clearinghouse responses {today}", ref.slug) for ref in refs}
    by_account: dict[str, list[PracticeRef]] = {}
    for ref in refs:
        by_account.setdefault(ref.clearinghouse, []).append(ref)
    for clearinghouse, group in by_account.items():
        downloaded = _download_new(clearinghouse, kinds, file_name, group, summaries, reports)
        _handle_all(clearinghouse, group, downloaded, today, summaries)
        done = sorted(
            {
                f["path"]
                for ref in group
                for f in summaries[ref.slug].files
                if f["status"] != "another practice"
            }
        )
        if done:
            on_account(move_to_processed, clearinghouse)(clearinghouse, quote(done))
    acknowledgments = kinds is None or bool({"999", "277CA"} & set(kinds))
    answered = [
        ref.id
        for ref in refs
        if acknowledgments and (summaries[ref.slug].processed or summaries[ref.slug].quarantined)
    ]
    rejections = report_tasks.front_end_rejections(quote(answered), started) if answered else {}
    paid = [
        (ref.id, summaries[ref.slug].interchanges["835"])
        for ref in refs
        if summaries[ref.slug].interchanges.get("835")
    ]
    eras = report_tasks.era_totals(quote(paid)) if paid else {}
    for ref in refs:
        _publish(
            ref,
            today,
            summaries[ref.slug],
            reports[ref.slug],
            rejections.get(ref.id, []),
            eras.get(ref.id, []),
        )
    return summaries


def _download_new(
    clearinghouse: str,
    kinds: list[str] | None,
    file_name: str | None,
    group: list[PracticeRef],
    summaries: dict[str, CollectSummary],
    reports: dict[str, RunReport],
) -> list[DownloadedFile]:
    known = report_tasks.known_inbound_names(clearinghouse)
    handled = {kind for kind in HANDLERS if handler_available(kind)}
    fetched = on_account(fetch_new_files, clearinghouse)(
        clearinghouse, quote(known), handled, kinds, file_name
    )
    for ref in group:
        summaries[ref.slug].listed = fetched.listed
        summaries[ref.slug].not_handled = fetched.not_handled
        summaries[ref.slug].downloaded = len(fetched.files)
        if fetched.not_handled:
            reports[ref.slug].skip(
                "process files",
                f"{fetched.not_handled} file(s) of kinds with no processing step in this build "
                "left on the server",
            )
    return sorted(fetched.files, key=lambda d: (KIND_ORDER.get(d.kind or "", 9), d.name))


def _handle_all(
    clearinghouse: str,
    group: list[PracticeRef],
    downloaded: list[DownloadedFile],
    today: date,
    summaries: dict[str, CollectSummary],
) -> None:
    if not downloaded:
        return
    digests = [sha256_hex(d.data) for d in downloaded]
    seen = seen_before(clearinghouse, quote(digests))
    fresh = [d for d, sha in zip(downloaded, digests, strict=True) if sha not in seen]
    # Files no practice of the group processes are recorded once, on the group's first practice.
    first = summaries[group[0].slug]
    for item, sha in zip(downloaded, digests, strict=True):
        if sha in seen:
            _record(first, item, "duplicate")
            first.duplicates += 1
    owners = (
        identify_practices(quote([(d.kind or "unknown", d.data, d.name) for d in fresh]))
        if fresh
        else []
    )
    received = utcnow()
    mine: dict[str, list[DownloadedFile]] = {ref.slug: [] for ref in group}
    refused: dict[str, list[tuple[DownloadedFile, str]]] = {ref.slug: [] for ref in group}
    slug_of = {ref.id: ref.slug for ref in group}
    for item, owner in zip(fresh, owners, strict=True):
        if isinstance(owner, uuid.UUID) and owner in slug_of:
            mine[slug_of[owner]].append(item)
        elif isinstance(owner, uuid.UUID):
            first.other_practices += 1
            _record(first, item, "another practice")
        else:
            reason = (
                owner if isinstance(owner, str) else "it names no claim, payee or inquiry of ours"
            )
            refused[group[0].slug].append((item, reason))
    batches = [(ref, mine[ref.slug]) for ref in group if mine[ref.slug]]
    if batches:
        _process(clearinghouse, batches, received, today, summaries, refused)
    for ref in group:
        if refused[ref.slug]:
            _quarantine(ref, refused[ref.slug], received, summaries[ref.slug])


def _process(
    clearinghouse: str,
    batches: list[tuple[PracticeRef, list[DownloadedFile]]],
    received: datetime,
    today: date,
    summaries: dict[str, CollectSummary],
    refused: dict[str, list[tuple[DownloadedFile, str]]],
) -> None:
    """Every practice's files of the account archived (one task), then processed (one task),
    each file in its own transaction."""
    keys = iter(
        archive_many(
            quote(
                [
                    (
                        inbound_key(
                            ref.slug,
                            d.kind or "unknown",
                            received,
                            d.data,
                            d.name,
                            quarantine=False,
                        ),
                        d.data,
                        {"kind": d.kind or "unknown", "clearinghouse": clearinghouse},
                    )
                    for ref, files in batches
                    for d in files
                ]
            )
        )
    )
    jobs = [
        PracticeFiles(
            ref.id, [InboundJob(d.kind or "unknown", d.name, d.data, next(keys)) for d in files]
        )
        for ref, files in batches
    ]
    outcomes = process_files(quote(jobs), clearinghouse=clearinghouse, today=today)
    for (ref, files), results in zip(batches, outcomes, strict=True):
        summary = summaries[ref.slug]
        for item, outcome in zip(files, results, strict=True):
            if outcome.status == "refused":
                refused[ref.slug].append((item, outcome.error or "refused"))
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


def _quarantine(
    ref: PracticeRef,
    refused: list[tuple[DownloadedFile, str]],
    received: datetime,
    summary: CollectSummary,
) -> None:
    keys = archive_many(
        quote(
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


__all__ = [
    "CollectSummary",
    "collect",
    "collect_for",
    "collect_responses",
    "collect_responses_all",
]
