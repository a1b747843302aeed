"""OpenAI Responses API (`POST /v1/responses`): request building and the event-stream decoder.

Placement of system text: the system messages that open the conversation become
`instructions` (joined in order with a blank line); a system message that arrives later
becomes a `developer` message item at its own position, so what came before and after it
keeps its order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

from ..sse import SSEDecoder
from ..tools import unwrap_custom_arguments
from ..types import (
    ChatRequest,
    Event,
    Finish,
    ImagePart,
    Message,
    ReasoningDelta,
    ReasoningItem,
    RefusalDelta,
    StreamError,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from .base import HttpRequest, Provider, Target, join_url

_ID_MAX = 64  # the API rejects a longer call_id or user
_MIN_OUTPUT_TOKENS = 16  # the API rejects a smaller max_output_tokens
# Responses-only fields a client may send that the API accepts as they are
_EXTRAS = (
    "include", "store", "truncation", "prompt_cache_retention", "previous_response_id",
    "prompt_cache_key",
)  # fmt: skip


def short_call_id(call_id: str) -> str:
    """A call id the API accepts: ids over 64 characters become a stable hash, so a call and
    its output (shortened separately) still match."""
    if len(call_id) <= _ID_MAX:
        return call_id
    return "call_lc" + hashlib.sha256(call_id.encode()).hexdigest()[:48]


def restore_map(req: ChatRequest) -> dict[str, str]:
    """Shortened call id -> the client's original, for the ids this request had to shorten."""
    out: dict[str, str] = {}
    for m in req.messages:
        for cid in (*(tc.id for tc in m.tool_calls), m.tool_call_id or ""):
            if len(cid) > _ID_MAX:
                out[short_call_id(cid)] = cid
    return out


# ---------------------------------------------------------------------------------------------
# request
# ---------------------------------------------------------------------------------------------


