"""The pieces of a request both dialects share: sampling, streaming and reasoning fields, content
parts, tools and tool choice, in every dialect's shape (Chat, Responses, Anthropic).

Each reader takes a JSON value and its path and returns internal types, or raises
`InvalidRequestError` whose `param` is that path.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from ..errors import InvalidRequestError
from .fields import Obj, opt_bool, opt_int, opt_number, opt_str, req_list, req_obj, req_str
from .types import ImagePart, Message, Part, TextPart, Tool, ToolCall, ToolChoice

# a tuple, not a set: `type` may be any JSON value, lists and objects included
_TEXT_PARTS = ("text", "input_text", "output_text")
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})

# hosted tools run by OpenAI itself: meaningless to any other upstream, dropped
_HOSTED_TOOLS = frozenset(
    {
        "web_search",
        "web_search_preview",
        "file_search",
        "computer_use",
        "computer_use_preview",
        "code_interpreter",
        "image_generation",
        "mcp",
        "local_shell",
        "namespace",
        "tool_search",
    }
)


def read_tools(value: Any) -> tuple[Tool, ...]:
    if value is None:
        return ()
    out: list[Tool] = []
    for i, raw in enumerate(req_list(value, "tools")):
        tool = _tool(raw, i)
        if tool is not None:
            out.append(tool)
    return tuple(out)


def _tool(raw: Any, i: int) -> Tool | None:
    """`tools[i]`, or None for a hosted tool. A function tool, the usual one, is read without
    building its path."""
    t = raw if isinstance(raw, dict) else req_obj(raw, f"tools[{i}]")
    kind = t.get("type")
    if kind == "function":
        if "function" not in t:
            return _function_tool(t, i)  # Responses' flat form
        fn = t["function"]  # Chat's nested form
        if not isinstance(fn, dict):
            req_obj(fn, f"tools[{i}].function")
        tool = _function_tool(fn, i, ".function")
        mark = t.get("cache_control")  # beside `function`, as LiteLLM takes it
        return replace(tool, cache_control=mark) if isinstance(mark, dict) else tool
    if kind == "custom":
        if "input_schema" in t:  # Anthropic's explicit custom type is a JSON tool
            return _function_tool(t, i, schema_key="input_schema")
        if "custom" not in t:
            return _custom_tool(t, i)  # Responses' flat form
        inner = t["custom"]  # Chat's nested form
        if not isinstance(inner, dict):
            req_obj(inner, f"tools[{i}].custom")
        return _custom_tool(inner, i, ".custom")
    if kind is None and "input_schema" in t:  # Anthropic's bare tool
        return _function_tool(t, i, schema_key="input_schema")
    path = f"tools[{i}]"
    if isinstance(kind, str) and (
        kind in _HOSTED_TOOLS or kind.startswith(("web_search", "computer"))
    ):
        return None
    if kind is None:
        raise InvalidRequestError(
            f"{path} needs a 'type' (function or custom)", param=f"{path}.type"
        )
    raise InvalidRequestError(
        f"{path}.type '{kind}' is not a supported tool type", param=f"{path}.type"
    )


def _function_tool(t: Obj, i: int, sub: str = "", schema_key: str = "parameters") -> Tool:
    """The function tool `t`, at `tools[i]` + `sub`."""
    # the checks of req_obj/req_str/opt_str/opt_bool, in their order; a value that fails one
    # goes to that reader for its error, so paths are only built for a bad field
    params = t.get(schema_key)
    if params is not None and not isinstance(params, dict):
        req_obj(params, f"tools[{i}]{sub}.{schema_key}")
    name, description = _name_and_description(t, i, sub)
    strict = t.get("strict")
    if strict is not None and not isinstance(strict, bool):
        opt_bool(t, "strict", f"tools[{i}]{sub}.strict")
    mark = t.get("cache_control")
    return Tool(
        name=name,
        description=description,
        parameters=params,
        strict=strict,
        cache_control=mark if isinstance(mark, dict) else None,
    )


def _custom_tool(t: Obj, i: int, sub: str = "") -> Tool:
    """The custom tool `t`, at `tools[i]` + `sub`; its paths are built as `_function_tool`'s."""
    fmt = t.get("format")
    if fmt is not None:
        fmt = _custom_format(fmt, f"tools[{i}]{sub}.format")
    name, description = _name_and_description(t, i, sub)
    return Tool(name=name, description=description, kind="custom", format=fmt)


_SYNTAXES = ("lark", "regex")


