"""Anthropic's prompt caching, as the fake Messages API applies it: where `cache_control` may
stand, at most four breakpoints, and which prefix a request reads from and writes to the cache.

The real API's rules, as documented: a breakpoint caches the prompt up to and including its
block, in the order tools, system, messages; a request reads the longest cached prefix ending
at one of its breakpoints or up to 20 blocks before one; a prefix shorter than the model's
minimum (1024 tokens; 2048 for Haiku 3.x; 4096 for Haiku 4.5 and Opus 4.5) is never cached.
Thinking blocks and empty text blocks cannot be marked. Tokens are estimated here as 4 bytes
of canonical JSON each, which is all a test of placement needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import orjson

MAX_BREAKPOINTS = 4
LOOKBACK = 20
TTLS = ("5m", "1h")


def minimum_tokens(model: str) -> int:
    if "haiku-4" in model or "opus-4-5" in model or "opus-4-6" in model:
        return 4096
    if "haiku" in model:
        return 2048
    return 1024


def _blocks(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, block) of everything a breakpoint may follow, in prompt order."""
    for i, tool in enumerate(body.get("tools") or ()):
        yield f"tools.{i}", tool
    system = body.get("system")
    if isinstance(system, list):
        for i, block in enumerate(system):
            yield f"system.{i}", block
    for i, message in enumerate(body.get("messages") or ()):
        content = message.get("content")
        if isinstance(content, list):
            for j, block in enumerate(content):
                yield f"messages.{i}.content.{j}", block


def check(body: dict[str, Any]) -> str | None:
    """The error the real API gives for a misplaced or surplus `cache_control`, or None."""
    marks = 0
    for path, block in _blocks(body):
        mark = block.get("cache_control") if isinstance(block, dict) else None
        if mark is None:
            continue
        marks += 1
        if not isinstance(mark, dict) or mark.get("type") != "ephemeral":
            return f"{path}.cache_control.type: Input should be 'ephemeral'"
        if set(mark) - {"type", "ttl"} or mark.get("ttl", "5m") not in TTLS:
            return f"{path}.cache_control: Input should be a valid ephemeral cache control"
        kind = block.get("type")
        if kind in ("thinking", "redacted_thinking"):
            return (
                f"{path}.{kind}.cache_control: Extra inputs are not permitted "
                "(thinking blocks cannot be marked for caching)"
            )
        if kind == "text" and not block.get("text"):
            return f"{path}.text.cache_control: cache_control cannot be set for empty text blocks"
    if isinstance(body.get("cache_control"), dict):
        marks += 1  # automatic caching takes one of the four
    if marks > MAX_BREAKPOINTS:
        return f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {marks}."
    return None


class PromptCache:
    """The cache of one fake API: prefix hash -> tokens. `use` answers a request as the real
    API reports it: (cache_read_input_tokens, cache_creation_input_tokens, total input)."""

    def __init__(self) -> None:
        self.entries: dict[str, int] = {}

    def use(self, body: dict[str, Any]) -> tuple[int, int, int]:
        digest = hashlib.sha256(orjson.dumps(body.get("model")))
        prefixes: list[tuple[str, int]] = []  # (hash, tokens) after each block
        marked: list[int] = []
        size = 0
        for index, (_, block) in enumerate(_blocks(body)):
            bare = {k: v for k, v in block.items() if k != "cache_control"}
            data = orjson.dumps(bare, option=orjson.OPT_SORT_KEYS)
            digest.update(data)
            size += len(data)
            prefixes.append((digest.hexdigest(), size // 4))
            if "cache_control" in block:
                marked.append(index)
        total = max(size // 4, 1)
        minimum = minimum_tokens(str(body.get("model")))
        read = 0
        for at in marked:
            for i in range(at, max(-1, at - LOOKBACK - 1), -1):
                tokens = self.entries.get(prefixes[i][0])
                if tokens is not None:
                    read = max(read, tokens)
                    break
        written = 0
        for at in marked:
            key, tokens = prefixes[at]
            if tokens >= minimum and key not in self.entries:
                self.entries[key] = tokens
                written = max(written, tokens)
        return read, max(0, written - read), total
