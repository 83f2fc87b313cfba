"""The practice's inbox: CSV exports dropped by its EHR into
``{RCM_VAR_DIR}/inbox/{practice}/{patients|appointments|charges}/*.csv``.

A file is imported in one transaction (rcm.imports: every row checked first, all or nothing,
idempotent) and then moved to ``imported/`` beside it. A crash between the two only means the
next run imports it again, which changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks._runtime import DATABASE_TASK_OPTIONS, transaction

INBOX_KINDS = ("patients", "appointments", "charges")


def inbox_folder(practice: str, kind: str) -> Path:
    from rcm.settings import get_settings

    return Path(get_settings().var_dir) / "inbox" / practice / kind


@dataclass(frozen=True)
class ImportSummary:
    kind: str
    file: str
    rows: int
    created: int
    updated: int
    unchanged: int


@task(name="list-inbox", cache_policy=NO_CACHE)
def list_inbox(practice: str, kind: str) -> list[str]:
    """CSV files waiting in the practice's inbox folder for `kind`, oldest name first."""
    folder = inbox_folder(practice, kind)
    if not folder.is_dir():
        return []
    return [str(p) for p in sorted(folder.glob("*.csv")) if p.is_file()]


@task(name="import-inbox-file", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def import_file(practice: str, kind: str, path: str, actor: str) -> ImportSummary:
    """Import one CSV (patients, appointments or charges) for the practice."""
    from rcm.imports import IMPORTERS

    data = Path(path).read_bytes()
    with transaction() as session:
        result = IMPORTERS[kind](session, practice, data, source_name=Path(path).name, actor=actor)
    return ImportSummary(
        kind=kind,
        file=Path(path).name,
        rows=result.rows,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
    )


@task(name="import-inbox", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def import_inbox_files(practice: str, kinds: list[str], actor: str) -> list[ImportSummary]:
    """Every CSV waiting in the practice's inbox for `kinds`, in that order, each imported in
    its own transaction and then moved to ``imported/``. A retried batch imports again only
    what it had not moved, and importing a file again changes nothing."""
    done: list[ImportSummary] = []
    for kind in kinds:
        for path in list_inbox.fn(practice, kind):
            done.append(import_file.fn(practice, kind, path, actor))
            mark_imported.fn(path)
    return done


@task(name="mark-inbox-file-imported", cache_policy=NO_CACHE)
def mark_imported(path: str) -> str:
    """Move an imported file into ``imported/`` beside it; returns the new path."""
    source = Path(path)
    target_dir = source.parent / "imported"
    target_dir.mkdir(exist_ok=True)
    target = target_dir / source.name
    source.replace(target)
    return str(target)


__all__ = [
    "INBOX_KINDS",
    "ImportSummary",
    "import_file",
    "import_inbox_files",
    "inbox_folder",
    "list_inbox",
    "mark_imported",
]