def _custom_format(value: Any, path: str) -> dict[str, Any] | None:
    """A custom tool's input format in one shape, the Responses API's: ``{"type": "text"}`` or
    ``{"type": "grammar", "syntax", "definition"}``. The Chat API nests the grammar
    (``{"type": "grammar", "grammar": {"definition", "syntax"}}``); both are read."""
    fmt = req_obj(value, path)
    kind = fmt.get("type")
    if kind == "text":
        return {"type": "text"}
    if kind != "grammar":
        raise InvalidRequestError(
            f"{path}.type '{kind}' is not one of text, grammar", param=f"{path}.type"
        )
    inner, where = fmt, path
    if "grammar" in fmt:  # the Chat API's nested form
        inner, where = req_obj(fmt["grammar"], f"{path}.grammar"), f"{path}.grammar"
    definition = req_str(inner, "definition", f"{where}.definition")
    syntax = req_str(inner, "syntax", f"{where}.syntax")
    if syntax not in _SYNTAXES:
        raise InvalidRequestError(
            f"{where}.syntax '{syntax}' is not one of lark, regex", param=f"{where}.syntax"
        )
    return {"type": "grammar", "syntax": syntax, "definition": definition}


def _name_and_description(t: Obj, i: int, sub: str) -> tuple[str, str | None]:
    name = t.get("name")
    if not isinstance(name, str) or not name:
        name = req_str(t, "name", f"tools[{i}]{sub}.name")
    description = t.get("description")
    if description is not None and not isinstance(description, str):
        opt_str(t, "description", f"tools[{i}]{sub}.description")
    return name, description


