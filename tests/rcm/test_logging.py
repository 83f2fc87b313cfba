"""The redaction filter keeps synthetic PHI out of every sink, however a developer logs it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from io import StringIO

import pytest
from loguru import logger

from rcm.logging import REDACTED, add_sink, configure_logging, redact_text, redact_value

NAME = "Quillon"
MEMBER_ID = "W4829175530"
MEDICARE_MBI = "1EG4TE5MK73"
BIRTH_DATE = "1961-07-14"


@pytest.fixture
def captured() -> StringIO:
    buffer = StringIO()
    sink_id = add_sink(buffer, format="{message} | {extra} | {exception}", level="DEBUG")
    yield buffer
    logger.remove(sink_id)


@pytest.fixture
def captured_json() -> StringIO:
    buffer = StringIO()
    sink_id = add_sink(buffer, serialize=True, level="DEBUG")
    yield buffer
    logger.remove(sink_id)


def assert_clean(text: str) -> None:
    for secret in (NAME, MEMBER_ID, MEDICARE_MBI, BIRTH_DATE, "07/14/1961", "19610714", "E11.9"):
        assert secret not in text, f"{secret!r} leaked: {text}"


def test_phi_named_fields_in_bind_are_masked(captured: StringIO) -> None:
    logger.bind(last_name=NAME, member_id=MEMBER_ID, birth_date=date(1961, 7, 14)).info(
        "eligibility"
    )
    out = captured.getvalue()
    assert_clean(out)
    assert REDACTED in out


def test_keyword_arguments_are_masked(captured: StringIO) -> None:
    logger.info("checked coverage", first_name=NAME, dob=BIRTH_DATE, diagnosis="E11.9")
    assert_clean(captured.getvalue())


def test_member_id_and_birth_date_shapes_in_the_message_are_masked(captured: StringIO) -> None:
    logger.info(f"member {MEMBER_ID} born {BIRTH_DATE}")
    logger.info("mbi {} dob {}", MEDICARE_MBI, "07/14/1961")
    logger.info("DMG*D8*19610714")
    assert_clean(captured.getvalue())


def test_nested_structures_and_objects_are_masked(captured: StringIO) -> None:
    @dataclass
    class PatientRow:
        first_name: str
        member_id: str
        account_number: str

    logger.bind(
        payload={"subscriber": {"last_name": NAME, "ids": [MEMBER_ID]}},
        patient=PatientRow(NAME, MEMBER_ID, "ACCT-77"),
    ).warning("import row")
    assert_clean(captured.getvalue())


def test_exception_messages_are_masked(captured_json: StringIO) -> None:
    try:
        raise ValueError(f"no coverage for member {MEMBER_ID} born {BIRTH_DATE}")
    except ValueError:
        logger.exception("eligibility failed")
    out = captured_json.getvalue()
    assert_clean(out)
    assert "ValueError" in out


def test_ids_we_log_on_purpose_stay_readable(captured: StringIO) -> None:
    claim_id = "3f2b9c1e-8d4a-4c1b-9a7e-2f6d5b4c3a21"
    sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    logger.bind(practice="family-med", claim_id=claim_id).info(
        "built 005010X222A1 interchange {} for claims", sha
    )
    out = captured.getvalue()
    for kept in (claim_id, sha, "005010X222A1", "family-med"):
        assert kept in out


def test_json_output_is_redacted_too(captured_json: StringIO) -> None:
    logger.bind(member_id=MEMBER_ID).info("posting")
    record = json.loads(captured_json.getvalue().splitlines()[-1])
    assert record["record"]["extra"]["member_id"] == REDACTED


def test_configure_logging_is_idempotent() -> None:
    configure_logging(force=True)
    configure_logging()


def test_redact_helpers_directly() -> None:
    assert redact_text(f"id {MEMBER_ID}") == f"id {REDACTED}"
    assert redact_value("address1", "12 Elm St") == REDACTED
    assert redact_value("count", 3) == 3


def test_host_key_fingerprints_stay_readable(captured: StringIO) -> None:
    fingerprint = "SHA256:mFWw97lCc2xzIZvboQ7rcejumyw0WlupuRV5uWuN0BY"
    logger.info("host key {} for member {}", fingerprint, MEMBER_ID)
    out = captured.getvalue()
    assert fingerprint in out
    assert MEMBER_ID not in out
