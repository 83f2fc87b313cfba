"""Shared helpers for reading CMS files: dates in their several spellings, text decoding."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

_CODE = re.compile(r"^[0-9A-Z]{4}[0-9A-Z]$")


def is_procedure_code(value: str) -> bool:
    return bool(_CODE.match(value))


def parse_cms_date(value: str) -> date | None:
    """YYYYMMDD, Julian YYYYDDD, MM/DD/YYYY or YYYY-MM-DD; None for blank and '*' (no date)."""
    value = value.strip().strip('"')
    if not value or value == "*":
        return None
    if value.isdigit():
        if len(value) == 8:
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        if len(value) == 7:
            return date(int(value[:4]), 1, 1) + timedelta(days=int(value[4:]) - 1)
    for fmt in ("%m/%d/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {value!r}")


def read_text(path: Path) -> str:
    """CMS files are Windows-1252 more often than UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def file_key(path: Path) -> tuple[str, int, int]:
    """Cache key that changes when the file does."""
    stat = path.stat()
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
