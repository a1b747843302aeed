"""`litecursor_settings` limits -> `Limits`: what a connection or an upstream may make the gateway hold."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .values import ConfigError, ValueReader


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on time and memory a client or an upstream can take (README "Security")."""

    #: seconds a connection has to send a whole request head (from its start, or its first
    #: byte on a kept-alive connection); also the TLS handshake's limit
    request_head_timeout: float = 15.0
    #: seconds an idle kept-alive connection stays open
    keepalive_timeout: float = 75.0
    #: the request line and headers together
    max_header_kb: float = 32.0
    #: one event of an upstream stream
    max_event_kb: float = 16 * 1024.0
    #: a non-streamed upstream answer
    max_response_mb: float = 64.0

    @property
    def max_header_bytes(self) -> int:
        return int(self.max_header_kb * 1024)

    @property
    def max_event_bytes(self) -> int:
        return int(self.max_event_kb * 1024)

    @property
    def max_response_bytes(self) -> int:
        return int(self.max_response_mb * 1024 * 1024)


LIMIT_KEYS = tuple(f.name for f in dataclasses.fields(Limits))


def read_limits(p: ValueReader, lc: dict[str, Any]) -> Limits:
    """The limits set in `litecursor_settings` (`lc`), each a number above 0."""
    values: dict[str, float] = {}
    for key in LIMIT_KEYS:
        v = p.opt_num(lc, key, f"litecursor_settings.{key}")
        if v is not None:
            if v <= 0:
                raise ConfigError(f"litecursor_settings.{key}", "must be more than 0")
            values[key] = float(v)
    return Limits(**values)
