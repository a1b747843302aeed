"""Gemini responses -> events: `alt=sse` streams, JSON-array streams and whole bodies.

Finish reasons: STOP -> stop (tool_calls once a call was emitted), MAX_TOKENS -> length, the
safety family -> content_filter, and a blocked prompt (`promptFeedback.blockReason` with no
candidates) -> content_filter. MALFORMED_FUNCTION_CALL and the other failure reasons in
`_ERROR_FINISH` end the stream with a `StreamError` (code `upstream_finish_<reason>`), since
the model produced nothing usable; unknown reasons -> stop. `usageMetadata` is cumulative, so
one `Usage` (the last seen) is emitted when the stream ends.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ..sse import SSEEvent
from ..types import (
    Event,
    Finish,
    ReasoningDelta,
    ReasoningItem,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from .base import SSEStreamDecoder, stream_failure, unreadable
from .base import truncated as truncated_error

_CONTENT_FILTER = frozenset((
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
))  # fmt: skip
_ERROR_FINISH = frozenset((
    "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS",
    "MISSING_THOUGHT_SIGNATURE", "MALFORMED_RESPONSE", "LANGUAGE", "OTHER", "IMAGE_OTHER", "NO_IMAGE",
))  # fmt: skip


def usage_from_gemini(um: Any) -> Usage | None:
    """Usage from `usageMetadata`, or None when it carries no counts (Vertex's early chunks)."""
    if not isinstance(um, dict) or not any(
        k in um for k in ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount")
    ):
        return None
    thoughts = um.get("thoughtsTokenCount")
    cached = um.get("cachedContentTokenCount")
    return Usage(
        prompt_tokens=int(um.get("promptTokenCount") or 0),
        completion_tokens=int(um.get("candidatesTokenCount") or 0) + int(thoughts or 0),
        cached_tokens=int(cached) if cached is not None else None,
        reasoning_tokens=int(thoughts) if thoughts is not None else None,
    )


_PATH_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]")


class _StreamedArgs:
    """Vertex's streamed function-call arguments: `partialArgs` values addressed by JSON path;
    a string value continues across parts while `willContinue` is set."""

    __slots__ = ("_args", "_open", "_values", "key")

    def __init__(self, key: int, args: Any) -> None:
        self.key = key
        self._args: dict[str, Any] = args if isinstance(args, dict) else {}
        self._values: dict[str, Any] = {}
        self._open: set[str] = set()

    def add(self, partial_args: Any) -> None:
        for pa in partial_args if isinstance(partial_args, list) else ():
            path = pa.get("jsonPath") if isinstance(pa, dict) else None
            if not isinstance(path, str):
                continue
            if "stringValue" in pa:
                prev = self._values.get(path)
                text = str(pa["stringValue"])
                self._values[path] = (
                    prev + text if path in self._open and isinstance(prev, str) else text
                )
            elif "numberValue" in pa:
                self._values[path] = pa["numberValue"]
            elif "boolValue" in pa:
                self._values[path] = pa["boolValue"]
            elif "nullValue" in pa:
                self._values[path] = None
            if pa.get("willContinue"):
                self._open.add(path)
            else:
                self._open.discard(path)

    def arguments(self) -> str:
        root: Any = self._args
        for path, value in self._values.items():
            root = _set_path(root, _path_steps(path), value)
        return orjson.dumps(root).decode()


def _path_steps(path: str) -> list[str | int]:
    """`$.a.b[0]['c d']` -> ["a", "b", 0, "c d"]."""
    steps: list[str | int] = []
    for m in _PATH_STEP.finditer(path.removeprefix("$")):
        key, index, single, double = m.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(next(s for s in (key, single, double) if s is not None))
    return steps


def _set_path(node: Any, steps: list[str | int], value: Any) -> Any:
    if not steps:
        return value
    step, rest = steps[0], steps[1:]
    if isinstance(step, int):
        node = node if isinstance(node, list) else []
        node.extend([None] * (step + 1 - len(node)))
    else:
        node = node if isinstance(node, dict) else {}
    node[step] = _set_path(node[step] if isinstance(step, int) else node.get(step), rest, value)
    return node


