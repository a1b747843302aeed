"""OpenAI Chat Completions, and every OpenAI-compatible server (vLLM, Ollama, Groq, DeepSeek, ...)."""

from __future__ import annotations

from typing import Any

import orjson

from ..sse import SSEEvent
from ..tools import custom_tool_description, custom_tool_parameters, wrap_custom_arguments
from ..types import (
    ChatRequest,
    Event,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from .base import (
    HttpRequest,
    Provider,
    SSEStreamDecoder,
    Target,
    bearer_headers,
    join_url,
    json_body,
    prompt_cache_key,
    short_call_id,
    stream_failure,
    truncated,
    unreadable,
)

# providers that are OpenAI itself: they take OpenAI-only fields (verbosity, service_tier, ...)
_OPENAI_FAMILY = frozenset({"openai", "azure"})
_USER_MAX = 64  # OpenAI rejects a longer `user`

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def chat_messages(req: ChatRequest) -> list[dict[str, Any]]:
    """The request's conversation as Chat Completions `messages`. All system and developer
    text becomes one leading system message, in order: many OpenAI-compatible servers (vLLM
    and others whose chat templates want the system prompt first) refuse one later on."""
    custom = req.custom_tool_names
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in req.messages:
        if m.role == "system":
            text = m.text
            if text:
                system.append(text)
        else:
            out.append(_message(m, custom))
    if system:
        out.insert(0, {"role": "system", "content": "\n\n".join(system)})
    return out


def _message(m: Message, custom: frozenset[str]) -> dict[str, Any]:
    content = m.content
    # one text part is the usual content: no join to make, no image to look for
    one = content[0] if len(content) == 1 else None
    text = one.text if isinstance(one, TextPart) else m.text
    if m.role == "tool":
        return {
            "role": "tool",
            "tool_call_id": short_call_id(m.tool_call_id or ""),
            "content": text,
        }
    if m.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": text or None}
        if m.tool_calls:
            out["tool_calls"] = [
                {
                    "id": short_call_id(tc.id),  # Cursor's ids may be longer than the API takes
                    "type": "function",
                    "function": {
                        "name": tc.name,
                        "arguments": wrap_custom_arguments(tc.arguments)
                        if tc.kind == "custom" or tc.name in custom
                        else (tc.arguments or "{}"),
                    },
                }
                for tc in m.tool_calls
            ]
        elif out["content"] is None:
            out["content"] = ""
        return out
    if (
        isinstance(one, TextPart)
        or m.role == "system"
        or not any(isinstance(p, ImagePart) for p in content)
    ):
        return {"role": m.role, "content": text}
    parts: list[dict[str, Any]] = []
    for p in content:
        if isinstance(p, ImagePart):
            image: dict[str, Any] = {"url": p.url}
            if p.detail:
                image["detail"] = p.detail
            parts.append({"type": "image_url", "image_url": image})
        else:
            parts.append({"type": "text", "text": p.text})
    return {"role": m.role, "content": parts}


def chat_tools(req: ChatRequest) -> list[dict[str, Any]]:
    tools = []
    for t in req.tools:
        if t.kind == "custom":
            fn: dict[str, Any] = {
                "name": t.name,
                "description": custom_tool_description(t),
                "parameters": custom_tool_parameters(),
            }
        else:
            fn = {
                "name": t.name,
                "parameters": t.parameters or {"type": "object", "properties": {}},
            }
            if t.description:
                fn["description"] = t.description
            if t.strict is not None:
                fn["strict"] = t.strict
        tools.append({"type": "function", "function": fn})
    return tools


def build_chat_body(req: ChatRequest, target: Target) -> dict[str, Any]:
    """The Chat Completions body. Only fields the API defines, and only when set."""
    family = target.provider in _OPENAI_FAMILY
    body: dict[str, Any] = {"model": target.model, "messages": chat_messages(req)}
    if req.stream:
        body["stream"] = True
        if target.options.stream_usage:
            body["stream_options"] = {"include_usage": True}
    if req.tools:
        body["tools"] = chat_tools(req)
        if req.tool_choice is not None:
            tc = req.tool_choice
            body["tool_choice"] = (
                {"type": "function", "function": {"name": tc.name}} if tc.name else tc.mode
            )
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    max_tokens = req.max_tokens if req.max_tokens is not None else target.defaults.max_tokens
    if max_tokens is not None:
        # OpenAI's reasoning models refuse `max_tokens`; most compatible servers only know it
        body["max_completion_tokens" if family else "max_tokens"] = max_tokens
    temperature = req.temperature if req.temperature is not None else target.defaults.temperature
    if temperature is not None:
        body["temperature"] = temperature
    for name in ("top_p", "seed", "presence_penalty", "frequency_penalty"):
        value = getattr(req, name)
        if value is None:
            value = getattr(target.defaults, name)
        if value is not None:
            body[name] = value
    if req.stop:
        body["stop"] = list(req.stop)
    if req.response_format is not None:
        rf = req.response_format
        if rf.type == "json_schema":
            schema: dict[str, Any] = {"name": rf.name or "response", "schema": rf.schema or {}}
            if rf.strict is not None:
                schema["strict"] = rf.strict
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        else:
            body["response_format"] = {"type": rf.type}
    if req.reasoning_effort is not None:
        body["reasoning_effort"] = req.reasoning_effort
    if family:
        if req.verbosity is not None:
            body["verbosity"] = req.verbosity
        if req.service_tier is not None:
            body["service_tier"] = "priority" if req.service_tier == "fast" else req.service_tier
        if req.user:
            body["user"] = req.user[:_USER_MAX]
    if target.provider == "openai":  # not every Azure api-version or compatible server takes it
        cache_key = prompt_cache_key(req, target)
        if cache_key is not None:
            body["prompt_cache_key"] = cache_key
    return body


def usage_from_openai(u: dict[str, Any]) -> Usage:
    """Usage from a Chat Completions `usage` object."""
    ptd = u.get("prompt_tokens_details") or {}
    ctd = u.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=int(u.get("prompt_tokens") or 0),
        completion_tokens=int(u.get("completion_tokens") or 0),
        cached_tokens=ptd.get("cached_tokens"),
        reasoning_tokens=ctd.get("reasoning_tokens"),
    )


