"""Procedure modifiers: the CPT (Level I) modifiers, and the groups scrub rules reason about.

Level II (HCPCS) modifiers are checked against the CMS HCPCS file when one is configured; the
CPT modifiers are the AMA's and are listed here.
"""

from __future__ import annotations

CPT_MODIFIERS: frozenset[str] = frozenset(
    {
        "22", "23", "24", "25", "26", "27", "32", "33", "47", "50", "51", "52", "53", "54",
        "55", "56", "57", "58", "59", "62", "63", "66", "73", "74", "76", "77", "78", "79",
        "80", "81", "82", "90", "91", "92", "93", "95", "96", "97", "99",
        "P1", "P2", "P3", "P4", "P5", "P6",
    }
)  # fmt: skip

# Modifiers that say "a distinct procedural service": the only modifiers that bypass an NCCI
# PTP edit on their own.
DISTINCT_SERVICE: frozenset[str] = frozenset({"59", "XE", "XP", "XS", "XU"})
X_MODIFIERS: frozenset[str] = frozenset({"XE", "XP", "XS", "XU"})

# NCCI PTP-associated modifiers (NCCI Policy Manual, ch. I): any of these on either line of a
# pair whose modifier indicator is 1 lets both codes be paid.
NCCI_ASSOCIATED: frozenset[str] = DISTINCT_SERVICE | frozenset(
    {
        "24", "25", "27", "57", "58", "78", "79", "91",
        "E1", "E2", "E3", "E4", "FA", "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9",
        "LC", "LD", "LM", "LT", "RC", "RI", "RT",
        "TA", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9",
    }
)  # fmt: skip

LATERALITY: frozenset[str] = frozenset({"LT", "RT", "50"})

# Repeat-service modifiers that let one code appear on more than one line.
REPEAT_SERVICE: frozenset[str] = frozenset({"76", "77", "91"})


def is_evaluation_and_management(code: str) -> bool:
    """CPT E/M codes 99202-99499 (office, hospital, consults, ED, nursing facility, home,
    preventive, care management)."""
    return len(code) == 5 and code.isdigit() and "99202" <= code <= "99499"


# Codes that are procedures for the purpose of modifier 25 (an E/M on the same day as a
# procedure must be "significant, separately identifiable"): surgery 10004-69990, injections
# and infusions 96360-96549, active wound care 97597-97610. Venipuncture (36415, 36416) is
# routinely drawn at a visit and does not need 25.
_NOT_A_PROCEDURE_FOR_25 = frozenset({"36415", "36416"})


def is_procedure_for_modifier_25(code: str) -> bool:
    if len(code) != 5 or not code.isdigit() or code in _NOT_A_PROCEDURE_FOR_25:
        return False
    return "10004" <= code <= "69990" or "96360" <= code <= "96549" or "97597" <= code <= "97610"


def is_level_one_modifier(modifier: str) -> bool:
    return modifier in CPT_MODIFIERS


__all__ = [
    "CPT_MODIFIERS",
    "DISTINCT_SERVICE",
    "LATERALITY",
    "NCCI_ASSOCIATED",
    "REPEAT_SERVICE",
    "X_MODIFIERS",
    "is_evaluation_and_management",
    "is_level_one_modifier",
    "is_procedure_for_modifier_25",
]
