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
    # decided by content, not by key: the openai SDK makes its users send `messages`, so a
    # Responses body often carries `messages: []` (or null) beside `input`
    messages = body.get("messages")
    has_messages = _has_items(messages, "messages")
    if _has_items(body.get("input"), "input"):
        # both carry items: `messages` first, then `input` (README, "Using it from Cursor")
        before = _chat_messages(messages) if messages and has_messages else ()
        return parse_responses(body, model, before)
    if has_messages:
        return _parse_chat(body, model)
    if "messages" in body or "input" in body:
        raise InvalidRequestError(
            "the request has no conversation: 'messages' and 'input' are both empty",
            param="messages" if "messages" in body else "input",
        )
    raise InvalidRequestError(
        "missing required parameter: 'messages' (Chat Completions) or 'input' (Responses)",
        param="messages",
        code="missing_required_parameter",
    )


def _has_items(value: Any, name: str) -> bool:
    """Whether `messages` / `input` holds anything; null and empty count as absent, any
    other value that is not an array (or, for `input`, a string) is refused."""
    if value is None:
        return False
    if isinstance(value, list):
        return bool(value)
    if name == "input" and isinstance(value, str):
        return bool(value)
    req_list(value, name)
    return False  # not reached: req_list raised


# ---------------------------------------------------------------------------------------------
# Chat dialect
#
# Paths (`messages[3].tool_calls[0].id`) are only needed in error messages, so the readers of
# the fields every message has take the message's index and build a path only for a value
# that fails its check; that value then goes to the `fields` reader, which names the fault.
# ---------------------------------------------------------------------------------------------


def _chat_messages(raw_messages: list[Any]) -> tuple[Message, ...]:
    messages: list[Message] = []
    for i, raw in enumerate(raw_messages):
        _chat_message(raw, i, messages)
    return tuple(messages)


def _parse_chat(body: Obj, model: str) -> ChatRequest:
    messages = _chat_messages(body["messages"])
    fields = common_fields(body, model)
    max_tokens = opt_int(body, "max_completion_tokens", minimum=1)
    if max_tokens is None:
        max_tokens = opt_int(body, "max_tokens", minimum=1)
    rf = body.get("response_format")
    return ChatRequest(
        messages=pair_tool_results(mark_custom(messages, fields["tools"])),
        dialect="chat",
        max_tokens=max_tokens,
        response_format=_chat_response_format(rf) if rf is not None else None,
        verbosity=opt_str(body, "verbosity"),
        **fields,
    )


def _chat_message(raw: Any, i: int, out: list[Message]) -> None:
    """Append `messages[i]`: one message, or several for a user turn holding Anthropic
    tool_result blocks."""
    m = raw if isinstance(raw, dict) else req_obj(raw, f"messages[{i}]")
    role = m.get("role")
    if role == "tool" or role == "function":
        call_id = m.get("tool_call_id") if role == "tool" else m.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequestError(
                f"messages[{i}].tool_call_id is required for a tool message",
                param=f"messages[{i}].tool_call_id",
            )
        parts = _content(m, i)
        name = m.get("name")
        if name is not None and not isinstance(name, str):
            opt_str(m, "name", f"messages[{i}].name")
        out.append(Message("tool", parts, tool_call_id=call_id, name=name))
    elif role == "assistant":
        out.append(_assistant(m, i))
    elif role == "user":
        content = m.get("content")
        if isinstance(content, str):
            out.append(Message("user", (TextPart(content),) if content else ()))
        else:
            _user_with_blocks(content, f"messages[{i}]", out)
    elif role == "system" or role == "developer":
        out.append(Message("system", _content(m, i)))
    elif role is None:
        raise InvalidRequestError(f"messages[{i}].role is required", param=f"messages[{i}].role")
    else:
        raise InvalidRequestError(
            f"messages[{i}].role '{role}' is not one of system, developer, user, assistant, tool",
            param=f"messages[{i}].role",
        )