class OpenAIChatProvider(Provider):
    name = "openai"

    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        return HttpRequest(
            "POST",
            join_url(target.api_base, "chat/completions"),
            bearer_headers(target),
            orjson.dumps(build_chat_body(req, target)),
        )

    def stream_decoder(self, req: ChatRequest, target: Target) -> ChatStreamDecoder:
        return ChatStreamDecoder()

    def decode_body(self, body: bytes, req: ChatRequest, target: Target) -> list[Event]:
        return decode_chat_completion(json_body(body, self.name))


class ChatStreamDecoder(SSEStreamDecoder):
    """`chat.completion.chunk` SSE -> events. Only choice 0 is read (litecursor asks for one)."""

    __slots__ = ("_done", "_finished", "_seen")

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[int | str] = set()
        self._finished = False
        self._done = False

    def _at_close(self, out: list[Event]) -> None:
        if not self._done and not self._finished:
            out.append(truncated())

    def _event(self, ev: SSEEvent, out: list[Event]) -> None:
        data = ev.data
        if data == b"[DONE]":
            self._done = True
            return
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            out.append(unreadable(data, "chunk"))
            return
        if not isinstance(chunk, dict):
            return
        err = chunk.get("error")
        if err:
            message = err.get("message") if isinstance(err, dict) else str(err)
            code = err.get("code") if isinstance(err, dict) else None
            out.append(
                stream_failure(
                    None, str(message or err), code=str(code) if code else None, provider="openai"
                )
            )
            self._finished = True
            return
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if delta:
                self._delta(delta, out)
            reason = choice.get("finish_reason")
            if reason:
                out.append(Finish(_FINISH.get(reason, "stop")))
                self._finished = True
        usage = chunk.get("usage")
        if usage:
            out.append(usage_from_openai(usage))

    def _delta(self, delta: dict[str, Any], out: list[Event]) -> None:
        # vLLM and OpenRouter call it `reasoning`, DeepSeek `reasoning_content`
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            out.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if content:
            out.append(TextDelta(content))
        refusal = delta.get("refusal")
        if refusal:
            out.append(RefusalDelta(refusal))
        for tc in delta.get("tool_calls") or ():
            key = tc.get("index")
            if key is None:
                key = tc.get("id") or 0
            fn = tc.get("function") or {}
            if key not in self._seen:
                self._seen.add(key)
                out.append(ToolCallStart(key, tc.get("id") or f"call_{key}", fn.get("name") or ""))
            args = fn.get("arguments")
            if args:
                out.append(ToolCallDelta(key, args))


def decode_chat_completion(data: dict[str, Any]) -> list[Event]:
    """A whole `chat.completion` object -> the same events its stream would give."""
    out: list[Event] = []
    choices = data.get("choices") or []
    choice = next((c for c in choices if c.get("index", 0) == 0), None)
    if choice is not None:
        msg = choice.get("message") or {}
        reasoning = msg.get("reasoning_content") or msg.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            out.append(ReasoningDelta(reasoning))
        if msg.get("content"):
            out.append(TextDelta(msg["content"]))
        if msg.get("refusal"):
            out.append(RefusalDelta(msg["refusal"]))
        for i, tc in enumerate(msg.get("tool_calls") or ()):
            fn = tc.get("function") or {}
            out.append(ToolCallStart(i, tc.get("id") or f"call_{i}", fn.get("name") or ""))
            if fn.get("arguments"):
                out.append(ToolCallDelta(i, fn["arguments"]))
        out.append(Finish(_FINISH.get(choice.get("finish_reason") or "stop", "stop")))
    if data.get("usage"):
        out.append(usage_from_openai(data["usage"]))
    return out
