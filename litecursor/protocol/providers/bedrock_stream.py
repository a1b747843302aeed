"""Bedrock Converse responses -> events: ConverseStream's event stream, whole bodies, and errors.

Stream events (`:event-type`, JSON payloads padded with a `p` field): `messageStart`,
`contentBlockStart` (tool calls only; text and reasoning blocks start with their first delta),
`contentBlockDelta` (`text`, `toolUse.input` fragments, `reasoningContent` text / signature /
redactedContent), `contentBlockStop`, `messageStop` (stopReason), `metadata` (usage, last).
Exception messages (`:message-type: exception`) end the stream as a `StreamError` mapped like
the same exception before the stream; a broken frame ends it as a protocol error. Server-side
tool blocks (`type: server_tool_use`, `toolResult`) are the service's own business and are not
shown to the client as calls.

Usage: `inputTokens` excludes cache reads and writes (as Anthropic's `input_tokens`), so the
OpenAI prompt count is their sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ...errors import (
    LitecursorError,
    UpstreamProtocolError,
    context_overflow,
    from_upstream,
)
from ..eventstream import EventStreamDecoder, EventStreamMessage
from ..sse import MAX_EVENT_BYTES
from ..types import (
    Event,
    Finish,
    FinishReason,
    ReasoningDelta,
    ReasoningItem,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from .base import json_body, retry_after_seconds, truncated, unreadable

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
#: exception name (either case of its first letter) -> the HTTP status AWS gives it
_STATUS = {
    "validationexception": 400,
    "accessdeniedexception": 403,
    "unrecognizedclientexception": 403,
    "resourcenotfoundexception": 404,
    "modeltimeoutexception": 408,
    "modelerrorexception": 424,
    "modelstreamerrorexception": 424,
    "throttlingexception": 429,
    "servicequotaexceededexception": 429,
    "modelnotreadyexception": 429,
    "internalserverexception": 500,
    "serviceunavailableexception": 503,
}
_CONTEXT_MARKERS = ("too long", "too many input tokens", "context window", "maximum context")


def _usage(u: Any) -> Usage:
    u = u if isinstance(u, dict) else {}
    read = int(u.get("cacheReadInputTokens") or 0)
    write = int(u.get("cacheWriteInputTokens") or 0)
    return Usage(
        prompt_tokens=int(u.get("inputTokens") or 0) + read + write,
        completion_tokens=int(u.get("outputTokens") or 0),
        cached_tokens=read if "cacheReadInputTokens" in u else None,
        cache_creation_tokens=write if "cacheWriteInputTokens" in u else None,
    )


def _finish(reason: Any, tools: bool) -> Finish:
    if reason == "end_turn" and tools:
        return Finish("tool_calls")
    return Finish(_FINISH.get(str(reason), "tool_calls" if tools else "stop"))


def bedrock_error(
    status: int, kind: str | None, message: str, retry_after: float | None = None
) -> LitecursorError:
    """An AWS error (its status, exception name and message) as the client sees it; an input
    that does not fit the model is OpenAI's `context_length_exceeded`."""
    if kind and kind.lower() == "validationexception":
        low = message.lower()
        if any(m in low for m in _CONTEXT_MARKERS):
            return context_overflow(status, message, provider="bedrock")
    if status == 424:  # ModelErrorException: the model failed, not the request
        status = 502
    return from_upstream(status, message, code=kind, retry_after=retry_after, provider="bedrock")


def _error_kind(headers: Mapping[str, str], data: Any) -> str | None:
    """`x-amzn-ErrorType: ThrottlingException:http://…` or the body's `__type`
    (`com.amazon.coral.validate#ValidationException`), as the bare exception name."""
    raw = headers.get("x-amzn-errortype") or headers.get("x-amzn-ErrorType")
    if not raw and isinstance(data, dict):
        raw = data.get("__type") or data.get("code")
    if not raw:
        return None
    return str(raw).split(":", 1)[0].rsplit("#", 1)[-1] or None


def decode_bedrock_error(status: int, headers: Mapping[str, str], body: bytes) -> LitecursorError:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        message = str(data.get("message") or data.get("Message") or data)
    else:
        message = body.decode("utf-8", "replace").strip()[:500] or "no error message"
    kind = _error_kind(headers, data)
    if kind and status < 400:  # an error the front end sent with a 200 (never seen; be safe)
        status = _STATUS.get(kind.lower(), 502)
    return bedrock_error(status, kind, message, retry_after_seconds(headers))


def _stream_error(msg: EventStreamMessage) -> StreamError:
    kind = msg.header(":exception-type") or msg.header(":error-code") or "internalServerException"
    try:
        data = orjson.loads(msg.payload)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        message = str(data["message"])
    else:
        message = msg.header(":error-message") or msg.payload.decode("utf-8", "replace") or kind
    return StreamError(bedrock_error(_STATUS.get(kind.lower(), 500), kind, message))


class _Block:
    __slots__ = ("args", "reasoning", "server", "tool")

    def __init__(self, tool: bool = False, server: bool = False) -> None:
        self.tool = tool
        self.server = server
        self.args = False
        self.reasoning: list[str] = []


