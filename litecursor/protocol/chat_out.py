"""Internal events -> Chat Completions: `chat.completion.chunk` SSE, or one `chat.completion` object.

Both outputs share one set of rules (`_Turn`): tool calls are numbered 0, 1, 2... in the order
they start, whatever handle the upstream used; there is exactly one finish reason, and it is
`tool_calls` whenever a call was made; usage events are merged into one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import orjson

from ..errors import LitecursorError
from .sse import DONE
from .types import (
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

ReasoningDisplay = Literal["field", "think_tags", "hidden"]
THINK_OPEN = "<think>\n"
THINK_CLOSE = "\n</think>\n\n"
_CONTENT_KEY = b'"content":'
_REASONING_KEY = b'"reasoning_content":'
_TEXT_TAIL = b'},"finish_reason":null}]}\n\n'


def usage_dict(u: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
    }
    if u.cached_tokens is not None:
        out["prompt_tokens_details"] = {"cached_tokens": u.cached_tokens}
    if u.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
    if u.cache_creation_tokens is not None:
        # cache writes (Anthropic's), priced above plain input, under the names LiteLLM and
        # Anthropic use; reads are `prompt_tokens_details.cached_tokens` as for every upstream
        out["cache_creation_input_tokens"] = u.cache_creation_tokens
        out["cache_read_input_tokens"] = u.cached_tokens or 0
    return out


def merge_usage(old: Usage | None, new: Usage) -> Usage:
    """Providers may report usage in pieces (input first, output last): keep the larger of each."""
    if old is None:
        return new

    def pick(a: int | None, b: int | None) -> int | None:
        if a is None:
            return b
        if b is None:
            return a
        return max(a, b)

    return Usage(
        prompt_tokens=max(old.prompt_tokens, new.prompt_tokens),
        completion_tokens=max(old.completion_tokens, new.completion_tokens),
        cached_tokens=pick(old.cached_tokens, new.cached_tokens),
        reasoning_tokens=pick(old.reasoning_tokens, new.reasoning_tokens),
        cache_creation_tokens=pick(old.cache_creation_tokens, new.cache_creation_tokens),
    )


class _Turn:
    """State common to streaming and non-streaming output."""

    __slots__ = ("call_ids", "chars", "done", "finish", "indexes", "reasoning_items", "usage")

    def __init__(self) -> None:
        self.indexes: dict[int | str, int] = {}
        #: characters of text, reasoning and tool arguments produced: a cut stream's
        #: completion tokens are estimated from them when the upstream never said
        self.chars = 0
        #: the upstream said the turn was over (its finish event came)
        self.done = False
        self.call_ids: list[str] = []  # as the client saw them
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None
        self.reasoning_items: list[dict[str, Any]] = []

    def finish_reason(self, reason: FinishReason | None) -> FinishReason:
        # Agents stop when a turn with calls says "stop" (LiteLLM bridges did): calls win.
        if self.indexes and reason in (None, "stop"):
            return "tool_calls"
        return reason or "stop"

    def index_of(self, key: int | str) -> tuple[int, bool]:
        """(OpenAI index, is_new) for an upstream call handle."""
        idx = self.indexes.get(key)
        if idx is None:
            idx = self.indexes[key] = len(self.indexes)
            return idx, True
        return idx, False


class _TurnResults:
    """What the shell reads back from an encoder or a builder once the turn is over."""

    __slots__ = ("_turn",)

    def __init__(self) -> None:
        self._turn = _Turn()

    @property
    def usage(self) -> Usage | None:
        return self._turn.usage

    @property
    def reasoning_items(self) -> list[dict[str, Any]]:
        return self._turn.reasoning_items

    @property
    def call_ids(self) -> list[str]:
        return self._turn.call_ids

    @property
    def chars(self) -> int:
        return self._turn.chars

    @property
    def finish_reason(self) -> FinishReason | None:
        """The finish reason the client was sent (None: none yet)."""
        return self._turn.finish

    @property
    def done(self) -> bool:
        """Whether the upstream said the turn was over: else the answer was cut."""
        return self._turn.done


class ChunkEncoder(_TurnResults):
    """Streams events as `chat.completion.chunk` SSE bytes.

    One `id` and `created` per response, `model` is the name the client asked for, the first
    chunk carries `role: assistant`. Call `feed` per batch of upstream events, then `close`
    (finish if none came, the usage chunk when wanted, `[DONE]`), or `fail` for an error after
    the stream has started.
    """

    __slots__ = (
        "_delta_head",
        "_error_note",
        "_head",
        "_include_usage",
        "_reasoning",
        "_redact",
        "_role_head",
        "_role_sent",
        "_thinking",
        "closed",
        "created",
        "error",
        "id",
        "model",
        "noted",
    )

    def __init__(
        self,
        *,
        id: str,
        created: int,
        model: str,
        include_usage: bool,
        reasoning_display: ReasoningDisplay = "field",
        error_note: Callable[[LitecursorError], str | None] | None = None,
        redact: Callable[[LitecursorError], LitecursorError] | None = None,
    ) -> None:
        self.id = id
        self.created = created
        self.model = model
        self._include_usage = include_usage
        self._reasoning = reasoning_display
        #: the text that tells of an in-stream error as the answer's end instead of an `error`
        #: chunk, when it gives one (`cursor_errors: message`)
        self._error_note = error_note
        #: the stream's error was told as text (`error` holds it)
        self.noted = False
        #: cleans an error's message of credentials before it goes out (see `redaction`)
        self._redact = redact
        super().__init__()
        self._role_sent = False
        self._thinking = False  # inside an open <think> block
        self.closed = False
        #: the error that ended the stream, if one did
        self.error: LitecursorError | None = None
        # every chunk starts with the same bytes: serialise them once
        self._head = (
            b'data: {"id":'
            + orjson.dumps(id)
            + b',"object":"chat.completion.chunk","created":'
            + str(created).encode()
            + b',"model":'
            + orjson.dumps(model)
            + b',"choices":'
        )
        self._delta_head = self._head + b'[{"index":0,"delta":{'
        self._role_head = self._delta_head + b'"role":"assistant",'

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return self._head + orjson.dumps([choice]) + b"}\n\n"

    def _text_chunk(self, key: bytes, text: str) -> bytes:
        """The bytes `_chunk({field: text})` makes, built around the one string orjson encodes:
        most chunks of a stream are just text, so they skip the dicts."""
        if self._role_sent:
            head = self._delta_head
        else:
            head = self._role_head
            self._role_sent = True
        self._turn.chars += len(text)
        return b"".join((head, key, orjson.dumps(text), _TEXT_TAIL))

    def _flush(self, out: list[bytes], reasoning: list[str], text: list[str]) -> None:
        if reasoning:
            out.append(self._text_chunk(_REASONING_KEY, "".join(reasoning)))
            reasoning.clear()
        if text:
            out.append(self._text_chunk(_CONTENT_KEY, "".join(text)))
            text.clear()

    def feed(self, events: list[Event]) -> bytes:
        if self.closed:
            return b""
        if len(events) == 1 and type(events[0]) is TextDelta and not self._thinking:
            return self._text_chunk(_CONTENT_KEY, events[0].text)  # what the loop below makes of it
        out: list[bytes] = []
        text: list[str] = []  # consecutive text of this batch goes out as one chunk
        reasoning: list[str] = []

        for ev in events:
            if isinstance(ev, TextDelta | RefusalDelta):
                # a refusal is shown as text: Cursor renders no `refusal` field
                if self._thinking:
                    text.append(THINK_CLOSE)
                    self._thinking = False
                elif reasoning:
                    self._flush(out, reasoning, text)
                text.append(ev.text)
            elif isinstance(ev, ReasoningDelta):
                if self._reasoning == "field":
                    if text:
                        self._flush(out, reasoning, text)
                    reasoning.append(ev.text)
                elif self._reasoning == "think_tags":
                    if not self._thinking:
                        text.append(THINK_OPEN)
                        self._thinking = True
                    text.append(ev.text)
            elif isinstance(ev, ToolCallStart):
                self._close_think(text)
                self._flush(out, reasoning, text)
                idx, new = self._turn.index_of(ev.key)
                if new:
                    self._turn.call_ids.append(ev.id)
                    call = {
                        "index": idx,
                        "id": ev.id,
                        "type": "function",
                        "function": {"name": ev.name, "arguments": ""},
                    }
                    out.append(self._chunk({"tool_calls": [call]}))
            elif isinstance(ev, ToolCallDelta):
                self._flush(out, reasoning, text)
                self._turn.chars += len(ev.arguments)
                idx, new = self._turn.index_of(ev.key)
                if new:  # arguments for a call never announced: announce it
                    call = {
                        "index": idx,
                        "id": f"call_{idx}",
                        "type": "function",
                        "function": {"name": "", "arguments": ev.arguments},
                    }
                else:
                    call = {"index": idx, "function": {"arguments": ev.arguments}}
                out.append(self._chunk({"tool_calls": [call]}))
            elif isinstance(ev, Finish):
                self._close_think(text)
                self._flush(out, reasoning, text)
                self._turn.done = True
                if self._turn.finish is None:
                    self._turn.finish = self._turn.finish_reason(ev.reason)
                    out.append(self._chunk({}, self._turn.finish))
            elif isinstance(ev, Usage):
                self._turn.usage = merge_usage(self._turn.usage, ev)
            elif isinstance(ev, ReasoningItem):
                self._turn.reasoning_items.append(ev.data)
            elif isinstance(ev, StreamError):
                self._close_think(text)
                self.error = err = self._clean(ev.error)
                note = self._error_note(err) if self._error_note is not None else None
                if note is not None:  # the error ends the answer as text, and it finishes
                    text.append(f"\n\n{note}" if self._role_sent or text else note)
                    self._flush(out, reasoning, text)
                    self.noted = True
                    out.append(self.close())
                    break
                self._flush(out, reasoning, text)
                out.append(self._error_chunk(err))
                self.closed = True
                break
        else:
            self._flush(out, reasoning, text)
        return b"".join(out)

    def _close_think(self, text: list[str]) -> None:
        if self._thinking:
            text.append(THINK_CLOSE)
            self._thinking = False

    def close(self) -> bytes:
        """The end of a stream that did not fail: a finish if none came, usage, `[DONE]`."""
        if self.closed:
            return b""
        out: list[bytes] = []
        tail: list[str] = []
        self._close_think(tail)
        if tail:
            out.append(self._chunk({"content": "".join(tail)}))
        if self._turn.finish is None:
            self._turn.finish = self._turn.finish_reason(None)
            out.append(self._chunk({}, self._turn.finish))
        if self._include_usage:
            usage = usage_dict(self._turn.usage or Usage())
            out.append(self._head + b'[],"usage":' + orjson.dumps(usage) + b"}\n\n")
        out.append(DONE)
        self.closed = True
        return b"".join(out)

    def fail(self, err: LitecursorError) -> bytes:
        """The last chunk of a stream that broke after it started: an `error` object."""
        if self.closed:
            return b""
        self.closed = True
        self.error = err = self._clean(err)
        return self._error_chunk(err)

    def _clean(self, err: LitecursorError) -> LitecursorError:
        """An error path: the upstream's text may quote a key."""
        return self._redact(err) if self._redact is not None else err

    def _error_chunk(self, err: LitecursorError) -> bytes:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "error": {
                "message": err.message,
                "type": err.error_type,
                "param": None,
                "code": err.code,
            },
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"


