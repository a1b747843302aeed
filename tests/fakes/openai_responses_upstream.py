"""A fake OpenAI Responses API (`POST /v1/responses`), as strict about its input as the real one.

Error bodies follow OpenAI's wording ("Unknown parameter: 'x'.", "Missing required parameter:
'x'.", ...) with `param` and `code`. `validate` and `reply` are reused by the Azure fake.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from aiohttp import web

from .common import FakeUpstream, Reply, error_response, split_text

_PARAMS = frozenset(
    "background context_management conversation include input instructions "  # noqa: SIM905
    "max_output_tokens max_tool_calls metadata model parallel_tool_calls "
    "previous_response_id prompt prompt_cache_key prompt_cache_retention reasoning "
    "safety_identifier service_tier store stream stream_options temperature text "
    "tool_choice tools top_logprobs top_p truncation user".split()
)
_ITEM_KEYS = {
    "message": {"type", "role", "content", "id", "status", "phase"},
    "function_call": {"type", "call_id", "name", "arguments", "id", "status", "namespace"},
    "custom_tool_call": {"type", "call_id", "name", "input", "id", "namespace"},
    "function_call_output": {"type", "call_id", "output", "id", "status"},
    "custom_tool_call_output": {"type", "call_id", "output", "id"},
    "reasoning": {"type", "id", "summary", "content", "encrypted_content", "status"},
    "item_reference": {"type", "id"},
}
_REQUIRED = {
    "function_call": ("call_id", "name", "arguments"),
    "custom_tool_call": ("call_id", "name", "input"),
    "function_call_output": ("call_id", "output"),
    "custom_tool_call_output": ("call_id", "output"),
    "reasoning": ("summary",),
}
_PART_KEYS = {
    "input_text": {"type", "text"},
    "input_image": {"type", "image_url", "file_id", "detail"},
    "input_file": {"type", "file_id", "file_data", "file_url", "filename"},
    "output_text": {"type", "text", "annotations", "logprobs"},
    "refusal": {"type", "refusal"},
}
_INPUT_PARTS = ("input_text", "input_image", "input_file")
_ASSISTANT_PARTS = ("output_text", "refusal")
_FOLLOWERS = frozenset(
    "function_call custom_tool_call reasoning web_search_call file_search_call "  # noqa: SIM905
    "computer_call local_shell_call".split()
)
_TOOL_KEYS = {
    "function": {"type", "name", "description", "parameters", "strict", "defer_loading"},
    "custom": {"type", "name", "description", "format", "defer_loading"},
}
_HOSTED_TOOLS = frozenset(
    "web_search web_search_preview file_search computer_use_preview code_interpreter "  # noqa: SIM905
    "image_generation mcp local_shell shell".split()
)
_ENUMS = {
    "service_tier": ("auto", "default", "flex", "scale", "priority"),
    "truncation": ("auto", "disabled"),
    "prompt_cache_retention": ("in_memory", "24h"),
    "reasoning.effort": ("none", "minimal", "low", "medium", "high", "xhigh"),
    "reasoning.summary": ("auto", "concise", "detailed"),
    "text.verbosity": ("low", "medium", "high"),
}
ID_MAX = 64


class Invalid(Exception):
    """One request error, as the real API reports it (the first problem found)."""

    def __init__(self, message: str, param: str | None, code: str | None, status: int = 400):
        super().__init__(message)
        self.body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        }
        self.status = status


def _unknown(param: str) -> Invalid:
    return Invalid(f"Unknown parameter: '{param}'.", param, "unknown_parameter")


def _missing(param: str) -> Invalid:
    return Invalid(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a decimal",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), "a value")


def _bad_type(param: str, expected: str, value: Any) -> Invalid:
    return Invalid(
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.",
        param,
        "invalid_type",
    )


def _bad_value(param: str, value: Any, allowed: tuple[str, ...]) -> Invalid:
    quoted = [f"'{a}'" for a in allowed]
    listed = (
        " and ".join(quoted) if len(quoted) < 3 else ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
    )
    return Invalid(
        f"Invalid value: '{value}'. Supported values are: {listed}.", param, "invalid_value"
    )


def _too_long(param: str, value: str, limit: int = ID_MAX) -> Invalid:
    return Invalid(
        f"Invalid '{param}': string too long. Expected a string with maximum length "
        f"{limit}, but got a string with length {len(value)} instead.",
        param,
        "string_above_max_length",
    )


def _keys(obj: Any, allowed: set[str] | frozenset[str], path: str) -> None:
    if not isinstance(obj, dict):
        raise _bad_type(path, "an object", obj)
    for key in obj:
        if key not in allowed:
            raise _unknown(f"{path}.{key}" if path else key)


def _enum(value: Any, param: str) -> None:
    allowed = _ENUMS[param]
    if value is not None and value not in allowed:
        raise _bad_value(param, value, allowed)


def validate(body: Any) -> Invalid | None:
    """The first problem the real API would report for `body`, or None."""
    try:
        _validate(body)
    except Invalid as e:
        return e
    return None


def _validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise Invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means "
            "you aren't using your HTTP library correctly.)",
            None,
            None,
        )
    _keys(body, _PARAMS, "")
    if "model" not in body:
        raise _missing("model")
    so = body.get("stream_options")
    if so is not None:
        _keys(so, {"include_obfuscation"}, "stream_options")
    md = body.get("metadata")
    if md is not None:
        if not isinstance(md, dict) or len(md) > 16:
            raise _bad_type("metadata", "an object with at most 16 string values", md)
        for k, v in md.items():
            if not isinstance(v, str):
                raise _bad_type(f"metadata.{k}", "a string", v)
    user = body.get("user")
    if isinstance(user, str) and len(user) > ID_MAX:
        raise _too_long("user", user)
    mot = body.get("max_output_tokens")
    if isinstance(mot, int) and mot < 16:
        raise Invalid(
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value "
            f">= 16, but got {mot} instead.",
            "max_output_tokens",
            "integer_below_min_value",
        )
    for name in ("service_tier", "truncation", "prompt_cache_retention"):
        _enum(body.get(name), name)
    for name, keys in (
        ("reasoning", {"effort", "summary", "generate_summary"}),
        ("text", {"format", "verbosity"}),
    ):
        sub = body.get(name)
        if sub is not None:
            _keys(sub, keys, name)
            for key in keys:
                if f"{name}.{key}" in _ENUMS:
                    _enum(sub.get(key), f"{name}.{key}")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _bad_type("stream", "a boolean", body["stream"])
    _validate_tools(body.get("tools"))
    _validate_input(body.get("input"), body.get("previous_response_id") is not None)


def _validate_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _bad_type("tools", "an array", tools)
    for i, tool in enumerate(tools):
        path = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _bad_type(path, "an object", tool)
        kind = tool.get("type")
        if kind in _HOSTED_TOOLS:
            continue
        if kind not in _TOOL_KEYS:
            raise _bad_value(f"{path}.type", kind, ("function", "custom", *sorted(_HOSTED_TOOLS)))
        if not tool.get("name"):
            raise _missing(f"{path}.name")
        _keys(tool, _TOOL_KEYS[kind], path)
        if kind == "custom" and "format" in tool:
            _validate_format(tool["format"], f"{path}.format")


def _validate_format(fmt: Any, path: str) -> None:
    """A custom tool's `format`: `{type: "text"}` or `{type: "grammar", syntax, definition}`,
    flat (the Chat API's nested `grammar: {...}` is an unknown parameter here)."""
    if not isinstance(fmt, dict):
        raise _bad_type(path, "an object", fmt)
    kind = fmt.get("type")
    if kind == "text":
        _keys(fmt, {"type"}, path)
        return
    if kind != "grammar":
        raise _bad_value(f"{path}.type", kind, ("text", "grammar"))
    _keys(fmt, {"type", "syntax", "definition"}, path)
    for key in ("syntax", "definition"):
        if key not in fmt:
            raise _missing(f"{path}.{key}")
    if not isinstance(fmt["definition"], str):
        raise _bad_type(f"{path}.definition", "a string", fmt["definition"])
    if fmt["syntax"] not in ("lark", "regex"):
        raise _bad_value(f"{path}.syntax", fmt["syntax"], ("lark", "regex"))


def _validate_input(items: Any, has_previous: bool) -> None:
    if items is None or isinstance(items, str):
        return
    if not isinstance(items, list):
        raise _bad_type("input", "one of a string or array of input items", items)
    calls: dict[str, str] = {}
    for i, item in enumerate(items):
        path = f"input[{i}]"
        if not isinstance(item, dict):
            raise _bad_type(path, "an object", item)
        kind = item.get("type", "message")
        if kind not in _ITEM_KEYS:
            raise _bad_value(f"{path}.type", kind, tuple(_ITEM_KEYS))
        _keys(item, _ITEM_KEYS[kind], path)
        for key in _REQUIRED.get(kind, ()):
            if key not in item:
                raise _missing(f"{path}.{key}")
        cid = item.get("call_id")
        if isinstance(cid, str) and len(cid) > ID_MAX:
            raise _too_long(f"{path}.call_id", cid)
        if kind == "message":
            _validate_message(item, path)
        elif kind in ("function_call", "custom_tool_call"):
            raw = item["arguments" if kind == "function_call" else "input"]
            if not isinstance(raw, str):
                key = "arguments" if kind == "function_call" else "input"
                raise _bad_type(f"{path}.{key}", "a string", raw)
            calls[cid] = kind
        elif kind.endswith("_output") and not has_previous and calls.get(cid) != kind[:-7]:
            what = "function call" if kind == "function_call_output" else "custom tool call"
            raise Invalid(
                f"No tool call found for {what} output with call_id {cid}.", "input", None
            )
        elif kind == "reasoning":
            nxt = items[i + 1] if i + 1 < len(items) else None
            follows = isinstance(nxt, dict) and (
                nxt.get("type") in _FOLLOWERS
                or (nxt.get("type", "message") == "message" and nxt.get("role") == "assistant")
            )
            if not follows:
                raise Invalid(
                    f"Item '{item.get('id', '')}' of type 'reasoning' was provided "
                    "without its required following item.",
                    "input",
                    None,
                )


def _validate_message(item: dict[str, Any], path: str) -> None:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise _bad_value(f"{path}.role", role, ("user", "assistant", "system", "developer"))
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _bad_type(f"{path}.content", "one of an array of objects or string", content)
    allowed = _ASSISTANT_PARTS if role == "assistant" else _INPUT_PARTS
    for j, part in enumerate(content):
        ppath = f"{path}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed:
            raise _bad_value(ppath, kind, allowed)
        _keys(part, _PART_KEYS[kind], ppath)


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------


def _response(
    body: dict[str, Any],
    rid: str,
    status: str,
    output: list[Any],
    usage: dict[str, Any] | None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "created_at": 1767225600,
        "status": status,
        "error": extra.get("error"),
        "incomplete_details": extra.get("incomplete_details"),
        "instructions": body.get("instructions"),
        "model": body.get("model"),
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "store": body.get("store", True),
        "tools": body.get("tools", []),
        "usage": usage,
    }


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "input_tokens": reply.prompt_tokens,
        "input_tokens_details": {"cached_tokens": reply.cached_tokens},
        "output_tokens": reply.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _items(reply: Reply) -> list[dict[str, Any]]:
    """The finished output items of a reply."""
    items: list[dict[str, Any]] = []
    if reply.reasoning:
        items.append(
            {
                "id": "rs_fake0",
                "type": "reasoning",
                "encrypted_content": "gAAAAfake-blob",
                "summary": [{"type": "summary_text", "text": reply.reasoning}],
            }
        )
    if reply.text:
        items.append(
            {
                "id": "msg_fake0",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "annotations": [], "text": reply.text}],
            }
        )
    for n, tc in enumerate(reply.tool_calls):
        if tc.custom:
            items.append(
                {
                    "id": f"ctc_fake{n}",
                    "type": "custom_tool_call",
                    "status": "completed",
                    "call_id": tc.id,
                    "name": tc.name,
                    "input": tc.arguments,
                }
            )
        else:
            items.append(
                {
                    "id": f"fc_fake{n}",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": tc.id,
                    "name": tc.name,
                    "arguments": tc.arguments,
                }
            )
    return items