class GeminiChunks:
    """`GenerateContentResponse` objects -> events; shared by both stream framings and by whole
    bodies. Only candidate 0 is read (litecursor asks for one)."""

    __slots__ = ("_calls", "_finished", "_open", "_prefix", "_usage", "_usage_sent")

    def __init__(self) -> None:
        self._calls = 0
        self._prefix: str | None = None
        self._open: _StreamedArgs | None = None
        self._finished = False
        self._usage: Usage | None = None
        self._usage_sent = False

    def chunk(self, data: Any, out: list[Event]) -> None:
        if not isinstance(data, dict):
            return
        usage = usage_from_gemini(data.get("usageMetadata"))
        if usage is not None:
            self._usage = usage
        if self._finished:
            self._send_usage(out)
            return
        err = data.get("error")
        if err is not None:
            self._end(out, _stream_error(err))
            return
        if self._prefix is None and isinstance(data.get("responseId"), str):
            self._prefix = data["responseId"]
        candidates = data.get("candidates")
        if isinstance(candidates, list) and candidates:
            cand = next(
                (c for c in candidates if isinstance(c, dict) and c.get("index", 0) == 0), None
            )
            if cand is not None:
                self._candidate(cand, out)
        elif isinstance(data.get("promptFeedback"), dict) and data["promptFeedback"].get(
            "blockReason"
        ):
            self._end(out, Finish("content_filter"))

    def end(self, out: list[Event], *, truncated: bool) -> None:
        """The body is over: a call still streaming is closed, then the stream is ended."""
        if not self._finished:
            self._end(
                out,
                truncated_error() if truncated else Finish("tool_calls" if self._calls else "stop"),
            )
        self._send_usage(out)

    def _candidate(self, cand: dict[str, Any], out: list[Event]) -> None:
        content = cand.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict):
                self._part(part, out)
        reason = cand.get("finishReason")
        if not isinstance(reason, str):
            return
        if reason in _ERROR_FINISH:
            message = f"gemini stopped with finishReason {reason}"
            if cand.get("finishMessage"):
                message += f": {cand['finishMessage']}"
            failure = stream_failure(
                None, message, code=f"upstream_finish_{reason.lower()}", provider="gemini"
            )
            self._end(out, failure)
        elif reason == "MAX_TOKENS":
            self._end(out, Finish("length"))
        elif reason in _CONTENT_FILTER:
            self._end(out, Finish("content_filter"))
        else:
            self._end(out, Finish("tool_calls" if self._calls else "stop"))

    def _part(self, part: dict[str, Any], out: list[Event]) -> None:
        fc = part.get("functionCall")
        signature = part.get("thoughtSignature")
        if isinstance(fc, dict):
            self._function_call(fc, signature, out)
            return
        if isinstance(signature, str) and signature:
            out.append(
                ReasoningItem(
                    {"provider": "gemini", "type": "thought_signature", "signature": signature}
                )
            )
        text = part.get("text")
        if isinstance(text, str) and text:
            out.append(ReasoningDelta(text) if part.get("thought") is True else TextDelta(text))

    def _function_call(self, fc: dict[str, Any], signature: Any, out: list[Event]) -> None:
        name = fc.get("name")
        if isinstance(name, str) and name:
            self._close_call(out)
            key = self._calls
            self._calls += 1
            upstream_id = fc.get("id")
            call_id = (
                upstream_id if isinstance(upstream_id, str) and upstream_id else self._call_id(key)
            )
            self._signature(signature, call_id, out)
            out.append(ToolCallStart(key, call_id, name))
            if fc.get("willContinue") or "partialArgs" in fc:
                self._open = _StreamedArgs(key, fc.get("args"))
                self._open.add(fc.get("partialArgs"))
                if not fc.get("willContinue"):
                    self._close_call(out)
            else:
                args = fc.get("args")
                out.append(
                    ToolCallDelta(
                        key, orjson.dumps(args if isinstance(args, dict) else {}).decode()
                    )
                )
        elif self._open is not None:
            self._signature(signature, self._call_id(self._open.key), out)
            self._open.add(fc.get("partialArgs"))
            if not fc.get("willContinue"):
                self._close_call(out)

    def _signature(self, signature: Any, call_id: str, out: list[Event]) -> None:
        if isinstance(signature, str) and signature:
            out.append(
                ReasoningItem(
                    {
                        "provider": "gemini",
                        "type": "thought_signature",
                        "signature": signature,
                        "tool_call_id": call_id,
                    }
                )
            )

    def _call_id(self, key: int) -> str:
        # the response id keeps ids unique across the turns of one conversation
        return f"call_{self._prefix}_{key}" if self._prefix else f"call_{key}"

    def _close_call(self, out: list[Event]) -> None:
        if self._open is not None:
            out.append(ToolCallDelta(self._open.key, self._open.arguments()))
            self._open = None

    def _end(self, out: list[Event], event: Finish | StreamError) -> None:
        self._close_call(out)
        self._finished = True
        if isinstance(event, StreamError):
            self._send_usage(out)  # before the error: a shell may stop reading at it
            out.append(event)
        else:
            out.append(event)
            self._send_usage(out)

    def _send_usage(self, out: list[Event]) -> None:
        if self._usage is not None and not self._usage_sent:
            out.append(self._usage)
            self._usage_sent = True


