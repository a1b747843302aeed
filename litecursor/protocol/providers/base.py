"""What every upstream API adapter provides: build its HTTP request, decode its stream and errors."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import orjson

from ...errors import (
    LitecursorError,
    UpstreamError,
    UpstreamProtocolError,
    from_upstream,
)
from ..sse import MAX_EVENT_BYTES, EventTooLarge, SSEDecoder, SSEEvent
from ..tools import CustomCallUnwrapper
from ..types import ChatRequest, Event, StreamError


@dataclass(frozen=True, slots=True)
class RequestDefaults:
    """Request parameters from a deployment's `litellm_params`, used when the client sent none."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    #: Anthropic and Gemini only (OpenAI's APIs have no top_k)
    top_k: int | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    reasoning_effort: str | None = None


@dataclass(frozen=True, slots=True)
class AdapterOptions:
    """Provider-specific settings of a deployment, each settable in `litellm_params`."""

    #: Anthropic and Gemini: thinking tokens, overriding the effort table (0 turns thinking off)
    thinking_budget: int | None = None
    #: Gemini: `safetySettings`, passed through as written
    safety_settings: tuple[Mapping[str, Any], ...] | None = None
    #: Chat Completions: ask for the usage chunk (`stream_options.include_usage`); some
    #: OpenAI-compatible servers refuse `stream_options`
    stream_usage: bool = True
    #: `litecursor_settings.prompt_caching: auto`: Anthropic's cache breakpoints, OpenAI's
    #: `prompt_cache_key` from Cursor's conversation id
    prompt_caching: bool = True
    #: mock/: seconds between streamed chunks
    mock_delay: float = 0.0
    #: Bedrock: whether ConverseStream takes tools for this model (None: by AWS's table of
    #: models; a model that refuses them is learned as False); without, a streamed request
    #: with tools goes through Converse
    stream_tools: bool | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """The provider-facing half of a deployment: where to send and with which credentials."""

    provider: str
    model: str
    api_base: str
    api_key: str | None = None
    api_version: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    defaults: RequestDefaults = RequestDefaults()
    options: AdapterOptions = AdapterOptions()


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


class StreamDecoder(Protocol):
    """Bytes of an upstream streaming response in, internal events out.

    `feed` takes any slice of the body; `close` is called at the end of the body and reports
    a stream that stopped before the provider said it was done (as a `StreamError`).
    """

    def feed(self, data: bytes) -> list[Event]: ...

    def close(self) -> list[Event]: ...


class Provider(ABC):
    """One upstream API. Stateless: per-request state lives in the decoder it hands out."""

    name: ClassVar[str]
    #: the upstream understands free-text custom tools natively (OpenAI Responses)
    native_custom_tools: ClassVar[bool] = False

    @abstractmethod
    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        """The upstream request for `req`; only parameters the upstream accepts."""

    @abstractmethod
    def stream_decoder(self, req: ChatRequest, target: Target) -> StreamDecoder:
        """A fresh decoder for one streaming response."""

    @abstractmethod
    def decode_body(self, body: bytes, req: ChatRequest, target: Target) -> list[Event]:
        """The events of one whole non-streaming response."""

    def retarget(self, error: LitecursorError, req: ChatRequest, target: Target) -> Target | None:
        """When `error` says the model lacks a way of being asked that its settings assumed
        (Bedrock's ConverseStream refusing tools for a model not known to), the settings that
        ask it the way it takes; the caller sends `req` again with them, once, and keeps them
        for the model. None for any other error."""
        return None

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> LitecursorError:
        """Map an HTTP error response to the client-facing error. Reads the common
        ``{"error": {"message", "type", "code", "param"}}`` shape; override for others."""
        message, code, param = error_fields(body)
        return from_upstream(
            status,
            message,
            code=code,
            param=param,
            retry_after=retry_after_seconds(headers),
            provider=self.name,
        )

    # -- what the shell calls -----------------------------------------------------------

    def open_decoder(
        self, req: ChatRequest, target: Target, max_event_bytes: int = MAX_EVENT_BYTES
    ) -> StreamDecoder:
        """The stream decoder, with custom-tool calls unwrapped for upstreams that only know
        function tools (they answer `{"input": "<raw>"}`; the client must get the raw text).
        An event larger than `max_event_bytes` ends the stream with `UpstreamProtocolError`."""
        dec = self.stream_decoder(req, target)
        limit = getattr(dec, "limit_events", None)  # decoders that hold an event until its end
        if limit is not None:
            limit(max_event_bytes)
        if not self.native_custom_tools and req.custom_tool_names:
            return CustomCallUnwrapper(dec, req.custom_tool_names)
        return dec

    def decode_response(self, body: bytes, req: ChatRequest, target: Target) -> list[Event]:
        events = self.decode_body(body, req, target)
        if not self.native_custom_tools and req.custom_tool_names:
            return CustomCallUnwrapper.unwrap_all(events, req.custom_tool_names)
        return events


