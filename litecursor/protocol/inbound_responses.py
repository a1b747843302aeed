"""The Responses dialect (`input` items, `instructions`), as Cursor's Agent mode sends it for
GPT-5-family names -> `ChatRequest`."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequestError
from .fields import Obj, opt_bool, opt_int, opt_str, req_list, req_obj, req_str
from .history import pair_tool_results
from .request_parts import common_fields, mark_custom, read_arguments, read_parts
from .types import RESPONSES_EXTRAS, ChatRequest, Message, Part, ResponseFormat, TextPart, ToolCall


def parse_responses(body: Obj, model: str, before: tuple[Message, ...] = ()) -> ChatRequest:
    """The Responses body; `before` holds the messages of a `messages` array sent beside
    `input`, which come first."""
    raw_input = body["input"]
    messages: list[Message] = []
    instructions = opt_str(body, "instructions")
    if instructions:
        messages.append(Message("system", (TextPart(instructions),)))
    messages.extend(before)
    if isinstance(raw_input, str):
        messages.append(Message("user", (TextPart(raw_input),)))
    else:
        messages.extend(_input_items(req_list(raw_input, "input")))
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
    if body.get("background"):
        raise InvalidRequestError(
            "'background' responses are not supported: litecursor answers within the request "
            "(send background: false or leave it out)",
            param="background",
        )
    extras = {k: body[k] for k in RESPONSES_EXTRAS if body.get(k) is not None}
    history = mark_custom(tuple(messages), fields["tools"])
    if "previous_response_id" not in extras:  # else results may answer calls kept upstream
        history = pair_tool_results(history)
    return ChatRequest(
        messages=history,
        dialect="responses",
        max_tokens=_max_tokens(body),
        response_format=response_format,
        verbosity=verbosity,
        responses_extras=extras,
        **fields,
    )


def _max_tokens(body: Obj) -> int | None:
    """`max_output_tokens`, or the Chat names an SDK user sends beside `input`."""
    for name in ("max_output_tokens", "max_completion_tokens", "max_tokens"):
        value = opt_int(body, name, minimum=1)
        if value is not None:
            return value
    return None


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
    reasoning items attach to the assistant turn that follows them.

    Paths (`input[3].call_id`) are built only for a value that fails its check, which then
    goes to the `fields` reader to name the fault."""
    out: list[Message] = []
    reasoning: list[dict[str, Any]] = []
    # the assistant turn being read, added to `out` when an item of another turn comes: text
    # after a call is still the same turn, as a message between calls and their results would
    # split them, which every upstream refuses
    turn: _Turn | None = None
    for i, raw in enumerate(items):
        item = raw if isinstance(raw, dict) else req_obj(raw, f"input[{i}]")
        kind = item.get("type")
        if kind == "function_call" or kind == "custom_tool_call":
            call = _call(item, kind, i)
            turn = _assistant_turn(out, turn, reasoning)
            turn.calls.append(call)
            continue
        if kind == "function_call_output" or kind == "custom_tool_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                call_id = req_str(item, "call_id", f"input[{i}].call_id")
            message = Message("tool", _parts(item, "output", i), tool_call_id=call_id)
        elif kind is None or kind == "message":
            role = item.get("role")
            if role == "assistant":
                parts = _parts(item, "content", i)
                turn = _assistant_turn(out, turn, reasoning)
                turn.parts.extend(parts)
                continue
            if role == "user":
                message = Message("user", _parts(item, "content", i))
            elif role == "system" or role == "developer":
                message = Message("system", _parts(item, "content", i))
            elif role is None:
                raise InvalidRequestError(f"input[{i}].role is required", param=f"input[{i}].role")
            else:
                raise InvalidRequestError(
                    f"input[{i}].role '{role}' is not one of system, developer, user, assistant",
                    param=f"input[{i}].role",
                )
        elif kind == "reasoning":
            reasoning.append(item)
            continue
        elif kind == "item_reference":
            raise InvalidRequestError(
                f"input[{i}]: item_reference needs server-side state, which "
                "litecursor does not keep; send the items themselves",
                param=f"input[{i}].type",
            )
        else:  # other item kinds (hosted tool calls) have no meaning for other upstreams
            continue
        if turn is not None:
            out.append(turn.message())
            turn = None
        out.append(message)
    if turn is not None:
        out.append(turn.message())
    return out


class _Turn:
    """An assistant turn being read: its text and calls, and the reasoning that preceded it
    (taken from the pending list, which is emptied)."""

    __slots__ = ("calls", "parts", "reasoning")

    def __init__(self, reasoning: list[dict[str, Any]]) -> None:
        self.parts: list[Part] = []
        self.calls: list[ToolCall] = []
        self.reasoning = tuple(reasoning)
        reasoning.clear()

    def message(self) -> Message:
        return Message("assistant", tuple(self.parts), tuple(self.calls), reasoning=self.reasoning)


def _assistant_turn(
    out: list[Message], turn: _Turn | None, reasoning: list[dict[str, Any]]
) -> _Turn:
    """The turn an assistant item belongs to: the one being read, unless reasoning items came
    since, which start a new one."""
    if turn is not None and not reasoning:
        return turn
    if turn is not None:
        out.append(turn.message())
    return _Turn(reasoning)


def _call(item: Obj, kind: str, i: int) -> ToolCall:
    """A `function_call` or `custom_tool_call` item."""
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        call_id = req_str(item, "call_id", f"input[{i}].call_id")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        name = req_str(item, "name", f"input[{i}].name")
    if kind == "function_call":
        arguments = item.get("arguments")
        if not isinstance(arguments, str):
            arguments = read_arguments(arguments, f"input[{i}].arguments")
        return ToolCall(call_id, name, arguments)
    raw = item.get("input")
    if raw is not None and not isinstance(raw, str):
        opt_str(item, "input", f"input[{i}].input")
    return ToolCall(call_id, name, raw or "", "custom")


def _parts(item: Obj, key: str, i: int) -> tuple[Part, ...]:
    """`read_parts` of `item[key]`: a plain string, the usual tool output, needs no path."""
    value = item.get(key)
    if isinstance(value, str):
        return (TextPart(value),) if value else ()
    return read_parts(value, f"input[{i}].{key}")
