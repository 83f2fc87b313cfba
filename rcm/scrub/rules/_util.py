"""Small helpers the rule modules share."""

from __future__ import annotations

import re
from functools import lru_cache

from rcm import identifiers
from rcm.scrub.model import ScrubClaim

_PO_BOX = re.compile(
    r"(?i)\b(p\.?\s*o\.?\s*box|post\s+office\s+box|pob\b|lock\s*box|box\s*#?\s*\d)"
)


def blank(value: object) -> bool:
    if value is None:
        return True
    if value.__class__ is str:  # the common case, without isinstance's subclass walk
        return not value.strip()  # type: ignore[attr-defined]
    return isinstance(value, str) and not value.strip()


def is_po_box(street: str) -> bool:
    return bool(_PO_BOX.search(street))


def patient_loop(claim: ScrubClaim) -> str:
    """2010BA when the patient is the subscriber, else 2010CA."""
    coverage = claim.coverage
    return "2010BA" if coverage is None or coverage.relationship == "18" else "2010CA"


def is_professional(claim: ScrubClaim) -> bool:
    return claim.claim_type != "institutional"


# The identifier validators are pure functions of short strings, and a batch repeats the same
# practice NPI, TIN, ZIP and codes on thousands of claims: memoized, each costs a dict lookup.
_MEMO = 1 << 16
npi_problem = lru_cache(maxsize=_MEMO)(identifiers.npi_problem)
tin_problem = lru_cache(maxsize=_MEMO)(identifiers.tin_problem)
zip_problem = lru_cache(maxsize=_MEMO)(identifiers.zip_problem)
state_problem = lru_cache(maxsize=_MEMO)(identifiers.state_problem)
taxonomy_problem = lru_cache(maxsize=_MEMO)(identifiers.taxonomy_problem)
procedure_code_problem = lru_cache(maxsize=_MEMO)(identifiers.procedure_code_problem)
modifier_problem = lru_cache(maxsize=_MEMO)(identifiers.modifier_problem)
