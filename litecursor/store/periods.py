"""Budget periods in LiteLLM's units (`30s`, `5m`, `1h`, `30d`, `1mo`) and when each one ends.

Pure functions of their arguments (no clock): a period's end is computed from the previous end,
so every instance, and the same instance after a restart, agrees on it. As LiteLLM does, day and
month periods follow the calendar (UTC): `1d` budgets reset at midnight, `1mo` budgets at
midnight on the 1st of each month (`2mo` every other month); `s`, `m` and `h` periods run from
the moment the budget was set.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*(mo|s|m|h|d)\s*$")


class DurationError(ValueError):
    """Not a duration in LiteLLM's units."""


@dataclass(frozen=True, slots=True)
class Duration:
    count: int
    unit: str  # s, m, h, d or mo

    @property
    def text(self) -> str:
        return f"{self.count}{self.unit}"

    @property
    def seconds(self) -> int | None:
        """Fixed length in seconds; None for calendar months."""
        return None if self.unit == "mo" else self.count * _UNIT_SECONDS[self.unit]

    def after(self, start: float) -> float:
        """The end of the period that starts at `start` (epoch seconds)."""
        if self.unit == "mo":
            return add_months(month_start(start), self.count)
        fixed = self.count * _UNIT_SECONDS[self.unit]
        if self.unit == "d":
            return (start // 86400) * 86400 + fixed
        return start + fixed

    def start_of(self, end: float) -> float:
        """When the period that ends at `end` began."""
        fixed = self.seconds
        return add_months(end, -self.count) if fixed is None else end - fixed

    def expiry(self, start: float) -> float:
        """`start` plus this duration, not aligned to the calendar (a key's `duration`)."""
        fixed = self.seconds
        return add_months(start, self.count) if fixed is None else start + fixed

    def next_end(self, end: float, now: float) -> float:
        """The end of the period containing `now`, given the end of an earlier period: periods
        follow each other without gaps, so a server that was down for three periods still
        resets on the same boundaries as one that ran throughout."""
        fixed = self.seconds
        if fixed is not None:
            if now < end:
                return end
            return end + fixed * (int((now - end) // fixed) + 1)
        while end <= now:
            end = add_months(end, self.count)
        return end


def parse_duration(text: str) -> Duration:
    """`30s`, `5m`, `1h`, `30d`, `1mo` (LiteLLM's `budget_duration` and `duration` units)."""
    found = _parse(text) if isinstance(text, str) else None
    if found is None:
        raise DurationError(
            f"'{text}' is not a duration: write a positive number and a unit, "
            "s (seconds), m (minutes), h (hours), d (days) or mo (calendar months), e.g. 30d"
        )
    return found


@functools.lru_cache(maxsize=256)  # the same few texts, on every settled request's period
def _parse(text: str) -> Duration | None:
    m = _DURATION.match(text)
    if m is None or int(m.group(1)) <= 0:
        return None
    return Duration(int(m.group(1)), m.group(2))


def month_start(t: float) -> float:
    """Midnight UTC on the 1st of `t`'s month."""
    d = datetime.fromtimestamp(t, UTC)
    return datetime(d.year, d.month, 1, tzinfo=UTC).timestamp()


def add_months(t: float, months: int) -> float:
    """`t` moved by whole calendar months (UTC), the day clamped to the month's length."""
    d = datetime.fromtimestamp(t, UTC)
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return d.replace(year=year, month=month, day=day).timestamp()


def iso(t: float | None, timespec: str = "seconds") -> str | None:
    """Epoch seconds as the ISO time the API, the log and alerts show (`...Z`, UTC); None stays
    None. `timespec` as `datetime.isoformat` takes it (`milliseconds` for request times)."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
