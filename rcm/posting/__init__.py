"""ERA posting: 835 remittances to the ledger (post.py), line matching (matching.py), the
unmatched queue, reversals, PLB, and the file-level entry point (files.py)."""

from rcm.posting.errors import (
    DuplicateFileError,
    DuplicateRemittanceError,
    NotUnmatchedError,
    UnbalancedRemittanceError,
    UnknownPayeeError,
)
from rcm.posting.files import FilePostingResult, post_835_file
from rcm.posting.matching import match_service_lines
from rcm.posting.post import (
    PostingResult,
    check_balanced,
    identify_practice,
    match_claim_payment,
    payer_identifier,
    post_remittance,
    unmatched_claim_payments,
)
from rcm.posting.secondary import PriorAdjudication, prior_adjudications

__all__ = [
    "DuplicateFileError",
    "DuplicateRemittanceError",
    "FilePostingResult",
    "NotUnmatchedError",
    "PostingResult",
    "PriorAdjudication",
    "UnbalancedRemittanceError",
    "UnknownPayeeError",
    "check_balanced",
    "identify_practice",
    "match_claim_payment",
    "match_service_lines",
    "payer_identifier",
    "post_835_file",
    "post_remittance",
    "prior_adjudications",
    "unmatched_claim_payments",
]
