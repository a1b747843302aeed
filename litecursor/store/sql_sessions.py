"""Transaction scripts for the admin page's sessions that were logged out before they expired.

A session is a signed cookie, not a row (see `server/ui/session.py`); only its end is kept, so
that a logout holds on every worker and instance and across a reload, until the cookie would
have expired anyway (then the row goes).
"""

from __future__ import annotations

from .ops import Op, Q


def end(sid: str, expires_at: float, now: float) -> Op[None]:
    yield Q("DELETE FROM ui_sessions_ended WHERE expires_at <= $1", (now,))
    yield Q(
        "INSERT INTO ui_sessions_ended (sid, expires_at) VALUES ($1, $2) "
        "ON CONFLICT (sid) DO NOTHING",
        (sid, expires_at),
    )


def ended(sid: str) -> Op[bool]:
    rows = yield Q("SELECT 1 FROM ui_sessions_ended WHERE sid = $1", (sid,))
    return bool(rows)
