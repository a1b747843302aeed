"""Client bodies -> `ChatRequest`: the Chat dialect (`messages`), the Responses dialect (`input`),
and the Anthropic-style blocks Cursor puts in chat bodies for `claude*` model names.

The dialect is sniffed from the body, never from the path. Every malformed field raises
`InvalidRequestError` whose `param` is the field's path (`input[3].call_id`).
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequestError
from .fields import (
    Obj,
    opt_bool,
    opt_int,
    opt_number,
    opt_str,
    req_list,
    req_obj,
    req_str,
    type_name,
)
from .history import pair_tool_results
from .request_parts import read_arguments, read_part, read_parts, read_tool_choice, read_tools
from .types import (
    ChatRequest,
    Message,
    Part,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
)

# Responses request fields a Responses upstream may take verbatim
_RESPONSES_EXTRAS = (
    "include",
    "store",
    "truncation",
    "prompt_cache_retention",
    "previous_response_id",
    "prompt_cache_key",
    "background",
)
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})


def parse_request(body: Any) -> ChatRequest:
    """Validate a decoded JSON body and translate it, whatever its dialect."""
    if not isinstance(body, dict):
        raise InvalidRequestError(f"the request body must be a JSON object, not {type_name(body)}")
    model = body.get("model")
    if model is None:
        raise InvalidRequestError(
            "missing required parameter: 'model'", param="model", code="missing_required_parameter"
        )
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequestError("'model' must be a non-empty string", param="model")
    if "messages" in body:
        return _parse_chat(body, model)
    if "input" in body:
        return _parse_responses(body, model)
    raise InvalidRequestError(
        "missing required parameter: 'messages' (Chat Completions) or 'input' (Responses)",
        param="messages",
        code="missing_required_parameter",
    )


# ---------------------------------------------------------------------------------------------
# fields shared by both dialects
# ---------------------------------------------------------------------------------------------


def _common(body: Obj, model: str) -> dict[str, Any]:
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
        "stop": _stop(body.get("stop")),
    }
    effort, summary = _reasoning(body)
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


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    items = req_list(value, "stop")
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise InvalidRequestError(f"stop[{i}] must be a string", param=f"stop[{i}]")
    return tuple(items)


def _reasoning(body: Obj) -> tuple[str | None, str | None]:
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


# ---------------------------------------------------------------------------------------------
# Chat dialect
# ---------------------------------------------------------------------------------------------


def _parse_chat(body: Obj, model: str) -> ChatRequest:
    raw_messages = req_list(body["messages"], "messages")
    if not raw_messages:
        raise InvalidRequestError("'messages' must not be empty", param="messages")
    messages: list[Message] = []
    for i, raw in enumerate(raw_messages):
        messages.extend(_chat_message(raw, f"messages[{i}]"))
    fields = _common(body, model)
    max_tokens = opt_int(body, "max_completion_tokens", minimum=1)
    if max_tokens is None:
        max_tokens = opt_int(body, "max_tokens", minimum=1)
    rf = body.get("response_format")
    return ChatRequest(
        messages=pair_tool_results(_mark_custom(tuple(messages), fields["tools"])),
        dialect="chat",
        max_tokens=max_tokens,
        response_format=_chat_response_format(rf) if rf is not None else None,
        verbosity=opt_str(body, "verbosity"),
        **fields,
    )


def _chat_message(raw: Any, path: str) -> list[Message]:
    m = req_obj(raw, path)
    role = m.get("role")
    if role in ("system", "developer"):
        return [Message("system", _content(m, path))]
    if role == "user":
        return _user_with_blocks(m.get("content"), path)
    if role == "assistant":
        return [_assistant(m, path)]
    if role in ("tool", "function"):
        call_id = m.get("tool_call_id") if role == "tool" else m.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequestError(
                f"{path}.tool_call_id is required for a tool message", param=f"{path}.tool_call_id"
            )
        return [
            Message(
                "tool",
                _content(m, path),
                tool_call_id=call_id,
                name=opt_str(m, "name", f"{path}.name"),
            )
        ]
    if role is None:
        raise InvalidRequestError(f"{path}.role is required", param=f"{path}.role")
    raise InvalidRequestError(
        f"{path}.role '{role}' is not one of system, developer, user, assistant, tool",
        param=f"{path}.role",
    )


def _content(m: Obj, path: str) -> tuple[Part, ...]:
    """`read_parts` of the message's content: a plain string, the usual case, needs no path."""
    content = m.get("content")
    if isinstance(content, str):
        return (TextPart(content),) if content else ()
    return read_parts(content, f"{path}.content")