def _parts(m: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for p in m.content:
        if isinstance(p, ImagePart):
            parts.append({"type": "input_image", "image_url": p.url, "detail": p.detail or "auto"})
        else:
            parts.append({"type": "input_text", "text": p.text})
    return parts or [{"type": "input_text", "text": ""}]


def _call_item(tc: ToolCall, custom: bool) -> dict[str, Any]:
    cid = short_call_id(tc.id)
    if not custom:
        args = tc.arguments or "{}"
        return {"type": "function_call", "call_id": cid, "name": tc.name, "arguments": args}
    # a custom call replayed as a function envelope may still be JSON-wrapped
    raw = tc.arguments if tc.kind == "custom" else unwrap_custom_arguments(tc.arguments)
    return {"type": "custom_tool_call", "call_id": cid, "name": tc.name, "input": raw}


def input_items(req: ChatRequest) -> tuple[str | None, list[dict[str, Any]]]:
    """(instructions, input items) for the request's conversation."""
    custom_names = req.custom_tool_names
    custom_ids = {
        tc.id
        for m in req.messages
        for tc in m.tool_calls
        if tc.kind == "custom" or tc.name in custom_names
    }
    call_ids = {tc.id for m in req.messages for tc in m.tool_calls}
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for m in req.messages:
        if m.role == "system":
            if items:
                items.append({"type": "message", "role": "developer", "content": _parts(m)})
            else:
                instructions.append(m.text)
        elif m.role == "user":
            items.append({"type": "message", "role": "user", "content": _parts(m)})
        elif m.role == "assistant":
            turn = [_call_item(tc, tc.id in custom_ids) for tc in m.tool_calls]
            if m.text:
                content = [{"type": "output_text", "text": m.text}]
                turn.insert(0, {"type": "message", "role": "assistant", "content": content})
            if turn:  # a reasoning item must be followed by the item it produced
                items.extend(m.reasoning)
                items.extend(turn)
        else:
            cid = m.tool_call_id or ""
            # an answer to an unknown call can only be matched by its tool's name
            custom = cid in custom_ids if cid in call_ids else m.name in custom_names
            images = any(isinstance(p, ImagePart) for p in m.content)
            items.append(
                {
                    "type": "custom_tool_call_output" if custom else "function_call_output",
                    "call_id": short_call_id(cid),
                    "output": _parts(m) if images else m.text,
                }
            )
    return ("\n\n".join(instructions) if instructions else None), items


def _tools(req: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in req.tools:
        tool: dict[str, Any]
        if t.kind == "custom":
            tool = {"type": "custom", "name": t.name}
            if t.description:
                tool["description"] = t.description
            if t.format:
                tool["format"] = t.format
        else:
            tool = {"type": "function", "name": t.name}
            if t.description:
                tool["description"] = t.description
            tool["parameters"] = t.parameters or {"type": "object", "properties": {}}
            # the Responses API defaults `strict` to true, which rejects ordinary schemas
            tool["strict"] = bool(t.strict)
        out.append(tool)
    return out


def _reasoning(effort: str | None, summary: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if effort is not None:
        out["effort"] = effort
    if summary is None and effort not in (None, "none"):
        summary = "auto"  # without it the API streams no summary at all
    if summary is not None:
        out["summary"] = summary
    return out


def _text(req: ChatRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if req.verbosity is not None:
        out["verbosity"] = req.verbosity
    rf = req.response_format
    if rf is not None and rf.type == "json_schema":
        fmt: dict[str, Any] = {"type": "json_schema", "name": rf.name or "response"}
        fmt["schema"] = rf.schema or {}
        if rf.strict is not None:
            fmt["strict"] = rf.strict
        out["format"] = fmt
    elif rf is not None:
        out["format"] = {"type": rf.type}
    return out


def build_responses_body(req: ChatRequest, target: Target) -> dict[str, Any]:
    """The Responses API body. Only fields the API defines, and only when set."""
    instructions, items = input_items(req)
    body: dict[str, Any] = {"model": target.model}
    if instructions is not None:
        body["instructions"] = instructions
    body["input"] = items
    if req.stream:
        body["stream"] = True
    if req.tools:
        body["tools"] = _tools(req)
        tc = req.tool_choice
        if tc is not None:
            if tc.name:
                tool = req.tool(tc.name)
                kind = "custom" if tool is not None and tool.kind == "custom" else "function"
                body["tool_choice"] = {"type": kind, "name": tc.name}
            else:
                body["tool_choice"] = tc.mode
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    d = target.defaults
    max_tokens = (
        req.max_tokens
        if req.max_tokens is not None
        else d.get("max_tokens", d.get("max_output_tokens"))
    )
    if max_tokens is not None:
        body["max_output_tokens"] = max(int(max_tokens), _MIN_OUTPUT_TOKENS)
    effort = req.reasoning_effort if req.reasoning_effort is not None else d.get("reasoning_effort")
    # reasoning models refuse sampling parameters (400 "Unsupported parameter: 'temperature'")
    sampling = effort is None or effort == "none"
    for name in ("temperature", "top_p"):
        value = getattr(req, name)
        if value is None:
            value = d.get(name)
        if value is not None and sampling:
            body[name] = value
    reasoning = _reasoning(effort, req.reasoning_summary)
    if reasoning:
        body["reasoning"] = reasoning
    text = _text(req)
    if text:
        body["text"] = text
    extras = req.responses_extras
    for name in _EXTRAS:
        if extras.get(name) is not None:
            body[name] = extras[name]
    body.setdefault("store", False)  # litecursor resends the whole history every turn
    if req.conversation_id and "prompt_cache_key" not in body:
        body["prompt_cache_key"] = req.conversation_id
    if req.service_tier is not None:
        body["service_tier"] = "priority" if req.service_tier == "fast" else req.service_tier
    if req.user:
        body["user"] = req.user[:_ID_MAX]
    return body


class OpenAIResponsesProvider(Provider):
    name = "openai"
    native_custom_tools = True

    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        headers = {"content-type": "application/json"}
        if target.api_key:
            headers["authorization"] = f"Bearer {target.api_key}"
        headers.update(target.headers)
        return HttpRequest(
            "POST",
            join_url(target.api_base or "https://api.openai.com/v1", "responses"),
            headers,
            orjson.dumps(build_responses_body(req, target)),
        )

    def stream_decoder(self, req: ChatRequest, target: Target) -> ResponsesStreamDecoder:
        return ResponsesStreamDecoder(restore_map(req))

    def decode_body(self, body: bytes, req: ChatRequest, target: Target) -> list[Event]:
        return decode_response_object(orjson.loads(body), restore_map(req))


# ---------------------------------------------------------------------------------------------
# responses
# ---------------------------------------------------------------------------------------------

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
        return StreamError(str(err or fallback))
    code = err.get("code") or err.get("type")
    return StreamError(
        str(err.get("message") or fallback),
        code=str(code) if code else None,
        status=_ERROR_STATUS.get(str(code), 502),
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
_TRUNCATED = "the upstream closed the stream before it finished"


class ResponsesStreamDecoder:
    """Responses SSE (`event:` + `data:`, no [DONE]) -> events. Tool calls are keyed by
    `output_index`; the stream is over at `response.completed` / `.incomplete` / `.failed`
    or `error`."""

    __slots__ = ("_calls", "_done", "_part", "_reasoned", "_restore", "_sse", "_texted")

    def __init__(self, restore: dict[str, str] | None = None) -> None:
        self._sse = SSEDecoder()
        self._restore = restore or {}
        self._calls: dict[int, bool] = {}  # output_index -> its arguments were delivered
        self._texted: set[int] = set()  # message items whose text came as deltas
        self._reasoned: set[int] = set()  # reasoning items whose text came as deltas
        self._part: tuple[Any, ...] | None = None  # the reasoning part last streamed
        self._done = False

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        for ev in self._sse.feed(data):
            if not self._done and ev.event not in _SKIP:
                self._event(ev.data, ev.event, out)
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        for ev in self._sse.close():
            if not self._done and ev.event not in _SKIP:
                self._event(ev.data, ev.event, out)
        if not self._done:
            self._done = True
            out.append(StreamError(_TRUNCATED, code="upstream_stream_truncated"))
        return out

    def _event(self, data: bytes, name: str | None, out: list[Event]) -> None:
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            message = f"the upstream sent an unreadable event: {data[:200]!r}"
            out.append(StreamError(message, code="upstream_protocol_error"))
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