def read_tool_choice(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    if isinstance(value, str):
        mode = {"auto": "auto", "none": "none", "required": "required", "any": "required"}.get(
            value
        )
        if mode is None:
            raise InvalidRequestError(
                f"tool_choice '{value}' is not one of auto, none, required", param="tool_choice"
            )
        return ToolChoice(mode)  # type: ignore[arg-type]
    tc = req_obj(value, "tool_choice")
    kind = tc.get("type")
    if kind in ("function", "custom", "tool"):
        nested = tc.get(kind)
        inner = nested if isinstance(nested, dict) else tc
        name = inner.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError("tool_choice names no tool", param="tool_choice.name")
        return ToolChoice("required", name)
    if kind in ("auto", "none", "any", "required"):
        return read_tool_choice(kind)
    if kind == "allowed_tools":
        return ToolChoice("required" if tc.get("mode") == "required" else "auto")
    raise InvalidRequestError(
        f"tool_choice type '{kind}' is not supported", param="tool_choice.type"
    )


def read_parts(value: Any, path: str) -> tuple[Part, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (TextPart(value),) if value else ()
    parts: list[Part] = []
    for i, raw in enumerate(req_list(value, path)):
        part = read_part(raw, path, i)
        if part is not None:
            parts.append(part)
    return tuple(parts)


def read_part(raw: Any, within: str, index: int) -> Part | None:
    """The content part `within[index]`, or None for one that is dropped. A text part, the
    usual one, is read without building its path."""
    if isinstance(raw, str):
        return TextPart(raw) if raw else None
    if isinstance(raw, dict) and raw.get("type") in _TEXT_PARTS:
        text = raw.get("text")
        if isinstance(text, str):
            # an empty text part (sent beside an image) is refused by some hosted models
            if not text:
                return None
            mark = raw.get("cache_control")
            return TextPart(text, mark) if isinstance(mark, dict) else TextPart(text)
    return _part(raw, f"{within}[{index}]")


def _part(raw: Any, path: str) -> Part | None:
    p = req_obj(raw, path)
    kind = p.get("type")
    if kind in _TEXT_PARTS:
        text = req_str(p, "text", f"{path}.text", allow_empty=True)
        return TextPart(text) if text else None
    if kind == "refusal":
        refusal = opt_str(p, "refusal", f"{path}.refusal")
        return TextPart(refusal) if refusal else None
    if kind == "image_url":
        img = p.get("image_url")
        if isinstance(img, str):
            return ImagePart(img)
        o = req_obj(img, f"{path}.image_url")
        return ImagePart(
            req_str(o, "url", f"{path}.image_url.url"),
            opt_str(o, "detail", f"{path}.image_url.detail"),
        )
    if kind == "input_image":
        url = p.get("image_url")
        if not isinstance(url, str) or not url:
            raise InvalidRequestError(
                f"{path}.image_url must be a URL string (file_id is not supported)",
                param=f"{path}.image_url",
            )
        return ImagePart(url, opt_str(p, "detail", f"{path}.detail"))
    if kind == "image":  # Anthropic block
        src = req_obj(p.get("source"), f"{path}.source")
        if src.get("type") == "base64":
            media = req_str(src, "media_type", f"{path}.source.media_type")
            data = req_str(src, "data", f"{path}.source.data")
            return ImagePart(f"data:{media};base64,{data}")
        if src.get("type") == "url":
            return ImagePart(req_str(src, "url", f"{path}.source.url"))
        raise InvalidRequestError(
            f"{path}.source.type must be base64 or url", param=f"{path}.source.type"
        )
    if kind in ("thinking", "redacted_thinking", "reasoning"):
        return None  # provider reasoning replayed by the client: not transferable
    raise InvalidRequestError(
        f"{path}.type '{kind}' is not a supported content part", param=f"{path}.type"
    )


def read_arguments(value: Any, path: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    raise InvalidRequestError(f"{path} must be a JSON string", param=path)


def common_fields(body: Obj, model: str) -> dict[str, Any]:
    stream = opt_bool(body, "stream") or False
    stream_options = body.get("stream_options")
    include_usage = False
    if stream_options is not None:
        so = req_obj(stream_options, "stream_options")
        include_usage = bool(opt_bool(so, "include_usage", "stream_options.include_usage"))
    tools = read_tools(body.get("tools"))
    n = opt_int(body, "n", minimum=1)
    if n is not None and n > 1:
        raise InvalidRequestError(
            "n > 1 is not supported: litecursor returns one choice",
            param="n",
            code="unsupported_value",
        )
    fields: dict[str, Any] = {
        "model": model,
        "stream": stream,
        "include_usage": include_usage,
        "tools": tools,
        "tool_choice": read_tool_choice(body.get("tool_choice")),
        "parallel_tool_calls": opt_bool(body, "parallel_tool_calls"),
        "temperature": opt_number(body, "temperature"),
        "top_p": opt_number(body, "top_p"),
        "seed": opt_int(body, "seed"),
        "presence_penalty": opt_number(body, "presence_penalty"),
        "frequency_penalty": opt_number(body, "frequency_penalty"),
        "user": opt_str(body, "user"),
        "service_tier": opt_str(body, "service_tier"),
        "prompt_cache_key": opt_str(body, "prompt_cache_key"),
        "stop": read_stop(body.get("stop")),
    }
    effort, summary = read_reasoning(body)
    fields["reasoning_effort"] = effort
    fields["reasoning_summary"] = summary
    metadata = body.get("metadata")
    if metadata is not None:
        meta = req_obj(metadata, "metadata")
        fields["metadata"] = {str(k): v for k, v in meta.items() if isinstance(v, str)}
        conv = meta.get("cursorConversationId")
        if isinstance(conv, str):
            fields["conversation_id"] = conv
    return fields


def read_stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    items = req_list(value, "stop")
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise InvalidRequestError(f"stop[{i}] must be a string", param=f"stop[{i}]")
    return tuple(items)


def read_reasoning(body: Obj) -> tuple[str | None, str | None]:
    """`reasoning: {effort, summary}` (Responses, and inside Cursor's chat bodies) or the
    Chat API's `reasoning_effort`."""
    effort = opt_str(body, "reasoning_effort")
    summary = None
    reasoning = body.get("reasoning")
    if reasoning is not None:
        r = req_obj(reasoning, "reasoning")
        effort = opt_str(r, "effort", "reasoning.effort") or effort
        summary = opt_str(r, "summary", "reasoning.summary")
        if summary is None:
            summary = opt_str(r, "generate_summary", "reasoning.generate_summary")
    if effort is not None and effort not in _EFFORTS:
        raise InvalidRequestError(
            f"unknown reasoning effort '{effort}'; use one of {', '.join(sorted(_EFFORTS))}",
            param="reasoning.effort",
        )
    return effort, summary


def mark_custom(messages: tuple[Message, ...], tools: tuple[Tool, ...]) -> tuple[Message, ...]:
    """Cursor replays custom-tool calls (ApplyPatch) as ordinary function calls: recognise
    them by the tool's name so each upstream gets them back in its own form."""
    custom = {t.name for t in tools if t.kind == "custom"}
    if not custom:
        return messages
    out = list(messages)
    for i, m in enumerate(messages):
        for c in m.tool_calls:
            if c.name in custom and c.kind != "custom":  # a message to rebuild
                calls = tuple(
                    ToolCall(tc.id, tc.name, tc.arguments, "custom") if tc.name in custom else tc
                    for tc in m.tool_calls
                )
                out[i] = Message(m.role, m.content, calls, m.tool_call_id, m.name, m.reasoning)
                break
    return tuple(out)
