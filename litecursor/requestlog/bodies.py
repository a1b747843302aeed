"""What of a prompt and an answer the request log may keep: secrets taken out, cut to `log_body_max_kb`.

A prompt is whatever a developer pasted, so it may hold the gateway's own secrets: the master
key, a provider key, an `Authorization` header copied from a curl line. Every secret the config
holds (the master key, each deployment's `api_key`, header values and cloud credentials) is
replaced wherever it appears, and so is anything shaped like an API key (`sk-...`) or a bearer
credential. Secrets are taken out before the text is cut, so a cut never leaves half of one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..redaction import Redactor

__all__ = ["Bodies", "cut", "keep"]


def cut(text: str, max_bytes: int) -> str:
    """`text` in at most `max_bytes` of UTF-8, cut at a character; a cut text ends saying so."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    kept = data[:max_bytes].decode(errors="ignore")
    return f"{kept}\n[… cut: {len(data):,} bytes in all, the log keeps {max_bytes:,}]"


def keep(raw: bytes | str | None, redact: Callable[[str], str], max_bytes: int) -> str | None:
    """A body as the log keeps it: decoded, redacted, cut. None stays None."""
    if raw is None:
        return None
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return cut(redact(text), max_bytes)


class Bodies:
    """What the request log keeps of prompts and answers, for one config: nothing unless
    `store_prompts_in_spend_logs`, else each redacted and cut to `log_body_max_kb`."""

    def __init__(self, enabled: bool, max_bytes: int, redactor: Redactor) -> None:
        #: the gateway's one redactor (`litecursor.redaction`), key-shaped strings included
        self.redact = redactor.everything
        self.max_bytes = max_bytes
        #: what a call keeps while it runs: the limit, and room for a secret across the cut
        self.capture = max_bytes + redactor.margin if enabled else 0

    @classmethod
    def of(cls, config: Any, redactor: Redactor | None = None) -> Bodies:
        """For a `Config`: `redactor` (the app's), or one for its master key and every secret
        of its deployments."""
        log = config.request_log
        if redactor is None:
            redactor = Redactor.for_deployments(config.deployments, config.master_key)
        return cls(log.store_bodies, log.body_max_bytes, redactor)

    def kept(
        self, request_body: bytes | None, response_body: bytes | None
    ) -> tuple[str | None, str | None]:
        """The prompt and the answer a call captured, as the log stores them."""
        if not self.capture:
            return None, None
        return (
            keep(request_body, self.redact, self.max_bytes),
            keep(response_body, self.redact, self.max_bytes),
        )
