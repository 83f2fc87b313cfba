"""loguru, configured once: readable locally, JSON with RCM_LOG_JSON=1, never PHI.

Log records carry IDs (practice slug, claim UUID, interchange ID, flow run ID), never names,
birth dates, member IDs, addresses or diagnosis codes. The redaction filter is the safety net for
the day a developer forgets: it masks values of known PHI fields passed in `extra` (however they
are nested) and anything in the message or `extra` shaped like a birth date or a member ID.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

from loguru import logger

REDACTED = "[REDACTED]"

PHI_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "middle_name",
        "name",
        "patient_name",
        "subscriber_name",
        "full_name",
        "birth_date",
        "date_of_birth",
        "dob",
        "member_id",
        "subscriber_id",
        "member_number",
        "ssn",
        "address",
        "address1",
        "address2",
        "street",
        "city",
        "zip",
        "zip_code",
        "postal_code",
        "phone",
        "email",
        "diagnosis",
        "diagnoses",
        "diagnosis_code",
        "diagnosis_codes",
        "icd10",
        "icd_codes",
        "mrn",
        "medical_record_number",
        "patient_account",
        "account_number",
        "password",
        "secret",
        "private_key",
        "passphrase",
        "token",
    }
)

# Birth dates (1987-04-12, 04/12/1987, 19870412 following a DOB qualifier) and member IDs
# (letters and digits mixed, 6-20 characters, e.g. W123456789, 1EG4TE5MK73) are masked
# wherever they appear in a message or an `extra` value.
_DATE_PATTERNS = [
    re.compile(r"\b(19|20)\d{2}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b"),
    re.compile(r"\b(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])/(19|20)\d{2}\b"),
    re.compile(r"(?i)\b(dob|birth\w*)\W{0,3}(19|20)\d{6}\b"),
    # X12 date qualifiers (DMG*D8*19610714, DTP*472*RD8*20260101-20260105).
    re.compile(r"\bR?D8\W(19|20)\d{6}(-(19|20)\d{6})?\b"),
]
_MEMBER_ID_PATTERN = re.compile(
    r"\b(?=[A-Z0-9]{6,20}\b)(?=[A-Z0-9]*[A-Z])(?=[A-Z0-9]*\d)(?![A-Z]{1,3}\d{1,2}\b)[A-Z0-9]+\b"
)
# UUIDs, sha256 digests, X12 implementation guide versions and other IDs that are ours, not the
# patient's, stay readable.
_SAFE_TOKEN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-|^[0-9a-f]{32,64}$|^00[45]0\d{2}x\d{3}(a\d)?$")


# SSH host-key fingerprints are ours to show: an operator compares them with the clearinghouse's.
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}=?")


def redact_text(text: str) -> str:
    """Mask birth dates and member-ID-shaped tokens in free text."""
    fingerprints = _FINGERPRINT.findall(text)
    if fingerprints:
        text = _FINGERPRINT.sub("\x00", text)
    for pattern in _DATE_PATTERNS:
        text = pattern.sub(REDACTED, text)

    def _mask(match: re.Match[str]) -> str:
        token = match.group(0)
        return token if _SAFE_TOKEN.match(token.lower()) else REDACTED

    text = _MEMBER_ID_PATTERN.sub(_mask, text)
    for fingerprint in fingerprints:
        text = text.replace("\x00", fingerprint, 1)
    return text


def redact_value(key: str | None, value: Any) -> Any:
    """Redact one `extra` value: PHI-named keys wholly, nested containers recursively."""
    if key is not None and key.lower() in PHI_FIELDS:
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact_value(None, v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    if hasattr(value, "model_dump"):
        return redact_value(key, value.model_dump())
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return redact_value(key, {k: v for k, v in vars(value).items() if not k.startswith("_")})
    return value


class RedactedError(Exception):
    """Stands in for a logged exception whose message may carry PHI."""


def redaction_filter(record: Any) -> bool:
    """loguru filter: rewrites the record in place so no sink ever sees PHI."""
    record["message"] = redact_text(record["message"])
    extra = record["extra"]
    for key in list(extra):
        extra[key] = redact_value(key, extra[key])
    exc = record["exception"]
    if exc is not None and exc.value is not None and not isinstance(exc.value, RedactedError):
        safe = RedactedError(f"{type(exc.value).__name__}: {redact_text(str(exc.value))}")
        record["exception"] = type(exc)(RedactedError, safe, exc.traceback)
    return True


_configured = False


def _write_to_process_stderr(message: str) -> None:
    # The process's own stderr, not the sys.stderr of the moment: a harness that swaps
    # sys.stderr (a CLI test runner) closes its stream afterwards, and a sink bound to it would
    # fail on every later record; and logs never mix into a command's captured output.
    (sys.__stderr__ or sys.stderr).write(message)


def configure_logging(
    *, json: bool | None = None, level: str | None = None, force: bool = False
) -> None:
    """Install the one stderr sink with the redaction filter. Safe to call more than once."""
    global _configured
    if _configured and not force:
        return
    from rcm.settings import get_settings

    settings = get_settings()
    json = settings.log_json if json is None else json
    level = level or settings.log_level
    logger.remove()
    fmt = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level:<7} | {name}:{line} | {message} | {extra}"
    # diagnose=False: loguru's diagnose mode prints local variables, which would be PHI.
    logger.add(
        _write_to_process_stderr,
        level=level,
        serialize=json,
        filter=redaction_filter,
        format=fmt,
        diagnose=False,
        backtrace=False,
    )
    _configured = True


def add_sink(sink: Any, **kwargs: Any) -> int:
    """Add another sink that also goes through the redaction filter (Prefect run logs, files)."""
    kwargs.setdefault("filter", redaction_filter)
    kwargs.setdefault("diagnose", False)
    kwargs.setdefault("backtrace", False)
    return logger.add(sink, **kwargs)


__all__ = ["REDACTED", "add_sink", "configure_logging", "logger", "redact_text", "redact_value"]

# Installed at import so that no code path, however early, logs through loguru's unfiltered
# default handler.
configure_logging()