def _user_with_blocks(content: Any, path: str) -> list[Message]:
    """A user turn; Anthropic `tool_result` blocks inside it become tool messages, in order."""
    if isinstance(content, str):
        return [Message("user", (TextPart(content),) if content else ())]
    if not isinstance(content, list) or not any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return [Message("user", read_parts(content, f"{path}.content"))]
    out: list[Message] = []
    rest: list[Part] = []
    for i, block in enumerate(content):
        bpath = f"{path}.content[{i}]"
        if isinstance(block, dict) and block.get("type") == "tool_result":
            call_id = req_str(block, "tool_use_id", f"{bpath}.tool_use_id")
            out.append(
                Message(
                    "tool",
                    read_parts(block.get("content"), f"{bpath}.content"),
                    tool_call_id=call_id,
                )
            )
        else:
            part = read_part(block, bpath)
            if part is not None:
                rest.append(part)
    if rest:
        out.append(Message("user", tuple(rest)))
    return out


def _assistant(m: Obj, path: str) -> Message:
    content = m.get("content")
    calls: list[ToolCall] = []
    parts: list[Part] = []
    if isinstance(content, list):  # may hold Anthropic tool_use blocks
        for i, block in enumerate(content):
            bpath = f"{path}.content[{i}]"
            if isinstance(block, dict) and block.get("type") == "tool_use":
                calls.append(
                    ToolCall(
                        req_str(block, "id", f"{bpath}.id"),
                        req_str(block, "name", f"{bpath}.name"),
                        read_arguments(block.get("input"), f"{bpath}.input"),
                    )
                )
            else:
                part = read_part(block, bpath)
                if part is not None:
                    parts.append(part)
    else:
        parts.extend(_content(m, path))
    raw_calls = m.get("tool_calls")
    if raw_calls is not None:
        for i, raw in enumerate(req_list(raw_calls, f"{path}.tool_calls")):
            cpath = f"{path}.tool_calls[{i}]"
            c = req_obj(raw, cpath)
            if c.get("type") == "custom":
                inner = req_obj(c.get("custom"), f"{cpath}.custom")
                calls.append(
                    ToolCall(
                        req_str(c, "id", f"{cpath}.id"),
                        req_str(inner, "name", f"{cpath}.custom.name"),
                        opt_str(inner, "input", f"{cpath}.custom.input") or "",
                        kind="custom",
                    )
                )
                continue
            fn = req_obj(c.get("function"), f"{cpath}.function")
            calls.append(
                ToolCall(
                    req_str(c, "id", f"{cpath}.id"),
                    req_str(fn, "name", f"{cpath}.function.name"),
                    read_arguments(fn.get("arguments"), f"{cpath}.function.arguments"),
                )
            )
    return Message("assistant", tuple(parts), tool_calls=tuple(calls))


