"""The request log's settings: whether prompts and answers are kept, how much of them, for how long.

LiteLLM's names where it has them: `general_settings.store_prompts_in_spend_logs` (off by
default: prompts are the developers' code), `maximum_spend_logs_retention_period` (`30d`; unset
keeps every row) and `maximum_spend_logs_retention_interval` (how often old rows are looked
for); litecursor's `litecursor_settings.log_body_max_kb` (each of the prompt and the answer is
cut to this many KiB).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store.periods import DurationError, parse_duration
from .values import ConfigError, ValueReader

GENERAL_KEYS = frozenset(
    {
        "store_prompts_in_spend_logs",
        "maximum_spend_logs_retention_period",
        "maximum_spend_logs_retention_interval",
    }
)
LITECURSOR_KEYS = frozenset({"log_body_max_kb"})


@dataclass(frozen=True, slots=True)
class RequestLogSettings:
    store_bodies: bool = False
    body_max_kb: float = 64.0
    #: rows older than this many seconds are deleted; None keeps them
    retention: float | None = None
    #: how often the deletion runs
    retention_interval: float = 3600.0

    @property
    def body_max_bytes(self) -> int:
        return int(self.body_max_kb * 1024)


def _seconds(p: ValueReader, raw: dict[str, Any], key: str, path: str) -> float | None:
    value = p.opt_str(raw, key, path)
    if value is None:
        return None
    try:
        d = parse_duration(value)
    except DurationError as e:
        raise ConfigError(path, str(e)) from None
    # a month is a calendar month elsewhere; for an age it is 30 days
    return float(d.seconds if d.seconds is not None else d.count * 30 * 86400)


def read_request_log(
    p: ValueReader, general: dict[str, Any], lc: dict[str, Any]
) -> RequestLogSettings:
    g = "general_settings"
    store = general.get("store_prompts_in_spend_logs", False)
    if not isinstance(store, bool):
        raise ConfigError(f"{g}.store_prompts_in_spend_logs", "must be true or false")
    kb = p.opt_num(lc, "log_body_max_kb", "litecursor_settings.log_body_max_kb")
    if kb is not None and kb <= 0:
        raise ConfigError(
            "litecursor_settings.log_body_max_kb",
            "must be more than 0 (turn storing off with store_prompts_in_spend_logs: false)",
        )
    retention = _seconds(
        p,
        general,
        "maximum_spend_logs_retention_period",
        f"{g}.maximum_spend_logs_retention_period",
    )
    interval = _seconds(
        p,
        general,
        "maximum_spend_logs_retention_interval",
        f"{g}.maximum_spend_logs_retention_interval",
    )
    if retention is not None and retention < 3600:
        raise ConfigError(
            f"{g}.maximum_spend_logs_retention_period",
            "must be at least 1h: the log would be emptied as fast as it is written",
        )
    return RequestLogSettings(
        store_bodies=store,
        body_max_kb=64.0 if kb is None else float(kb),
        retention=retention,
        retention_interval=3600.0 if interval is None else max(interval, 60.0),
    )