def _stream_error(err: Any) -> StreamError:
    if not isinstance(err, dict):
        return stream_failure(None, str(err), provider="gemini")
    code = err.get("code")
    return stream_failure(
        code if isinstance(code, int) else 500,
        str(err.get("message") or err),
        code=err.get("status"),
        provider="gemini",
    )


def _parse_chunk(data: bytes, chunks: GeminiChunks, out: list[Event]) -> None:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        out.append(unreadable(data, "chunk"))
        return
    chunks.chunk(chunk, out)


class GeminiStreamDecoder(SSEStreamDecoder):
    """`alt=sse` streams: one `GenerateContentResponse` per `data:` event, CRLF framed."""

    __slots__ = ("_chunks",)

    def __init__(self) -> None:
        super().__init__()
        self._chunks = GeminiChunks()

    def _at_close(self, out: list[Event]) -> None:
        self._chunks.end(out, truncated=True)

    def _event(self, ev: SSEEvent, out: list[Event]) -> None:
        _parse_chunk(ev.data, self._chunks, out)


_OUTSIDE = re.compile(rb'["{}]')
_INSIDE = re.compile(rb'["\\]')


class GeminiArrayStreamDecoder:
    """Streams without `alt=sse`: one JSON array, `[{...}\\n,\\r\\n{...}\\n]`, whose elements are
    cut out as their closing brace arrives (strings and escapes tracked across feeds)."""

    __slots__ = ("_buf", "_chunks", "_depth", "_in_str", "_pos")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._depth = 0
        self._in_str = False
        self._chunks = GeminiChunks()

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        self._buf += data
        buf = self._buf
        while True:
            if self._depth == 0:  # between elements: skip `[`, `,`, `]` and whitespace
                start = buf.find(b"{", self._pos)
                if start < 0:
                    del buf[:]
                    self._pos = 0
                    return out
                del buf[:start]
                self._pos, self._depth = 1, 1
                continue
            m = (_INSIDE if self._in_str else _OUTSIDE).search(buf, self._pos)
            if m is None:
                self._pos = len(buf)
                return out
            ch, i = buf[m.start()], m.start()
            if ch == 0x5C:  # backslash: skip the escaped byte (wait for it if not here yet)
                if i + 1 >= len(buf):
                    self._pos = i
                    return out
                self._pos = i + 2
                continue
            self._pos = i + 1
            if ch == 0x22:
                self._in_str = not self._in_str
            elif ch == 0x7B:
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    element = bytes(buf[: i + 1])
                    del buf[: i + 1]
                    self._pos = 0
                    _parse_chunk(element, self._chunks, out)

    def close(self) -> list[Event]:
        out: list[Event] = []
        self._chunks.end(out, truncated=True)
        return out


def decode_generate_content(data: Any) -> list[Event]:
    """A whole `generateContent` body (or a buffered JSON-array stream) -> events."""
    chunks = GeminiChunks()
    out: list[Event] = []
    for item in data if isinstance(data, list) else [data]:
        chunks.chunk(item, out)
    chunks.end(out, truncated=False)
    return out
