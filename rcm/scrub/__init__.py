"""Claim scrubbing: rules that find what a payer or clearinghouse would reject, before the claim
goes out. The rules run on plain dataclasses (rcm.scrub.model) for speed; rcm.scrub.adapter
loads them from the database and records the outcome. See docs/scrubbing.md."""

from rcm.scrub.adapter import ScrubOutcome, scrub_claims
from rcm.scrub.context import (
    DuplicateIndex,
    EnrollmentIndex,
    EnrollmentSpan,
    ScrubContext,
    make_context,
)
from rcm.scrub.model import (
    Finding,
    ScrubAddress,
    ScrubBillingProvider,
    ScrubClaim,
    ScrubCoverage,
    ScrubDiagnosis,
    ScrubLine,
    ScrubPatient,
    ScrubPayer,
    ScrubProvider,
    Severity,
)
from rcm.scrub.registry import RULES, Rule, all_rules, has_errors, rule, scrub_claim, scrub_many

__all__ = [
    "RULES",
    "DuplicateIndex",
    "EnrollmentIndex",
    "EnrollmentSpan",
    "Finding",
    "Rule",
    "ScrubAddress",
    "ScrubBillingProvider",
    "ScrubClaim",
    "ScrubContext",
    "ScrubCoverage",
    "ScrubDiagnosis",
    "ScrubLine",
    "ScrubOutcome",
    "ScrubPatient",
    "ScrubPayer",
    "ScrubProvider",
    "Severity",
    "all_rules",
    "has_errors",
    "make_context",
    "rule",
    "scrub_claim",
    "scrub_claims",
    "scrub_many",
]
