"""Client bodies -> `ChatRequest`: the Chat dialect (`messages`), the Responses dialect (`input`),
and the Anthropic-style blocks Cursor puts in chat bodies for `claude*` model names.

The dialect is sniffed from the body, never from the path; the Responses dialect is read in
`inbound_responses.py`, the pieces both share in `request_parts.py`. Every malformed field raises
`InvalidRequestError` whose `param` is the field's path (`input[3].call_id`).
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequestError
from .fields import (
    Obj,
    opt_bool,
    opt_int,
    opt_str,
    req_list,
    req_obj,
    req_str,
    type_name,
)
from .history import pair_tool_results
from .inbound_responses import parse_responses
from .request_parts import common_fields, mark_custom, read_arguments, read_part, read_parts
from .types import (
    ChatRequest,
    Message,
    Part,
    ResponseFormat,
    TextPart,
    ToolCall,
)


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
        return parse_responses(body, model)
    raise InvalidRequestError(
        "missing required parameter: 'messages' (Chat Completions) or 'input' (Responses)",
        param="messages",
        code="missing_required_parameter",
    )


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
    fields = common_fields(body, model)
    max_tokens = opt_int(body, "max_completion_tokens", minimum=1)
    if max_tokens is None:
        max_tokens = opt_int(body, "max_tokens", minimum=1)
    rf = body.get("response_format")
    return ChatRequest(
        messages=pair_tool_results(mark_custom(tuple(messages), fields["tools"])),
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
