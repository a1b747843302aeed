"""A request's life: one `Call` per request, its `Outcome`, and the named points listeners attach to.

Read `hooks.py` for the points (authenticate, admit, before_upstream, finish) and what a
listener may do at each; `docs/CONTRIBUTING.md` shows a listener end to end.
"""

from .call import MASTER, AttemptRecord, Call, Identity, Outcome, new_request_id, request_id_from
from .hooks import HOOKS, Pipeline

__all__ = [
    "HOOKS",
    "MASTER",
    "AttemptRecord",
    "Call",
    "Identity",
    "Outcome",
    "Pipeline",
    "new_request_id",
    "request_id_from",
]
