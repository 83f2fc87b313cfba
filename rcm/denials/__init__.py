"""Denials: the CARC table (carc.py: category and recommended action per CARC) and the denial
queue (queue.py). Posting (rcm.posting) creates the Denial rows."""

from rcm.denials.carc import (
    CarcInfo,
    CarcTable,
    DenialCategory,
    RecommendedAction,
    load_carc_table,
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
    "DenialCategory",
    "DenialQueueError",
    "DenialView",
    "RecommendedAction",
    "assign_denial",
    "list_denials",
    "load_carc_table",
    "resolve_denial",
    "show_denial",
]
