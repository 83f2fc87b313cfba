"""What every flow shares: loguru into the Prefect run log (through the PHI redaction filter),
artifact helpers, and the report of steps skipped or failed."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from rcm.logging import add_sink, logger

_bridge_lock = threading.Lock()
_bridge_sink: int | None = None

_LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "SUCCESS": 25, "WARNING": 30, "ERROR": 40}


def _forward(message: Any) -> None:
    record = message.record
    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return
    try:
        run_logger = get_run_logger()
    except MissingContextError:
        return
    extra = {k: v for k, v in record["extra"].items() if v is not None}
    text = record["message"] + (f" {extra}" if extra else "")
    run_logger.log(_LEVELS.get(record["level"].name, 20), text)


def bridge_logs_to_prefect() -> None:
    """Forward loguru records (already redacted) into the current Prefect run's log. Installed
    once per process; records logged outside a flow or task run are not forwarded."""
    global _bridge_sink
    with _bridge_lock:
        # rcm.logging.configure_logging(force=True) removes every sink; add ours back then.
        handlers = getattr(getattr(logger, "_core", None), "handlers", None)
        if _bridge_sink is None or (handlers is not None and _bridge_sink not in handlers):
            _bridge_sink = add_sink(_forward, level="INFO", format="{message}")


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _artifact_key(text: str) -> str:
    """Artifact keys: lowercase letters, digits and dashes."""
    cleaned = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:100]


# A firm-wide table shows this many rows; the per-practice flows show a practice's all.
FIRM_TABLE_ROWS = 2000


class FirmArtifacts:
    """The artifacts of a run over many practices, gathered while it runs and published at its
    end as one table per kind with a practice column, instead of one artifact per practice
    (each artifact is a call to the Prefect API)."""

    def __init__(self, practices: Sequence[str]) -> None:
        # Longest slug first, so that "a-b" is not taken for the practice "a".
        self._practices = sorted(practices, key=len, reverse=True)
        self.tables: dict[str, tuple[str, list[str], list[dict[str, Any]]]] = {}

    def _split(self, key: str) -> tuple[str, str]:
        for slug in self._practices:
            if key.startswith(slug + "-"):
                return slug, key[len(slug) + 1 :]
        return "", key

    def add_rows(
        self, key: str, rows: Sequence[Mapping[str, Any]], description: str, columns: Sequence[str]
    ) -> None:
        practice, kind = self._split(key)
        _, known, table = self.tables.setdefault(kind, (description, ["practice"], []))
        for column in columns:
            if column not in known:
                known.append(column)
        table += [{"practice": practice, **{c: _cell(row.get(c)) for c in columns}} for row in rows]

    def publish(self, title: str) -> None:
        for kind, (description, columns, rows) in sorted(self.tables.items()):
            table = [{c: row.get(c, "") for c in columns} for row in rows[:FIRM_TABLE_ROWS]]
            if len(rows) > FIRM_TABLE_ROWS:
                more = len(rows) - FIRM_TABLE_ROWS
                table.append(dict.fromkeys(columns, "") | {columns[0]: f"({more} more rows)"})
            if not table:
                table = [dict.fromkeys(columns, "") | {columns[0]: "(none)"}]
            create_table_artifact(
                table=table,
                key=_artifact_key(f"firm-{kind}"),
                description=f"{title}: {description}",
            )


_firm_artifacts: ContextVar[FirmArtifacts | None] = ContextVar("firm_artifacts", default=None)


@contextmanager
def gather_artifacts(practices: Sequence[str], title: str) -> Iterator[FirmArtifacts]:
    """Inside this block publish_table and RunReport.publish add to one firm-wide table per
    kind, published when the block ends."""
    gathered = FirmArtifacts(practices)
    token = _firm_artifacts.set(gathered)
    try:
        yield gathered
    finally:
        _firm_artifacts.reset(token)
        gathered.publish(title)


def publish_table(
    key: str, rows: Sequence[Mapping[str, Any]], description: str, columns: Sequence[str]
) -> None:
    """A table artifact (IDs, codes, counts and amounts only). An empty table still says so."""
    gathering = _firm_artifacts.get()
    if gathering is not None:
        gathering.add_rows(key, rows, description, columns)
        return
    table = [{c: _cell(row.get(c)) for c in columns} for row in rows]
    if not table:
        table = [dict.fromkeys(columns, "") | {columns[0]: "(none)"}]
    create_table_artifact(table=table, key=_artifact_key(key), description=description)


def publish_markdown(key: str, markdown: str, description: str) -> None:
    gathering = _firm_artifacts.get()
    if gathering is not None:
        gathering.add_rows(key, [{"text": markdown}], description, ["text"])
        return
    create_markdown_artifact(markdown=markdown, key=_artifact_key(key), description=description)


@dataclass
class RunReport:
    """Counts and notes of one flow run, published as its summary artifact."""

    title: str
    practice: str
    counts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def skip(self, step: str, why: str) -> None:
        line = f"step '{step}' not run: {why}"
        self.notes.append(line)
        logger.warning(line, practice=self.practice)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def markdown(self) -> str:
        lines = [f"# {self.title}", "", f"Practice: `{self.practice}`", ""]
        if self.counts:
            lines += ["| what | count |", "|---|---|"]
            lines += [f"| {k} | {_cell(v)} |" for k, v in self.counts.items()]
            lines.append("")
        if self.notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines)

    def publish(self, key: str) -> None:
        gathering = _firm_artifacts.get()
        if gathering is not None:
            row = {"what": self.title, **self.counts, "notes": "; ".join(self.notes)}
            gathering.add_rows(key, [row], self.title, list(row))
            return
        publish_markdown(key, self.markdown(), self.title)


def kind_value(kind: Any) -> str:
    return str(getattr(kind, "value", kind))


__all__ = [
    "FirmArtifacts",
    "RunReport",
    "bridge_logs_to_prefect",
    "gather_artifacts",
    "kind_value",
    "publish_markdown",
    "publish_table",
]
