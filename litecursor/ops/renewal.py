"""When to renew a certificate and how long to wait after a failure: plain functions of times, no I/O."""

from __future__ import annotations

import datetime as dt

__all__ = ["BACKOFF_SECONDS", "backoff", "renewal_due"]

#: waits after the 1st, 2nd, ... consecutive failure, then the last one again. Let's Encrypt
#: allows 5 failed validations per name per hour: the first five retries stay under it.
BACKOFF_SECONDS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0)


def renewal_due(
    not_before: dt.datetime, not_after: dt.datetime, suggested: dt.datetime | None = None
) -> dt.datetime:
    """When a third of the certificate's lifetime is left (90-day certificates: 30 days before
    expiry), or earlier if the CA's renewal information (ARI) suggests an earlier moment
    (for instance because it is revoking the certificate)."""
    third_left = not_after - (not_after - not_before) / 3
    if suggested is not None and suggested < third_left:
        return suggested
    return third_left


def backoff(failures: int, schedule: tuple[float, ...] = BACKOFF_SECONDS) -> float:
    """Seconds to wait after `failures` consecutive failures (1 or more)."""
    return schedule[min(max(failures, 1), len(schedule)) - 1]
