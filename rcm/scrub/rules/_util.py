"""Small helpers the rule modules share."""

from __future__ import annotations

import re

from rcm.scrub.model import ScrubClaim

_PO_BOX = re.compile(
    r"(?i)\b(p\.?\s*o\.?\s*box|post\s+office\s+box|pob\b|lock\s*box|box\s*#?\s*\d)"
)


def blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def is_po_box(street: str) -> bool:
    return bool(_PO_BOX.search(street))


def patient_loop(claim: ScrubClaim) -> str:
    """2010BA when the patient is the subscriber, else 2010CA."""
    coverage = claim.coverage
    return "2010BA" if coverage is None or coverage.relationship == "18" else "2010CA"


def is_professional(claim: ScrubClaim) -> bool:
    return claim.claim_type != "institutional"