def _chat_response_format(value: Any) -> ResponseFormat:
    rf = req_obj(value, "response_format")
    kind = rf.get("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(kind)
    if kind == "json_schema":
        js = req_obj(rf.get("json_schema"), "response_format.json_schema")
        schema = js.get("schema")
        return ResponseFormat(
            "json_schema",
            name=opt_str(js, "name", "response_format.json_schema.name"),
            schema=req_obj(schema, "response_format.json_schema.schema")
            if schema is not None
            else None,
            strict=opt_bool(js, "strict", "response_format.json_schema.strict"),
        )
    raise InvalidRequestError(
        f"response_format.type '{kind}' is not supported", param="response_format.type"
    )


# ---------------------------------------------------------------------------------------------
# Responses dialect
# ---------------------------------------------------------------------------------------------


def _parse_responses(body: Obj, model: str) -> ChatRequest:
    raw_input = body["input"]
    messages: list[Message] = []
    instructions = opt_str(body, "instructions")
    if instructions:
        messages.append(Message("system", (TextPart(instructions),)))
    if isinstance(raw_input, str):
        if not raw_input:
            raise InvalidRequestError("'input' must not be empty", param="input")
        messages.append(Message("user", (TextPart(raw_input),)))
    else:
        items = req_list(raw_input, "input")
        if not items:
            raise InvalidRequestError("'input' must not be empty", param="input")
        messages.extend(_input_items(items))
    fields = _common(body, model)
    verbosity = None
    response_format = None
    text = body.get("text")
    if text is not None:
        t = req_obj(text, "text")
        verbosity = opt_str(t, "verbosity", "text.verbosity")
        fmt = t.get("format")
        if fmt is not None:
            response_format = _responses_format(req_obj(fmt, "text.format"))
    extras = {k: body[k] for k in _RESPONSES_EXTRAS if body.get(k) is not None}
    history = _mark_custom(tuple(messages), fields["tools"])
    if "previous_response_id" not in extras:  # else results may answer calls kept upstream
        history = pair_tool_results(history)
    return ChatRequest(
        messages=history,
        dialect="responses",
        max_tokens=opt_int(body, "max_output_tokens", minimum=1),
        response_format=response_format,
        verbosity=verbosity,
        responses_extras=extras,
        **fields,
    )


def _responses_format(fmt: Obj) -> ResponseFormat:
    kind = fmt.get("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(kind)
    if kind == "json_schema":
        schema = fmt.get("schema")
        return ResponseFormat(
            "json_schema",
            name=opt_str(fmt, "name", "text.format.name"),
            schema=req_obj(schema, "text.format.schema") if schema is not None else None,
            strict=opt_bool(fmt, "strict", "text.format.strict"),
        )
    raise InvalidRequestError(
        f"text.format.type '{kind}' is not supported", param="text.format.type"
    )


def _input_items(items: list[Any]) -> list[Message]:
    """Responses items -> messages. Consecutive assistant items (text, calls) form one turn;
    reasoning items attach to the assistant turn that follows them."""
    out: list[Message] = []
    reasoning: list[dict[str, Any]] = []
    for i, raw in enumerate(items):
        path = f"input[{i}]"
        item = req_obj(raw, path)
        kind = item.get("type")
        if kind is None or kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                out.append(Message("system", read_parts(item.get("content"), f"{path}.content")))
            elif role == "user":
                out.append(Message("user", read_parts(item.get("content"), f"{path}.content")))
            elif role == "assistant":
                _append_assistant(
                    out, reasoning, parts=read_parts(item.get("content"), f"{path}.content")
                )
            elif role is None:
                raise InvalidRequestError(f"{path}.role is required", param=f"{path}.role")
            else:
                raise InvalidRequestError(
                    f"{path}.role '{role}' is not one of system, developer, user, assistant",
                    param=f"{path}.role",
                )
        elif kind in ("function_call", "custom_tool_call"):
            call_id = req_str(item, "call_id", f"{path}.call_id")
            name = req_str(item, "name", f"{path}.name")
            if kind == "function_call":
                call = ToolCall(
                    call_id, name, read_arguments(item.get("arguments"), f"{path}.arguments")
                )
            else:
                call = ToolCall(
                    call_id, name, opt_str(item, "input", f"{path}.input") or "", "custom"
                )
            _append_assistant(out, reasoning, calls=(call,))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = req_str(item, "call_id", f"{path}.call_id")
            out.append(
                Message(
                    "tool", read_parts(item.get("output"), f"{path}.output"), tool_call_id=call_id
                )
            )
        elif kind == "reasoning":
            reasoning.append(item)
        elif kind == "item_reference":
            raise InvalidRequestError(
                f"{path}: item_reference needs server-side state, which "
                "litecursor does not keep; send the items themselves",
                param=f"{path}.type",
            )
        # other item kinds (hosted tool calls) have no meaning for other upstreams: skipped
    return out


def _append_assistant(
    out: list[Message],
    reasoning: list[dict[str, Any]],
    *,
    parts: tuple[Part, ...] = (),
    calls: tuple[ToolCall, ...] = (),
) -> None:
    last = out[-1] if out else None
    # text after a call is still the same turn: a message between calls and their results
    # would split them, which every upstream refuses
    if last is not None and last.role == "assistant" and not reasoning:
        out[-1] = Message(
            "assistant", last.content + parts, last.tool_calls + calls, reasoning=last.reasoning
        )
    else:
        out.append(Message("assistant", parts, calls, reasoning=tuple(reasoning)))
    reasoning.clear()


def _mark_custom(messages: tuple[Message, ...], tools: tuple[Tool, ...]) -> tuple[Message, ...]:
    """Cursor replays custom-tool calls (ApplyPatch) as ordinary function calls: recognise
    them by the tool's name so each upstream gets them back in its own form."""
    custom = {t.name for t in tools if t.kind == "custom"}
    if not custom:
        return messages
    out = []
    for m in messages:
        if m.tool_calls and any(c.name in custom and c.kind != "custom" for c in m.tool_calls):
            calls = tuple(
                ToolCall(c.id, c.name, c.arguments, "custom") if c.name in custom else c
                for c in m.tool_calls
            )
            m = Message(m.role, m.content, calls, m.tool_call_id, m.name, m.reasoning)
        out.append(m)
    return tuple(out)