def _end_state(reply: Reply) -> tuple[str, dict[str, Any] | None]:
    finish = reply.finish_reason()
    if finish == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def render_json(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    status, details = _end_state(reply)
    return _response(
        body, "resp_fake", status, _items(reply), _usage(reply), incomplete_details=details
    )


def render_sse(reply: Reply, body: dict[str, Any]) -> list[bytes]:
    """The reply as Responses SSE, one event per chunk."""
    seq = itertools.count()
    chunks: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        data = orjson.dumps({"type": kind, "sequence_number": next(seq), **fields})
        chunks.append(b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n")

    emit("response.created", response=_response(body, "resp_fake", "in_progress", [], None))
    emit("response.in_progress", response=_response(body, "resp_fake", "in_progress", [], None))
    done = _items(reply)
    for idx, item in enumerate(done):
        kind, iid = item["type"], item["id"]
        at = {"item_id": iid, "output_index": idx}
        if kind == "reasoning":
            emit(
                "response.output_item.added",
                output_index=idx,
                item={"id": iid, "type": "reasoning", "summary": []},
            )
            part = {"type": "summary_text", "text": ""}
            emit("response.reasoning_summary_part.added", **at, summary_index=0, part=part)
            for piece in split_text(reply.reasoning, reply.pieces):
                emit("response.reasoning_summary_text.delta", **at, summary_index=0, delta=piece)
            emit(
                "response.reasoning_summary_text.done", **at, summary_index=0, text=reply.reasoning
            )
            emit(
                "response.reasoning_summary_part.done",
                **at,
                summary_index=0,
                part={"type": "summary_text", "text": reply.reasoning},
            )
        elif kind == "message":
            emit(
                "response.output_item.added",
                output_index=idx,
                item={**item, "status": "in_progress", "content": []},
            )
            at_c = {**at, "content_index": 0}
            part = {"type": "output_text", "annotations": [], "text": ""}
            emit("response.content_part.added", **at_c, part=part)
            for piece in split_text(reply.text, reply.pieces):
                emit("response.output_text.delta", **at_c, delta=piece, logprobs=[])
            emit("response.output_text.done", **at_c, text=reply.text, logprobs=[])
            emit("response.content_part.done", **at_c, part={**part, "text": reply.text})
        else:
            field = "input" if kind == "custom_tool_call" else "arguments"
            prefix = "custom_tool_call_input" if field == "input" else "function_call_arguments"
            emit(
                "response.output_item.added",
                output_index=idx,
                item={**item, "status": "in_progress", field: ""},
            )
            for piece in split_text(item[field], reply.pieces):
                emit(f"response.{prefix}.delta", **at, delta=piece)
            emit(f"response.{prefix}.done", **at, **{field: item[field]})
        emit("response.output_item.done", output_index=idx, item=item)
    if reply.stream_error:
        error = {
            "type": "server_error",
            "code": "server_error",
            "message": reply.stream_error,
            "param": None,
        }
        emit("error", error=error)
        failed = _response(
            body,
            "resp_fake",
            "failed",
            done,
            None,
            error={"code": "server_error", "message": reply.stream_error},
        )
        emit("response.failed", response=failed)
        return chunks
    status, details = _end_state(reply)
    final = _response(body, "resp_fake", status, done, _usage(reply), incomplete_details=details)
    emit("response.completed" if status == "completed" else "response.incomplete", response=final)
    return chunks


async def reply(fake: FakeUpstream, request: web.Request, body: Any) -> web.StreamResponse:
    """Everything after recording and authentication: validate, apply faults, answer."""
    problem = validate(body)
    if problem is not None:
        return error_response(problem.status, problem.body)
    resp = await fake.before_reply(request)
    if resp is not None:
        return resp
    answer = fake.next_reply()
    if answer.raw is not None:
        return await fake.write_stream(request, [answer.raw], answer.raw_content_type)
    if body.get("stream"):
        return await fake.write_stream(request, render_sse(answer, body))
    return web.json_response(render_json(answer, body))


async def read_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (i.e. "
    "YOUR_KEY as the username and leave the password empty). You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)


def make_app(fake: FakeUpstream) -> web.Application:
    async def responses(request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        fake.record(request, body)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return error_response(401, Invalid(_NO_KEY, None, None).body)
        return await reply(fake, request, body)

    app = web.Application()
    app.router.add_post("/v1/responses", responses)
    return app