def json_body(body: bytes, provider: str, kinds: tuple[type, ...] = (dict,)) -> Any:
    """A non-streamed answer's JSON object (or another of `kinds`). Anything else (a proxy's
    HTML page with a 200, plain text) is the provider breaking its own API: a 502, not our 500."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, kinds):
        raise UpstreamProtocolError(
            f"{provider} answered with a body that is not a JSON object: {body[:200]!r}"
        )
    return data


TRUNCATED = "the upstream closed the stream before it finished"


def truncated() -> StreamError:
    """The event for a stream that ended before the provider said it was done."""
    return StreamError(UpstreamError(TRUNCATED, code="upstream_stream_truncated"))


def unreadable(data: bytes, what: str = "event") -> StreamError:
    """The event for a stream event whose JSON does not parse (`what`: the provider's word
    for one, "event" or "chunk")."""
    return StreamError(
        UpstreamProtocolError(f"the upstream sent an unreadable {what}: {data[:200]!r}")
    )


def stream_failure(
    status: int | None, message: str, *, code: str | None = None, provider: str
) -> StreamError:
    """An error the upstream reported inside its stream, as the error the same failure would
    have been as an HTTP status (`status`: the one the provider's error kind stands for; None
    when it names none, a failure on the provider's side)."""
    if status is None:
        return StreamError(UpstreamError(message, code=code))
    return StreamError(from_upstream(status, message, code=code, provider=provider))


def bearer_headers(target: Target) -> dict[str, str]:
    """JSON request headers with the key as `Authorization: Bearer` (OpenAI and the servers
    that copy its API), then the deployment's own headers."""
    headers = {"content-type": "application/json"}
    if target.api_key:
        headers["authorization"] = f"Bearer {target.api_key}"
    headers.update(target.headers)
    return headers


class SSEStreamDecoder:
    """Base of the decoders of SSE-framed upstream streams: the framing is fed the bytes, each
    event goes to `_event`, and `_at_close` reports at the close whether the stream was finished."""

    __slots__ = ("_sse",)

    def __init__(self) -> None:
        self._sse = SSEDecoder()

    def limit_events(self, max_bytes: int) -> None:
        """Set the largest event accepted (before the first `feed`)."""
        self._sse = SSEDecoder(max_bytes)

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        try:
            events = self._sse.feed(data)
        except EventTooLarge as e:
            # raised, not reported as an event: the shell stops reading and drops the upstream
            raise UpstreamProtocolError(
                f"the upstream stream is broken: {e} (litecursor_settings.max_event_kb)"
            ) from None
        for ev in events:
            self._event(ev, out)
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        for ev in self._sse.close():
            self._event(ev, out)
        self._at_close(out)
        return out

    def _event(self, ev: SSEEvent, out: list[Event]) -> None:
        raise NotImplementedError

    def _at_close(self, out: list[Event]) -> None:
        raise NotImplementedError


def error_fields(body: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, param) from an error body in the OpenAI/Anthropic/Gemini shapes,
    falling back to the raw text (cut to 500 characters) when it is not JSON."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:500] or "no error message"), None, None
    if isinstance(data, list) and data:  # Gemini sometimes wraps the error in a list
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        message = err.get("message")
        code = err.get("code")
        if code is None or isinstance(code, int):
            # Anthropic and Gemini put the kind in "type" / "status"; an int code is the HTTP status
            code = err.get("type") or err.get("status")
        param = err.get("param")
        return (
            str(message) if message else str(err),
            str(code) if code is not None else None,
            str(param) if param is not None else None,
        )
    if isinstance(err, str):
        return err, None, None
    return str(data)[:500], None, None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds; HTTP dates are not used by
    LLM APIs and are ignored)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    return None


CALL_ID_MAX = 64  # OpenAI's limit on call ids (Chat and Responses)


def short_call_id(call_id: str, limit: int = CALL_ID_MAX) -> str:
    """A call id within `limit` characters: a longer one becomes a stable hash, so a call and
    its result (shortened separately) still match."""
    if len(call_id) <= limit:
        return call_id
    return "call_lc" + hashlib.sha256(call_id.encode()).hexdigest()[: min(48, limit - 7)]


def prompt_cache_key(req: ChatRequest, target: Target) -> str | None:
    """The client's `prompt_cache_key`, else (with `prompt_caching: auto`) Cursor's
    conversation id: OpenAI routes requests with one key to the same cache, so each turn of a
    conversation reads the previous turn's prefix."""
    if req.prompt_cache_key is not None:
        return req.prompt_cache_key
    return req.conversation_id if target.options.prompt_caching else None


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")
