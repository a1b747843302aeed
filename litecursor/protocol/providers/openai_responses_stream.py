"""OpenAI Responses API: the event-stream decoder and whole-response decoding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ..sse import SSEEvent
from ..types import (
    Event,
    Finish,
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

# HTTP status an in-stream error would have had before the stream started
_ERROR_STATUS = {
    "insufficient_quota": 429,
    "rate_limit_exceeded": 429,
    "context_length_exceeded": 400,
    "invalid_prompt": 400,
}


def usage_from_responses(u: dict[str, Any]) -> Usage:
    itd = u.get("input_tokens_details") or {}
    otd = u.get("output_tokens_details") or {}
    return Usage(
        prompt_tokens=int(u.get("input_tokens") or 0),
        completion_tokens=int(u.get("output_tokens") or 0),
        cached_tokens=itd.get("cached_tokens"),
        reasoning_tokens=otd.get("reasoning_tokens"),
    )


def _error(err: Any, fallback: str) -> StreamError:
    if not isinstance(err, dict):
        return stream_failure(None, str(err or fallback), provider="openai")
    code = err.get("code") or err.get("type")
    return stream_failure(
        _ERROR_STATUS.get(str(code)),
        str(err.get("message") or fallback),
        code=str(code) if code else None,
        provider="openai",
    )


def _end_events(resp: dict[str, Any], has_calls: bool, status: str | None = None) -> list[Event]:
    """Finish (or the error) and usage for a final response object."""
    out: list[Event] = []
    status = status or resp.get("status")
    if status == "failed":
        out.append(_error(resp.get("error"), "the upstream response failed"))
    elif status == "incomplete":
        reason = (resp.get("incomplete_details") or {}).get("reason")
        out.append(Finish("content_filter" if reason == "content_filter" else "length"))
    else:
        out.append(Finish("tool_calls" if has_calls else "stop"))
    if resp.get("usage"):
        out.append(usage_from_responses(resp["usage"]))
    return out


def _message_events(item: dict[str, Any], out: list[Event]) -> None:
    for part in item.get("content") or ():
        if part.get("type") == "output_text" and part.get("text"):
            out.append(TextDelta(part["text"]))
        elif part.get("type") == "refusal" and part.get("refusal"):
            out.append(RefusalDelta(part["refusal"]))


def _reasoning_text(item: dict[str, Any]) -> str:
    texts = [s.get("text") or "" for s in item.get("summary") or ()]
    if not any(texts):
        texts = [c.get("text") or "" for c in item.get("content") or ()]
    return "\n\n".join(t for t in texts if t)


_CALL_ITEMS = frozenset({"function_call", "custom_tool_call"})


def _call_start(key: int, item: dict[str, Any], restore: dict[str, str], out: list[Event]) -> bool:
    """Announce a function or custom call item; True when it already carried its arguments."""
    custom = item.get("type") == "custom_tool_call"
    cid = item.get("call_id") or f"call_{key}"
    name = item.get("name") or ""
    out.append(ToolCallStart(key, restore.get(cid, cid), name, "custom" if custom else "function"))
    args = item.get("input" if custom else "arguments")
    if args:
        out.append(ToolCallDelta(key, args))
    return bool(args)


def decode_response_object(
    data: dict[str, Any], restore: dict[str, str] | None = None
) -> list[Event]:
    """A whole `response` object -> the same events its stream would give."""
    out: list[Event] = []
    has_calls = reasoned = False
    for i, item in enumerate(data.get("output") or ()):
        kind = item.get("type")
        if kind == "message":
            _message_events(item, out)
        elif kind == "reasoning":
            text = _reasoning_text(item)
            if text:
                out.append(ReasoningDelta("\n\n" + text if reasoned else text))
                reasoned = True
            if item.get("encrypted_content"):
                out.append(ReasoningItem(item))
        elif kind in _CALL_ITEMS:
            has_calls = True
            _call_start(i, item, restore or {}, out)
    out.extend(_end_events(data, has_calls))
    return out


# events that carry nothing the decoder needs: skipped by SSE event name, without parsing
_SKIP = frozenset({
    "response.created", "response.in_progress", "response.queued",
    "response.content_part.added", "response.content_part.done",
    "response.output_text.done", "response.refusal.done", "response.output_text.annotation.added",
    "response.reasoning_summary_part.added", "response.reasoning_summary_part.done",
    "response.reasoning_summary_text.done", "response.reasoning_text.done",
    "response.custom_tool_call_input.done",
})  # fmt: skip


class ResponsesStreamDecoder(SSEStreamDecoder):
    """Responses SSE (`event:` + `data:`, no [DONE]) -> events. Tool calls are keyed by
    `output_index`; the stream is over at `response.completed` / `.incomplete` / `.failed`
    or `error`."""

    __slots__ = ("_calls", "_done", "_part", "_reasoned", "_restore", "_texted")

    def __init__(self, restore: dict[str, str] | None = None) -> None:
        super().__init__()
        self._restore = restore or {}
        self._calls: dict[int, bool] = {}  # output_index -> its arguments were delivered
        self._texted: set[int] = set()  # message items whose text came as deltas
        self._reasoned: set[int] = set()  # reasoning items whose text came as deltas
        self._part: tuple[Any, ...] | None = None  # the reasoning part last streamed
        self._done = False

    def _at_close(self, out: list[Event]) -> None:
        if not self._done:
            self._done = True
            out.append(truncated())

    def _event(self, sse: SSEEvent, out: list[Event]) -> None:
        name = sse.event
        if self._done or name in _SKIP:
            return
        data = sse.data
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            out.append(unreadable(data))
            return
        if isinstance(ev, dict):
            # the payload's `type` names the event; the SSE `event:` line stands in without it
            kind = ev.setdefault("type", name)
            handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
            if handler is not None:
                handler(self, ev, out)

    # -- handlers ---------------------------------------------------------------------------

    def _item_added(self, ev: dict[str, Any], out: list[Event]) -> None:
        item = ev.get("item") or {}
        if item.get("type") in _CALL_ITEMS:
            key = int(ev.get("output_index") or 0)
            self._calls[key] = _call_start(key, item, self._restore, out)

    def _item_done(self, ev: dict[str, Any], out: list[Event]) -> None:
        item = ev.get("item") or {}
        kind = item.get("type")
        key = int(ev.get("output_index") or 0)
        if kind in _CALL_ITEMS:
            if key not in self._calls:
                self._calls[key] = _call_start(key, item, self._restore, out)
            elif not self._calls[key]:  # arguments that came only with the finished item
                args = item.get("input" if kind == "custom_tool_call" else "arguments")
                if args:
                    self._calls[key] = True
                    out.append(ToolCallDelta(key, args))
        elif kind == "reasoning":
            if key not in self._reasoned:
                text = _reasoning_text(item)
                if text:
                    self._reasoning(("item", key), key, text, out)
            if item.get("encrypted_content"):
                out.append(ReasoningItem(item))
        elif kind == "message" and key not in self._texted:
            _message_events(item, out)

    def _content(self, ev: dict[str, Any], out: list[Event]) -> None:
        delta = ev.get("delta")
        if delta:
            self._texted.add(ev.get("output_index") or 0)
            is_text = ev["type"] == "response.output_text.delta"
            out.append(TextDelta(delta) if is_text else RefusalDelta(delta))

    def _args(self, ev: dict[str, Any], out: list[Event]) -> None:
        key = int(ev.get("output_index") or 0)
        if key not in self._calls:
            return
        if "delta" in ev:
            args = ev["delta"]
        elif self._calls[key]:  # `function_call_arguments.done` repeats what the deltas gave
            return
        else:
            args = ev.get("arguments")
        if args:
            self._calls[key] = True
            out.append(ToolCallDelta(key, args))

    def _reasoning_event(self, ev: dict[str, Any], out: list[Event]) -> None:
        delta = ev.get("delta")
        if delta:
            key = ev.get("output_index") or 0
            index = ev.get("summary_index", ev.get("content_index"))
            self._reasoning((ev["type"], key, index), key, delta, out)

    def _reasoning(self, part: tuple[Any, ...], key: int, text: str, out: list[Event]) -> None:
        # separate summary parts read as paragraphs, as in the non-streaming summary list
        if part != self._part:
            if self._part is not None:
                text = "\n\n" + text
            self._part = part
        self._reasoned.add(key)
        out.append(ReasoningDelta(text))

    def _end(self, ev: dict[str, Any], out: list[Event]) -> None:
        self._done = True
        status = "incomplete" if ev["type"] == "response.incomplete" else None
        out.extend(_end_events(ev.get("response") or {}, bool(self._calls), status))

    def _failed(self, ev: dict[str, Any], out: list[Event]) -> None:
        self._done = True
        out.append(_error((ev.get("response") or {}).get("error"), "the upstream response failed"))

    def _error_event(self, ev: dict[str, Any], out: list[Event]) -> None:
        self._done = True
        # newer streams nest the error object; the documented form has its fields at the top
        err = ev.get("error")
        if not isinstance(err, dict):
            err = {"message": ev.get("message"), "code": ev.get("code")}
        out.append(_error(err, "the upstream reported an error"))


_Handler = Callable[[ResponsesStreamDecoder, dict[str, Any], list[Event]], None]
_D = ResponsesStreamDecoder
_HANDLERS: dict[str, _Handler] = {
    "response.output_item.added": _D._item_added,
    "response.output_item.done": _D._item_done,
    "response.output_text.delta": _D._content,
    "response.refusal.delta": _D._content,
    "response.function_call_arguments.delta": _D._args,
    "response.custom_tool_call_input.delta": _D._args,
    "response.function_call_arguments.done": _D._args,
    "response.reasoning_summary_text.delta": _D._reasoning_event,
    "response.reasoning_text.delta": _D._reasoning_event,
    "response.completed": _D._end,
    "response.incomplete": _D._end,
    "response.failed": _D._failed,
    "error": _D._error_event,
}
