"""Custom (free-text) tools such as Cursor's ApplyPatch, for upstreams that only know function tools.

Such an upstream gets the custom tool as a function with one string parameter, `input`; its
calls come back as `{"input": "<raw text>"}` and are unwrapped so the client receives the raw
text as `arguments`, exactly as a native Responses upstream would give it. History goes the
other way: a replayed custom call's raw text is wrapped again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

import orjson

from .types import Event, Finish, StreamError, Tool, ToolCallDelta, ToolCallStart, Usage

INPUT_PARAM = "input"


def custom_tool_parameters() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            INPUT_PARAM: {
                "type": "string",
                "description": "The complete raw input for this tool, exactly in the format its description requires.",
            }
        },
        "required": [INPUT_PARAM],
    }


def custom_tool_description(tool: Tool) -> str:
    """The tool's description, plus the grammar its input must follow when it has one."""
    parts = [tool.description or f"The {tool.name} tool."]
    parts.append(f"Pass the whole input as the string parameter `{INPUT_PARAM}`; it is not JSON.")
    fmt = tool.format or {}
    definition = fmt.get("definition")
    if isinstance(definition, str) and definition.strip():
        syntax = fmt.get("syntax") or "grammar"
        parts.append(f"The input must follow this {syntax} grammar:\n{definition}")
    return "\n\n".join(parts)


def wrap_custom_arguments(raw: str) -> str:
    return orjson.dumps({INPUT_PARAM: raw}).decode()


def unwrap_custom_arguments(arguments: str) -> str:
    """The raw text from `{"input": "..."}`. A model that ignored the schema and used another
    single string field is forgiven; anything else is passed on unchanged."""
    try:
        data = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(data, dict):
        value = data.get(INPUT_PARAM)
        if isinstance(value, str):
            return value
        strings = [v for v in data.values() if isinstance(v, str)]
        if len(data) == 1 and strings:
            return strings[0]
    if isinstance(data, str):
        return data
    return arguments


class _Decoder(Protocol):
    def feed(self, data: bytes) -> list[Event]: ...

    def close(self) -> list[Event]: ...


class CustomCallUnwrapper:
    """Wraps a stream decoder: calls to custom tools are announced at once (id and name), their
    JSON argument fragments are held, and the unwrapped raw text is released as one delta
    before the finish (or at the end of the stream)."""

    __slots__ = ("_inner", "_names", "_pending")

    def __init__(self, inner: _Decoder, names: frozenset[str]) -> None:
        self._inner = inner
        self._names = names
        self._pending: dict[int | str, list[str]] = {}

    def feed(self, data: bytes) -> list[Event]:
        return self._process(self._inner.feed(data), final=False)

    def close(self) -> list[Event]:
        return self._process(self._inner.close(), final=True)

    @classmethod
    def unwrap_all(cls, events: list[Event], names: frozenset[str]) -> list[Event]:
        return cls(_NoDecoder(), names)._process(events, final=True)

    def _process(self, events: list[Event], *, final: bool) -> list[Event]:
        if not self._pending and not any(
            isinstance(ev, ToolCallStart) and ev.name in self._names for ev in events
        ):
            return events
        out: list[Event] = []
        for ev in events:
            if isinstance(ev, ToolCallStart) and ev.name in self._names:
                self._pending[ev.key] = []
                out.append(replace(ev, kind="custom"))
            elif isinstance(ev, ToolCallDelta) and ev.key in self._pending:
                self._pending[ev.key].append(ev.arguments)
            else:
                if isinstance(ev, (Finish, StreamError, Usage)):
                    self._flush(out)
                out.append(ev)
        if final:
            self._flush(out)
        return out

    def _flush(self, out: list[Event]) -> None:
        for key, fragments in self._pending.items():
            out.append(ToolCallDelta(key, unwrap_custom_arguments("".join(fragments))))
        self._pending.clear()


class _NoDecoder:
    def feed(self, data: bytes) -> list[Event]:
        return []

    def close(self) -> list[Event]:
        return []
