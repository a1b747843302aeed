"""Anthropic prompt caching: where the Messages API body gets its `cache_control` breakpoints.

Used by the Anthropic adapter (and any adapter speaking the Messages API) when the deployment's
`prompt_caching` is on; the body is marked in place, after it is built.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["MAX_CACHE_BREAKPOINTS", "mark_cache", "min_cacheable_tokens"]

MAX_CACHE_BREAKPOINTS = 4
_CHARS_PER_TOKEN = 4  # an estimate, for the minimum length only: a short prefix is not cached
_IMAGE_TOKENS = 1600  # an image of about 1,100 x 1,100 pixels
_SCHEMA_TOKENS = 60  # a tool's name, parameters and their descriptions, besides its own
_EPHEMERAL = {"type": "ephemeral"}
#: blocks the API does not let carry a breakpoint
_NO_BREAKPOINT = ("thinking", "redacted_thinking")


def mark_cache(body: dict[str, Any]) -> None:
    """Prompt-cache breakpoints, within the API's four (the client's own count). A breakpoint
    caches the prompt up to its block, in the order tools, system, messages; each goes where
    that prefix reaches the model's minimum cacheable length. In order of worth:

    1. the newest block: this turn's whole prompt, which the next turn reads;
    2. the end of the previous turn (the user turn before the last assistant turn): where the
       previous request put its breakpoint 1, so this turn reads it however many blocks the
       agent added since (the API looks back only 20 blocks from a breakpoint);
    3. the system prompt and 4. the tools, which outlive a compacted history.

    So the breakpoints move forward turn by turn, each turn reading the previous one's cache."""
    tools, system, messages = body.get("tools") or [], body.get("system") or [], body["messages"]
    marks = sum("cache_control" in t for t in tools) + sum("cache_control" in b for b in system)
    marks += sum("cache_control" in b for m in messages for b in m["content"])
    budget = MAX_CACHE_BREAKPOINTS - marks
    if budget <= 0:
        return
    minimum = min_cacheable_tokens(body["model"])
    tools_size = _tools_size(tools)
    system_size = tools_size + sum(len(b["text"]) for b in system) // _CHARS_PER_TOKEN
    previous = _previous_turn(messages)
    # the conversation's length counts only while the prefix is still under the minimum, as
    # it is never once Cursor's system prompt and tools are in
    reach_previous = reach_last = system_size
    if system_size < minimum:
        reach_previous, reach_last = _reaches(messages, previous, system_size, minimum)
    candidates: list[tuple[dict[str, Any] | None, int]] = [
        (_last_markable(messages, len(messages) - 1), reach_last),
        (None if previous is None else _last_markable(messages, previous), reach_previous),
        (system[-1] if system else None, system_size),
        (tools[-1] if tools else None, tools_size),
    ]
    for block, reach in candidates:
        if budget == 0:
            break
        if block is None or reach < minimum or "cache_control" in block:
            continue
        block["cache_control"] = _EPHEMERAL
        budget -= 1


def min_cacheable_tokens(model: str) -> int:
    """The API's minimum cacheable prompt: 4096 tokens for Haiku 4.5 and Opus 4.5 and later,
    2048 for Haiku 3.x, 1024 for the other models."""
    if "haiku-4" in model or "opus-4-5" in model or "opus-4-6" in model:
        return 4096
    if "haiku" in model:
        return 2048
    return 1024


def _tools_size(tools: list[dict[str, Any]]) -> int:
    """The tools' tokens, estimated from their descriptions (the bulk of Cursor's) and an
    allowance per schema, without serialising them."""
    chars = sum(len(t.get("description") or "") + len(t["name"]) for t in tools)
    return chars // _CHARS_PER_TOKEN + _SCHEMA_TOKENS * len(tools)


def _reaches(
    messages: list[dict[str, Any]], previous: int | None, size: int, minimum: int
) -> tuple[int, int]:
    """The prompt's tokens at the end of the previous turn and at the end, starting from
    `size` (tools and system); the walk stops at the minimum, which both then reach or not."""
    at_previous = size
    for i, message in enumerate(messages):
        size += sum(_block_size(b) for b in message["content"])
        if i == previous:
            at_previous = size
        if size >= minimum:
            return (minimum if previous is None or previous >= i else at_previous), minimum
    return at_previous, size


def _last_markable(messages: list[dict[str, Any]], end: int) -> dict[str, Any] | None:
    """The last block that can carry a breakpoint in `messages[end]` (or, when it has none,
    in the messages before it)."""
    for i in range(end, -1, -1):
        for block in reversed(messages[i]["content"]):
            if _markable(block):
                return block
    return None


def _block_size(block: dict[str, Any]) -> int:
    kind = block["type"]
    if kind == "text":
        return len(block["text"]) // _CHARS_PER_TOKEN
    if kind == "tool_result":
        content = block.get("content") or ""
        if isinstance(content, list):
            return sum(_block_size(b) for b in content)
        return len(content) // _CHARS_PER_TOKEN
    if kind == "tool_use":
        return len(orjson.dumps(block["input"])) // _CHARS_PER_TOKEN + 8
    if kind == "image":
        return _IMAGE_TOKENS
    if kind == "thinking":
        return len(block.get("thinking") or "") // _CHARS_PER_TOKEN
    return 0


def _markable(block: dict[str, Any]) -> bool:
    """Thinking blocks and empty text cannot carry a breakpoint."""
    kind = block["type"]
    return kind not in _NO_BREAKPOINT and (kind != "text" or bool(block["text"]))


def _previous_turn(messages: list[dict[str, Any]]) -> int | None:
    """The index of the user turn before the last assistant turn: the end of the previous
    request's prompt, when the conversation grows by turns."""
    for i in range(len(messages) - 1, 0, -1):
        if messages[i]["role"] == "assistant" and i < len(messages) - 1:
            return i - 1 if messages[i - 1]["role"] == "user" else None
    return None
