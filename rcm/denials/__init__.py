"""Denials: the CARC table (carc.py: category and recommended action per CARC), the denial
queue (queue.py) and the fixes a corrected claim can infer from a denial (fixes.py). Posting
(rcm.posting) creates the Denial rows."""

from rcm.denials.carc import (
    CarcInfo,
    CarcTable,
    DenialCategory,
    RecommendedAction,
    load_carc_table,
)
from rcm.denials.fixes import (
    CorrectionPlan,
    LineFix,
    apply_plan,
    plan_correction,
)
from rcm.denials.queue import (
    DenialQueueError,
    DenialView,
    assign_denial,
    list_denials,
    resolve_denial,
    show_denial,
)

__all__ = [
    "CarcInfo",
    "CarcTable",
    "CorrectionPlan",
    "DenialCategory",
    "DenialQueueError",
    "DenialView",
    "LineFix",
    "RecommendedAction",
    "apply_plan",
    "assign_denial",
    "list_denials",
    "load_carc_table",
    "plan_correction",
    "resolve_denial",
    "show_denial",
]