class BedrockStreamDecoder:
    """ConverseStream's event stream -> events, one `Usage` from the final `metadata`."""

    __slots__ = ("_blocks", "_done", "_frames", "_tools")

    def __init__(self) -> None:
        self._frames = EventStreamDecoder()
        self._blocks: dict[int, _Block] = {}
        self._tools = False
        self._done = False

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        for msg in self._frames.feed(data):
            self._message(msg, out)
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        for msg in self._frames.close():
            self._message(msg, out)
        if not self._done:
            out.append(truncated())
            self._done = True
        return out

    def _message(self, msg: EventStreamMessage | Any, out: list[Event]) -> None:
        if self._done:
            return
        if not isinstance(msg, EventStreamMessage):  # a broken frame: nothing more can be read
            out.append(StreamError(UpstreamProtocolError(msg.message)))
            self._done = True
            return
        kind = msg.header(":message-type")
        if kind != "event":
            out.append(_stream_error(msg))
            self._done = True
            return
        try:
            data = orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            out.append(unreadable(msg.payload))
            return
        if not isinstance(data, dict):
            out.append(unreadable(msg.payload))
            return
        event = msg.header(":event-type")
        if event == "contentBlockDelta":
            self._delta(data, out)
        elif event == "contentBlockStart":
            self._start(data, out)
        elif event == "contentBlockStop":
            index = int(data.get("contentBlockIndex") or 0)
            block = self._blocks.pop(index, None)
            if block is not None and block.tool and not block.args:
                out.append(ToolCallDelta(index, "{}"))
        elif event == "messageStop":
            out.append(_finish(data.get("stopReason"), self._tools))
        elif event == "metadata":
            out.append(_usage(data.get("usage")))
            self._done = True

    def _start(self, data: dict[str, Any], out: list[Event]) -> None:
        index = int(data.get("contentBlockIndex") or 0)
        start = data.get("start") or {}
        use = start.get("toolUse")
        if isinstance(use, dict):
            if use.get("type") == "server_tool_use":
                self._blocks[index] = _Block(server=True)
                return
            self._tools = True
            self._blocks[index] = _Block(tool=True)
            out.append(ToolCallStart(index, str(use.get("toolUseId") or f"tooluse_{index}"),
                                     str(use.get("name") or "")))  # fmt: skip
        elif "toolResult" in start:
            self._blocks[index] = _Block(server=True)

    def _delta(self, data: dict[str, Any], out: list[Event]) -> None:
        index = int(data.get("contentBlockIndex") or 0)
        delta = data.get("delta") or {}
        block = self._blocks.get(index)
        if block is not None and block.server:
            return
        if "text" in delta:
            if delta["text"]:
                out.append(TextDelta(str(delta["text"])))
        elif "toolUse" in delta:
            part = (delta["toolUse"] or {}).get("input")
            if part and block is not None and block.tool:
                block.args = True
                out.append(ToolCallDelta(index, str(part)))
        elif "reasoningContent" in delta:
            r = delta["reasoningContent"] or {}
            if block is None:
                block = self._blocks[index] = _Block()
            if r.get("text"):
                block.reasoning.append(str(r["text"]))
                out.append(ReasoningDelta(str(r["text"])))
            if r.get("signature"):
                # the same record the Anthropic adapter replays as a signed thinking block
                item = {"type": "thinking", "thinking": "".join(block.reasoning),
                        "signature": str(r["signature"])}  # fmt: skip
                out.append(ReasoningItem(item))
            if r.get("redactedContent"):
                out.append(ReasoningItem({"type": "redacted_thinking",
                                          "data": str(r["redactedContent"])}))  # fmt: skip


def converse_events(data: Any) -> list[Event]:
    """A whole Converse response -> the same events its stream would give."""
    if not isinstance(data, dict):
        raise UpstreamProtocolError("bedrock sent a response body that is not a JSON object")
    message = (data.get("output") or {}).get("message") or {}
    out: list[Event] = []
    tools = False
    for i, block in enumerate(message.get("content") or ()):
        if not isinstance(block, dict):
            continue
        if block.get("text"):
            out.append(TextDelta(str(block["text"])))
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            if use.get("type") == "server_tool_use":
                continue
            tools = True
            out.append(ToolCallStart(i, str(use.get("toolUseId") or f"tooluse_{i}"),
                                     str(use.get("name") or "")))  # fmt: skip
            out.append(ToolCallDelta(i, orjson.dumps(use.get("input") or {}).decode()))
        elif isinstance(block.get("reasoningContent"), dict):
            r = block["reasoningContent"]
            text = r.get("reasoningText") or {}
            if text.get("text"):
                out.append(ReasoningDelta(str(text["text"])))
            if text.get("signature"):
                out.append(ReasoningItem({"type": "thinking", "thinking": str(text.get("text") or ""),
                                          "signature": str(text["signature"])}))  # fmt: skip
            if r.get("redactedContent"):
                out.append(ReasoningItem({"type": "redacted_thinking",
                                          "data": str(r["redactedContent"])}))  # fmt: skip
    out.append(_finish(data.get("stopReason"), tools))
    out.append(_usage(data.get("usage")))
    return out


def decode_converse(body: bytes) -> list[Event]:
    return converse_events(json_body(body, "bedrock"))


class ConverseBodyDecoder:
    """A Converse (not streamed) answer read as a stream: the body is kept until its end,
    then becomes the events a stream would have carried."""

    __slots__ = ("_body", "_max")

    def __init__(self) -> None:
        self._body = bytearray()
        self._max = MAX_EVENT_BYTES

    def limit_events(self, max_bytes: int) -> None:
        """The answer is one event here: it may not grow past `max_bytes`."""
        self._max = max_bytes

    def feed(self, data: bytes) -> list[Event]:
        self._body += data
        if len(self._body) > self._max:
            raise UpstreamProtocolError(
                f"the upstream's answer is larger than the {self._max // 1024} KiB limit "
                "(litecursor_settings.max_event_kb)"
            )
        return []

    def close(self) -> list[Event]:
        body = bytes(self._body)
        self._body.clear()
        if not body:
            return [truncated()]
        try:
            return decode_converse(body)
        except UpstreamProtocolError as e:
            return [StreamError(e)]
