"""The Responses dialect (`input` items, `instructions`), as Cursor's Agent mode sends it for
GPT-5-family names -> `ChatRequest`."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequestError
from .fields import Obj, opt_bool, opt_int, opt_str, req_list, req_obj, req_str
from .history import pair_tool_results
from .request_parts import common_fields, mark_custom, read_arguments, read_parts
from .types import ChatRequest, Message, Part, ResponseFormat, TextPart, ToolCall

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


def parse_responses(body: Obj, model: str) -> ChatRequest:
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
    fields = common_fields(body, model)
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
    history = mark_custom(tuple(messages), fields["tools"])
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
