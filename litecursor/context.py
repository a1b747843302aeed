"""The request context: what one request carries through its life (key, deployment, usage, timings).

It is the seam for later features: virtual keys fill `key`, spend tracking reads `usage` and
`deployment`, request logs and metrics read the timings and `attempts` when the request ends.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Deployment
    from .protocol.types import Usage


def new_request_id() -> str:
    """128 random bits as 32 hex digits."""
    return secrets.token_hex(16)


@dataclass(slots=True)
class Attempt:
    """One try at one deployment."""

    deployment_id: str
    started: float
    ended: float | None = None
    error: str | None = None
    status: int | None = None


@dataclass(slots=True)
class RequestContext:
    request_id: str = field(default_factory=new_request_id)
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    route: str = ""
    #: who is calling: "master" today; a virtual key's id later
    key: str | None = None
    requested_model: str | None = None
    model_group: str | None = None
    deployment: Deployment | None = None
    attempts: list[Attempt] = field(default_factory=list)
    stream: bool = False
    conversation_id: str | None = None
    usage: Usage | None = None
    first_byte_at: float | None = None
    finished_at: float | None = None
    status: int | None = None
    error: str | None = None
    #: set once the first byte of the response body has gone to the client: no retry after it
    committed: bool = False

    @property
    def ttfb_ms(self) -> float | None:
        return None if self.first_byte_at is None else (self.first_byte_at - self.started) * 1000

    @property
    def duration_ms(self) -> float | None:
        return None if self.finished_at is None else (self.finished_at - self.started) * 1000
