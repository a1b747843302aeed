"""Anthropic Messages API: the SSE stream decoder and whole-message decoding."""

from __future__ import annotations

from typing import Any

import orjson

from ..sse import SSEEvent
from ..types import (
    Event,
    Finish,
    FinishReason,
    ReasoningDelta,
    ReasoningItem,
    RefusalDelta,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from .base import SSEStreamDecoder, stream_failure, truncated, unreadable

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# error `type` -> the HTTP status Anthropic gives it, so a mid-stream error maps like a status error
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class _UsageCounts:
    """Token counts from `message_start`, updated by the cumulative ones of `message_delta`."""

    __slots__ = ("cache_creation", "cache_read", "input", "output", "thinking")

    def __init__(self) -> None:
        self.input = self.cache_read = self.cache_creation = self.output = 0
        self.thinking: int | None = None

    def take(self, u: Any) -> None:
        if not isinstance(u, dict):
            return
        if u.get("input_tokens") is not None:
            self.input = int(u["input_tokens"])
        if u.get("cache_read_input_tokens") is not None:
            self.cache_read = int(u["cache_read_input_tokens"])
        if u.get("cache_creation_input_tokens") is not None:
            self.cache_creation = int(u["cache_creation_input_tokens"])
        if u.get("output_tokens") is not None:
            self.output = int(u["output_tokens"])
        details = u.get("output_tokens_details")
        if isinstance(details, dict) and details.get("thinking_tokens") is not None:
            self.thinking = int(details["thinking_tokens"])

    def event(self) -> Usage:
        # Anthropic's input_tokens excludes cache reads and writes; OpenAI's prompt_tokens has all
        return Usage(
            prompt_tokens=self.input + self.cache_read + self.cache_creation,
            completion_tokens=self.output,
            cached_tokens=self.cache_read,
            cache_creation_tokens=self.cache_creation,
            reasoning_tokens=self.thinking,
        )


class _Block:
    """A content block being streamed: a tool call's start input, or thinking text so far."""

    __slots__ = ("args_sent", "input", "thinking", "tool")

    def __init__(self, tool: bool, input: Any = None) -> None:
        self.tool = tool
        self.input = input
        self.args_sent = False
        self.thinking: list[str] = []


class AnthropicStreamDecoder(SSEStreamDecoder):
    """Messages API SSE -> events, with one `Usage` at `message_stop`."""

    __slots__ = ("_blocks", "_done", "_finished", "_tools", "_usage")

    def __init__(self) -> None:
        super().__init__()
        self._blocks: dict[int, _Block] = {}
        self._usage = _UsageCounts()
        self._finished = False
        self._done = False
        self._tools = False

    def _at_close(self, out: list[Event]) -> None:
        if not self._done:
            out.append(truncated())
            self._done = True

    def _event(self, ev: SSEEvent, out: list[Event]) -> None:
        data = ev.data
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            out.append(unreadable(data))
            return
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "content_block_delta":
            self._delta(msg, out)
        elif kind == "content_block_start":
            self._start(msg, out)
        elif kind == "content_block_stop":
            block = self._blocks.pop(msg.get("index", 0), None)
            if block is not None and block.tool and not block.args_sent:
                # no fragments came: the arguments are the start's `input` (often `{}`)
                out.append(
                    ToolCallDelta(msg.get("index", 0), orjson.dumps(block.input or {}).decode())
                )
        elif kind == "message_start":
            self._usage.take((msg.get("message") or {}).get("usage"))
        elif kind == "message_delta":
            self._usage.take(msg.get("usage"))
            delta = msg.get("delta") or {}
            reason = delta.get("stop_reason")
            if reason:
                details = delta.get("stop_details")
                if reason == "refusal" and isinstance(details, dict) and details.get("explanation"):
                    out.append(RefusalDelta(str(details["explanation"])))
                out.append(Finish(_FINISH.get(reason, "stop")))
                self._finished = True
        elif kind == "message_stop":
            if not self._finished:
                out.append(Finish("tool_calls" if self._tools else "stop"))
                self._finished = True
            out.append(self._usage.event())
            self._done = True
        elif kind == "error":
            out.append(stream_error(msg.get("error")))
            self._done = True

    def _delta(self, msg: dict[str, Any], out: list[Event]) -> None:
        delta = msg.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if text:
                out.append(TextDelta(text))
        elif kind == "input_json_delta":
            part = delta.get("partial_json")
            block = self._blocks.get(msg.get("index", 0))
            if part and block is not None and block.tool:
                block.args_sent = True
                out.append(ToolCallDelta(msg.get("index", 0), part))
        elif kind == "thinking_delta":
            text = delta.get("thinking")
            if text:
                block = self._blocks.get(msg.get("index", 0))
                if block is not None:
                    block.thinking.append(text)
                out.append(ReasoningDelta(text))
        elif kind == "signature_delta":
            block = self._blocks.get(msg.get("index", 0))
            thinking = "".join(block.thinking) if block is not None else ""
            out.append(
                ReasoningItem(
                    {
                        "type": "thinking",
                        "thinking": thinking,
                        "signature": delta.get("signature") or "",
                    }
                )
            )

    def _start(self, msg: dict[str, Any], out: list[Event]) -> None:
        block = msg.get("content_block") or {}
        index = msg.get("index", 0)
        kind = block.get("type")
        if kind == "tool_use":
            self._tools = True
            self._blocks[index] = _Block(True, block.get("input"))
            out.append(
                ToolCallStart(index, block.get("id") or f"toolu_{index}", block.get("name") or "")
            )
        elif kind == "thinking":
            self._blocks[index] = _Block(False)
            if block.get("thinking"):
                self._blocks[index].thinking.append(block["thinking"])
                out.append(ReasoningDelta(block["thinking"]))
        elif kind == "redacted_thinking":
            out.append(
                ReasoningItem({"type": "redacted_thinking", "data": block.get("data") or ""})
            )
        elif kind == "text" and block.get("text"):
            out.append(TextDelta(block["text"]))


def stream_error(err: Any) -> StreamError:
    """An `error` event, mapped as the same error before the stream would have been."""
    kind = str(err.get("type") or "api_error") if isinstance(err, dict) else "api_error"
    message = str(err.get("message") or kind) if isinstance(err, dict) else str(err)
    return stream_failure(_ERROR_STATUS.get(kind, 500), message, code=kind, provider="anthropic")


def decode_message(data: dict[str, Any]) -> list[Event]:
    """A whole Messages API response -> the same events its stream would give."""
    if data.get("type") == "error":
        return [stream_error(data.get("error"))]
    out: list[Event] = []
    tools = False
    for i, block in enumerate(data.get("content") or ()):
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            out.append(TextDelta(block["text"]))
        elif kind == "thinking":
            if block.get("thinking"):
                out.append(ReasoningDelta(block["thinking"]))
            out.append(
                ReasoningItem(
                    {
                        "type": "thinking",
                        "thinking": block.get("thinking") or "",
                        "signature": block.get("signature") or "",
                    }
                )
            )
        elif kind == "redacted_thinking":
            out.append(
                ReasoningItem({"type": "redacted_thinking", "data": block.get("data") or ""})
            )
        elif kind == "tool_use":
            tools = True
            out.append(ToolCallStart(i, block.get("id") or f"toolu_{i}", block.get("name") or ""))
            out.append(ToolCallDelta(i, orjson.dumps(block.get("input") or {}).decode()))
    reason = data.get("stop_reason")
    details = data.get("stop_details")
    if reason == "refusal" and isinstance(details, dict) and details.get("explanation"):
        out.append(RefusalDelta(str(details["explanation"])))
    out.append(
        Finish(_FINISH.get(reason, "stop") if reason else ("tool_calls" if tools else "stop"))
    )
    usage = _UsageCounts()
    usage.take(data.get("usage"))
    out.append(usage.event())
    return out