def _content(m: Obj, i: int) -> tuple[Part, ...]:
    """`read_parts` of the message's content: a plain string, the usual case, needs no path."""
    content = m.get("content")
    if isinstance(content, str):
        return (TextPart(content),) if content else ()
    return read_parts(content, f"messages[{i}].content")


def _user_with_blocks(content: Any, path: str, out: list[Message]) -> None:
    """A user turn; Anthropic `tool_result` blocks inside it become tool messages, in order."""
    if not isinstance(content, list) or not any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        out.append(Message("user", read_parts(content, f"{path}.content")))
        return
    rest: list[Part] = []
    for i, block in enumerate(content):
        if isinstance(block, dict) and block.get("type") == "tool_result":
            bpath = f"{path}.content[{i}]"
            call_id = req_str(block, "tool_use_id", f"{bpath}.tool_use_id")
            out.append(
                Message(
                    "tool",
                    read_parts(block.get("content"), f"{bpath}.content"),
                    tool_call_id=call_id,
                )
            )
        else:
            part = read_part(block, f"{path}.content", i)
            if part is not None:
                rest.append(part)
    if rest:
        out.append(Message("user", tuple(rest)))


def _assistant(m: Obj, i: int) -> Message:
    content = m.get("content")
    calls: list[ToolCall] = []
    parts: tuple[Part, ...]
    if isinstance(content, list):  # may hold Anthropic tool_use blocks
        parts = _assistant_blocks(content, f"messages[{i}].content", calls)
    else:
        parts = _content(m, i)
    raw_calls = m.get("tool_calls")
    if raw_calls is not None:
        if not isinstance(raw_calls, list):
            req_list(raw_calls, f"messages[{i}].tool_calls")
        for j, raw in enumerate(raw_calls):
            calls.append(_function_call(raw) or _tool_call(raw, f"messages[{i}].tool_calls[{j}]"))
    return Message("assistant", parts, tool_calls=tuple(calls))


def _assistant_blocks(content: list[Any], path: str, calls: list[ToolCall]) -> tuple[Part, ...]:
    """The parts of an assistant's content list; its `tool_use` blocks go to `calls`."""
    parts: list[Part] = []
    for i, block in enumerate(content):
        if isinstance(block, dict) and block.get("type") == "tool_use":
            bpath = f"{path}[{i}]"
            calls.append(
                ToolCall(
                    req_str(block, "id", f"{bpath}.id"),
                    req_str(block, "name", f"{bpath}.name"),
                    read_arguments(block.get("input"), f"{bpath}.input"),
                )
            )
        else:
            part = read_part(block, path, i)
            if part is not None:
                parts.append(part)
    return tuple(parts)


def _function_call(c: Any) -> ToolCall | None:
    """A tool call in the usual shape, `{"id", "function": {"name", "arguments": "<json>"}}`,
    read without paths; None for any other, which `_tool_call` reads."""
    if not isinstance(c, dict) or c.get("type") == "custom":
        return None
    fn = c.get("function")
    call_id = c.get("id")
    if not isinstance(fn, dict) or not isinstance(call_id, str) or not call_id:
        return None
    name = fn.get("name")
    arguments = fn.get("arguments")
    if not isinstance(name, str) or not name or not isinstance(arguments, str):
        return None
    return ToolCall(call_id, name, arguments)


def _tool_call(raw: Any, path: str) -> ToolCall:
    c = req_obj(raw, path)
    if c.get("type") == "custom":
        inner = req_obj(c.get("custom"), f"{path}.custom")
        return ToolCall(
            req_str(c, "id", f"{path}.id"),
            req_str(inner, "name", f"{path}.custom.name"),
            opt_str(inner, "input", f"{path}.custom.input") or "",
            kind="custom",
        )
    fn = req_obj(c.get("function"), f"{path}.function")
    return ToolCall(
        req_str(c, "id", f"{path}.id"),
        req_str(fn, "name", f"{path}.function.name"),
        read_arguments(fn.get("arguments"), f"{path}.function.arguments"),
    )


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
