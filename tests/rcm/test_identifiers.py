from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rcm.identifiers import (
    icd10_shape_problem,
    is_valid_npi,
    is_valid_state,
    is_valid_taxonomy,
    is_valid_tin,
    is_valid_zip,
    make_npi,
    modifier_problem,
    normalize_icd10,
    normalize_revenue_code,
    normalize_type_of_bill,
    npi_check_digit,
    npi_problem,
    phone_problem,
    place_of_service_problem,
    procedure_code_problem,
    revenue_code_problem,
    tin_problem,
    type_of_bill_problem,
    zip_problem,
)

# CMS's published example NPI and NPIs from the example practices.
VALID_NPIS = ["1234567893", "1260181593", "2030824629", "1830166132", "2579754328"]


@pytest.mark.parametrize("npi", VALID_NPIS)
def test_valid_npis(npi: str) -> None:
    assert is_valid_npi(npi)
    assert npi_problem(npi) is None


@pytest.mark.parametrize(
    ("npi", "message"),
    [
        ("1234567890", "check digit invalid"),
        ("1234567894", "check digit invalid"),
        ("123456789", "must be 10 digits"),
        ("12345678931", "must be 10 digits"),
        ("12345678a3", "must be 10 digits"),
        ("3234567893", "must start with 1 or 2"),
        ("", "required"),
        (None, "required"),
    ],
)
def test_invalid_npis(npi: str | None, message: str) -> None:
    assert not is_valid_npi(npi)
    assert npi_problem(npi) == message


def test_check_digit_uses_the_80840_prefix() -> None:
    # Plain Luhn over the 9 digits would give 1234567897 for this base; the prefix makes it 3.
    assert npi_check_digit("123456789") == "3"
    assert make_npi("123456789") == "1234567893"
    with pytest.raises(ValueError):
        npi_check_digit("12345678")


npi_bases = st.text(alphabet="0123456789", min_size=8, max_size=8).flatmap(
    lambda rest: st.sampled_from(["1", "2"]).map(lambda first: first + rest)
)


@given(npi_bases)
def test_generated_base_with_computed_check_digit_validates(base: str) -> None:
    assert is_valid_npi(make_npi(base))


@given(npi_bases, st.integers(min_value=0, max_value=9), st.integers(min_value=1, max_value=9))
def test_changing_one_digit_always_fails(base: str, position: int, delta: int) -> None:
    npi = make_npi(base)
    digit = (int(npi[position]) + delta) % 10
    mutated = npi[:position] + str(digit) + npi[position + 1 :]
    assert not is_valid_npi(mutated)


@pytest.mark.parametrize(
    "tin", ["23-4567812", "234567812", "74-2813406", "010000001", "99-1234567"]
)
def test_valid_eins(tin: str) -> None:
    assert is_valid_tin(tin)


@pytest.mark.parametrize(
    ("tin", "message"),
    [
        ("000000000", "must not be all zeros"),
        ("12345678", "must be 9 digits"),
        ("1234567890", "must be 9 digits"),
        ("12-34567AB", "must be 9 digits"),
        ("", "required"),
    ]
    + [
        (f"{prefix}-1234567", "EIN prefix is not one the IRS assigns")
        for prefix in [
            "00",
            "07",
            "08",
            "09",
            "17",
            "18",
            "19",
            "28",
            "29",
            "49",
            "69",
            "70",
            "78",
            "79",
            "89",
        ]
    ],
)
def test_invalid_eins(tin: str, message: str) -> None:
    assert not is_valid_tin(tin)
    assert tin_problem(tin) == message


def test_ssn_as_tin() -> None:
    assert is_valid_tin("123-45-6789", kind="ssn")
    assert not is_valid_tin("666-45-6789", kind="ssn")
    assert not is_valid_tin("900-45-6789", kind="ssn")
    assert not is_valid_tin("123-00-6789", kind="ssn")
    assert not is_valid_tin("123-45-0000", kind="ssn")
    # 17 is not an EIN prefix but is a fine SSN area.
    assert is_valid_tin("171-45-6789", kind="ssn")
    with pytest.raises(ValueError):
        tin_problem("123456789", kind="itin")


@pytest.mark.parametrize("code", ["207Q00000X", "261QA1903X", "363LF0000X", "282N00000X"])
def test_valid_taxonomy(code: str) -> None:
    assert is_valid_taxonomy(code)


@pytest.mark.parametrize("code", ["207Q0000X", "207q00000X", "207Q00000Y", "A07Q00000X", "", None])
def test_invalid_taxonomy(code: str | None) -> None:
    assert not is_valid_taxonomy(code)


@pytest.mark.parametrize("state", ["PA", "TX", "DC", "PR", "GU", "VI", "AE"])
def test_valid_states(state: str) -> None:
    assert is_valid_state(state)


@pytest.mark.parametrize("state", ["pa", "XX", "P", "Penn", "", None])
def test_invalid_states(state: str | None) -> None:
    assert not is_valid_state(state)


@pytest.mark.parametrize("zip_code", ["19130", "191301107", "19130-1107", "02134"])
def test_valid_zips(zip_code: str) -> None:
    assert is_valid_zip(zip_code)


@pytest.mark.parametrize("zip_code", ["1913", "191301", "19130-11", "ABCDE", "00000", ""])
def test_invalid_zips(zip_code: str) -> None:
    assert not is_valid_zip(zip_code)
    assert zip_problem(zip_code) is not None


def test_phone() -> None:
    assert phone_problem("215-555-0142") is None
    assert phone_problem("+1 (215) 555-0142") is None
    assert phone_problem("555-0142") is not None
    assert phone_problem("015-555-0142") is not None


@pytest.mark.parametrize("code", ["99213", "0001F", "0042T", "0001U", "J3301", "G0439"])
def test_valid_procedure_codes(code: str) -> None:
    assert procedure_code_problem(code) is None


@pytest.mark.parametrize("code", ["9921", "992134", "W1234", "J330", "99213A", ""])
def test_invalid_procedure_codes(code: str) -> None:
    assert procedure_code_problem(code) is not None


def test_modifiers() -> None:
    assert modifier_problem("25") is None
    assert modifier_problem("RT") is None
    assert modifier_problem("X") is not None
    assert modifier_problem("RTT") is not None


def test_icd10() -> None:
    assert normalize_icd10(" e11.9 ") == "E119"
    for code in ["E11.9", "E119", "Z00.129", "S83.511A", "U07.1", "I10"]:
        assert icd10_shape_problem(code) is None
    for code in ["E1", "11.9", "E11.99999", "EE11"]:
        assert icd10_shape_problem(code) is not None


def test_institutional_codes() -> None:
    assert revenue_code_problem("0420") is None
    assert normalize_revenue_code("420") == "0420"
    assert revenue_code_problem("42") is not None
    assert revenue_code_problem("") is not None
    assert type_of_bill_problem("0131") is None
    assert type_of_bill_problem("131") is None
    assert normalize_type_of_bill("0131") == "131"
    assert type_of_bill_problem("13") is not None
    assert type_of_bill_problem("031") is not None
    assert place_of_service_problem("11") is None
    assert place_of_service_problem("00") is not None
    assert place_of_service_problem("1") is not None
