"""Shape and check-digit validators for the identifiers on a claim.

Each `*_problem` function returns None for a valid value or a short reason that names no value,
so callers can put it next to a file and field name without leaking anything. The `is_valid_*`
functions are the boolean forms.

An NPI's digits cannot tell an individual (type 1) from an organization (type 2); which one a
field requires comes from the entity the onboarding file declares, not from the number.
"""

from __future__ import annotations

import re

# The NPI check digit is the Luhn digit of the 9-digit base prefixed with 80840 (the ISO 7812
# issuer prefix for US health identifiers); the constant 24 is the Luhn sum of that prefix when
# doubled from the right as the standard describes.
NPI_PREFIX = "80840"
_NPI_PREFIX_SUM = 24

# IRS campus prefixes that are not assigned to EINs.
INVALID_EIN_PREFIXES = frozenset(
    {"00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70", "78", "79", "89"}
)

US_STATES = frozenset(
    {
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
        "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
        "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
        "VT", "VA", "WA", "WV", "WI", "WY",
    }
)  # fmt: skip
US_TERRITORIES = frozenset({"AS", "GU", "MP", "PR", "VI", "UM", "FM", "MH", "PW"})
# Armed Forces "states" appear on real addresses of service members and their families.
MILITARY_STATES = frozenset({"AA", "AE", "AP"})
STATE_CODES = US_STATES | US_TERRITORIES | MILITARY_STATES

_TAXONOMY = re.compile(r"^\d{3}[0-9A-Z]{6}X$")
_ZIP = re.compile(r"^\d{5}(\d{4})?$")
_CPT = re.compile(r"^\d{4}[0-9FTU]$")  # Category I (5 digits), II (…F), III (…T), PLA (…U)
_HCPCS = re.compile(r"^[A-V]\d{4}$")
_MODIFIER = re.compile(r"^[0-9A-Z]{2}$")
_ICD10CM = re.compile(r"^[A-Z]\d[0-9A-Z]([0-9A-Z]{1,4})?$")
_POS = re.compile(r"^\d{2}$")
_REVENUE_CODE = re.compile(r"^\d{4}$")
_TYPE_OF_BILL = re.compile(r"^\d{3}$")


def _digits(value: str) -> str:
    return value.replace("-", "").replace(" ", "")


# NPI ------------------------------------------------------------------------------------------


