"""What of a prompt and an answer the request log may keep: secrets taken out, cut to `log_body_max_kb`.

A prompt is whatever a developer pasted, so it may hold the gateway's own secrets: the master
key, a provider key, an `Authorization` header copied from a curl line. Every secret the config
holds (the master key, each deployment's `api_key`, header values and cloud credentials) is
replaced wherever it appears, and so is anything shaped like an API key (`sk-...`) or a bearer
credential. Secrets are taken out before the text is cut, so a cut never leaves half of one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"
#: config strings shorter than this are not secrets worth a search (regions, versions)
MIN_SECRET = 12
_SECRET_FIELDS = frozenset({"api_key", "master_key", "headers"})
# an API key as OpenAI, Anthropic, OpenRouter and litecursor's virtual keys write them, and
# the value of a bearer or Authorization header, in JSON or in a curl line
_SHAPES = (
    r"\bsk-[A-Za-z0-9_\-]{16,}",
    r"(?i:(?<=bearer ))[A-Za-z0-9._~+/\-]{12,}=*",
    r"(?i:(?<=authorization: ))[^\s\"',]{12,}",
    r"(?i:(?<=\"authorization\": \"))[^\"]{12,}",
)


def secrets_in(obj: Any, name: str = "") -> list[str]:
    """The secret strings in the settings `obj`: dataclass fields declared `repr=False` (how
    the config marks credentials), `api_key`s and header values, at any depth."""
    found: list[str] = []
    if isinstance(obj, str):
        if name and len(obj) >= MIN_SECRET:
            found.append(obj)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            secret = not f.repr or f.name in _SECRET_FIELDS
            found += secrets_in(getattr(obj, f.name), f.name if secret else "")
    elif isinstance(obj, Mapping):
        for value in obj.values():
            found += secrets_in(value, name)
    elif isinstance(obj, list | tuple | frozenset | set):
        for value in obj:
            found += secrets_in(value, name)
    return found


class Redactor:
    """Replaces known secrets and secret-shaped strings with `[redacted]`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        known = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)
        #: the longest known secret: a cut this far past the limit cannot split one
        self.margin = max((len(s.encode()) for s in known), default=0) + 64
        parts = [re.escape(s) for s in known] + list(_SHAPES)
        self._pattern = re.compile("|".join(f"(?:{p})" for p in parts))

    def __call__(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text)


def cut(text: str, max_bytes: int) -> str:
    """`text` in at most `max_bytes` of UTF-8, cut at a character; a cut text ends saying so."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    kept = data[:max_bytes].decode(errors="ignore")
    return f"{kept}\n[… cut: {len(data):,} bytes in all, the log keeps {max_bytes:,}]"


def keep(raw: bytes | str | None, redact: Redactor, max_bytes: int) -> str | None:
    """A body as the log keeps it: decoded, redacted, cut. None stays None."""
    if raw is None:
        return None
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return cut(redact(text), max_bytes)


class Bodies:
    """What the request log keeps of prompts and answers, for one config: nothing unless
    `store_prompts_in_spend_logs`, else each redacted and cut to `log_body_max_kb`."""

    def __init__(self, enabled: bool, max_bytes: int, secrets: Iterable[str]) -> None:
        self.redact = Redactor(secrets)
        self.max_bytes = max_bytes
        #: what a call keeps while it runs: the limit, and room for a secret across the cut
        self.capture = max_bytes + self.redact.margin if enabled else 0

    @classmethod
    def of(cls, config: Any) -> Bodies:
        """For a `Config`: its master key and every secret of its deployments."""
        log = config.request_log
        secrets = [config.master_key, *secrets_in(list(config.deployments))]
        return cls(log.store_bodies, log.body_max_bytes, secrets)

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
