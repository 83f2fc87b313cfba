"""Claims: the state graph (states.py) and, built by others on it, creation and scrubbing."""

from rcm.claims.states import ALLOWED_TRANSITIONS, can_transition, transition

__all__ = ["ALLOWED_TRANSITIONS", "can_transition", "transition"]