def npi_check_digit(base: str) -> str:
    """The check digit for a 9-digit NPI base (Luhn over '80840' + base)."""
    if len(base) != 9 or not base.isdigit():
        raise ValueError("an NPI base is 9 digits")
    total = _NPI_PREFIX_SUM
    # Double every second digit counting from the rightmost digit of the base (the check digit
    # will sit to its right).
    for position, char in enumerate(reversed(base)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def make_npi(base: str) -> str:
    """A full 10-digit NPI from its 9-digit base (used for synthetic test and example data)."""
    return base + npi_check_digit(base)


def npi_problem(npi: str | None) -> str | None:
    if npi is None or npi == "":
        return "required"
    if len(npi) != 10 or not npi.isdigit():
        return "must be 10 digits"
    if npi[0] not in "12":
        return "must start with 1 or 2"
    if npi_check_digit(npi[:9]) != npi[9]:
        return "check digit invalid"
    return None


def is_valid_npi(npi: str | None) -> bool:
    return npi_problem(npi) is None


# TIN ------------------------------------------------------------------------------------------


def normalize_tin(tin: str) -> str:
    """Digits only: '12-3456789' and '123456789' are the same EIN."""
    return _digits(tin)


def tin_problem(tin: str | None, *, kind: str = "ein") -> str | None:
    """An EIN (kind='ein') or SSN used as a TIN (kind='ssn'); hyphens are allowed."""
    if tin is None or tin == "":
        return "required"
    digits = normalize_tin(tin)
    if len(digits) != 9 or not digits.isdigit():
        return "must be 9 digits"
    if digits == "000000000":
        return "must not be all zeros"
    if kind == "ein":
        if digits[:2] in INVALID_EIN_PREFIXES:
            return "EIN prefix is not one the IRS assigns"
    elif kind == "ssn":
        if digits[:3] in {"000", "666"} or digits[0] == "9":
            return "SSN area number is not one SSA assigns"
        if digits[3:5] == "00" or digits[5:] == "0000":
            return "SSN group or serial is zero"
    else:
        raise ValueError(f"unknown TIN kind {kind!r}")
    return None


def is_valid_tin(tin: str | None, *, kind: str = "ein") -> bool:
    return tin_problem(tin, kind=kind) is None


# Taxonomy, state, ZIP, phone -----------------------------------------------------------------


def taxonomy_problem(code: str | None) -> str | None:
    if code is None or code == "":
        return "required"
    if not _TAXONOMY.match(code):
        return "not a provider taxonomy code (3 digits, 6 letters or digits, then X)"
    return None


def is_valid_taxonomy(code: str | None) -> bool:
    return taxonomy_problem(code) is None


def state_problem(state: str | None) -> str | None:
    if state is None or state == "":
        return "required"
    if state not in STATE_CODES:
        return "not a US state or territory code"
    return None


def is_valid_state(state: str | None) -> bool:
    return state_problem(state) is None


def normalize_zip(zip_code: str) -> str:
    """Digits only: '60601-1234' becomes '606011234'."""
    return _digits(zip_code)


def zip_problem(zip_code: str | None) -> str | None:
    if zip_code is None or zip_code == "":
        return "required"
    if not _ZIP.match(normalize_zip(zip_code)):
        return "must be 5 or 9 digits"
    if normalize_zip(zip_code)[:5] == "00000":
        return "must not be 00000"
    return None


def is_valid_zip(zip_code: str | None) -> bool:
    return zip_problem(zip_code) is None


def normalize_phone(phone: str) -> str:
    return "".join(c for c in phone if c.isdigit())


def phone_problem(phone: str | None) -> str | None:
    if phone is None or phone == "":
        return "required"
    digits = normalize_phone(phone)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01":
        return "must be a 10-digit US phone number"
    return None


# Codes on a service line ----------------------------------------------------------------------


def procedure_code_problem(code: str | None) -> str | None:
    if code is None or code == "":
        return "required"
    if not (_CPT.match(code) or _HCPCS.match(code)):
        return "not a CPT or HCPCS Level II code"
    return None


def modifier_problem(modifier: str) -> str | None:
    if not _MODIFIER.match(modifier):
        return "a modifier is 2 letters or digits"
    return None


def normalize_icd10(code: str) -> str:
    """ICD-10-CM as stored and sent in X12: upper case, no dot."""
    return code.strip().upper().replace(".", "")


def icd10_shape_problem(code: str) -> str | None:
    """Shape only: a letter, a digit, then 1 to 5 letters or digits (the dot is optional)."""
    if not _ICD10CM.match(normalize_icd10(code)):
        return "not shaped like an ICD-10-CM code"
    return None


def place_of_service_problem(pos: str | None) -> str | None:
    if pos is None or pos == "":
        return "required"
    if not _POS.match(pos) or pos == "00":
        return "a place of service is 2 digits"
    return None


def normalize_revenue_code(code: str) -> str:
    return code.zfill(4) if code.isdigit() and len(code) == 3 else code


def revenue_code_problem(code: str | None) -> str | None:
    if code is None or code == "":
        return "required for institutional claims"
    if not _REVENUE_CODE.match(normalize_revenue_code(code)):
        return "a revenue code is 4 digits"
    return None


def normalize_type_of_bill(code: str) -> str:
    """Three digits (facility type, classification, frequency) as CLM05 carries them."""
    return code[1:] if len(code) == 4 and code.startswith("0") else code


def type_of_bill_problem(code: str | None) -> str | None:
    if code is None or code == "":
        return "required for institutional claims"
    normalized = normalize_type_of_bill(code)
    if not _TYPE_OF_BILL.match(normalized) or normalized[0] == "0":
        return "a type of bill is 3 digits (or 4 with a leading 0)"
    return None


__all__ = [
    "INVALID_EIN_PREFIXES",
    "NPI_PREFIX",
    "STATE_CODES",
    "US_STATES",
    "US_TERRITORIES",
    "icd10_shape_problem",
    "is_valid_npi",
    "is_valid_state",
    "is_valid_taxonomy",
    "is_valid_tin",
    "is_valid_zip",
    "make_npi",
    "modifier_problem",
    "normalize_icd10",
    "normalize_phone",
    "normalize_revenue_code",
    "normalize_tin",
    "normalize_type_of_bill",
    "normalize_zip",
    "npi_check_digit",
    "npi_problem",
    "phone_problem",
    "place_of_service_problem",
    "procedure_code_problem",
    "revenue_code_problem",
    "state_problem",
    "taxonomy_problem",
    "tin_problem",
    "type_of_bill_problem",
    "zip_problem",
]