class CompletionBuilder(_TurnResults):
    """Collects events into one `chat.completion` object (non-streaming requests)."""

    def __init__(
        self, *, id: str, created: int, model: str, reasoning_display: ReasoningDisplay = "field"
    ) -> None:
        self.id = id
        self.created = created
        self.model = model
        self._reasoning_display = reasoning_display
        super().__init__()
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: list[dict[str, Any]] = []

    @property
    def finish_reason(self) -> FinishReason:
        """The finish reason the answer carries."""
        return self._turn.finish_reason(self._turn.finish)

    def feed(self, events: list[Event]) -> None:
        turn = self._turn
        for ev in events:
            if isinstance(ev, TextDelta | RefusalDelta):
                self._text.append(ev.text)
                turn.chars += len(ev.text)
            elif isinstance(ev, ReasoningDelta):
                self._reasoning.append(ev.text)
                turn.chars += len(ev.text)
            elif isinstance(ev, ToolCallStart):
                idx, new = self._turn.index_of(ev.key)
                if new:
                    self._turn.call_ids.append(ev.id)
                    self._calls.append(
                        {
                            "id": ev.id,
                            "type": "function",
                            "function": {"name": ev.name, "arguments": ""},
                        }
                    )
            elif isinstance(ev, ToolCallDelta):
                idx, new = self._turn.index_of(ev.key)
                if new:
                    self._calls.append(
                        {
                            "id": f"call_{idx}",
                            "type": "function",
                            "function": {"name": "", "arguments": ""},
                        }
                    )
                self._calls[idx]["function"]["arguments"] += ev.arguments
                turn.chars += len(ev.arguments)
            elif isinstance(ev, Finish):
                turn.done = True
                if turn.finish is None:
                    turn.finish = ev.reason
            elif isinstance(ev, Usage):
                self._turn.usage = merge_usage(self._turn.usage, ev)
            elif isinstance(ev, ReasoningItem):
                self._turn.reasoning_items.append(ev.data)
            elif isinstance(ev, StreamError):
                raise ev.error

    def result(self) -> dict[str, Any]:
        text = "".join(self._text)
        reasoning = "".join(self._reasoning)
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if reasoning:
            if self._reasoning_display == "field":
                message["reasoning_content"] = reasoning
            elif self._reasoning_display == "think_tags":
                message["content"] = THINK_OPEN + reasoning + THINK_CLOSE + text
        if self._calls:
            message["tool_calls"] = self._calls
        elif message["content"] is None:
            message["content"] = ""
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": usage_dict(self._turn.usage or Usage()),
        }
