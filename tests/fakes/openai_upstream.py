"""A fake OpenAI Chat Completions server that validates like the real one and answers scripted replies."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .common import FakeUpstream, Reply, error_response, split_text

KNOWN_PARAMS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "n",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "reasoning_effort",
        "verbosity",
        "service_tier",
        "user",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "store",
        "metadata",
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "prompt_cache_key",
        "safety_identifier",
    }
)
REASONING_MODELS = ("o1", "o3", "o4", "gpt-5")
ID_MAX = 64  # tool call ids (40 until 2025)


def invalid(
    message: str, param: str | None = None, code: str | None = None, status: int = 400
) -> web.Response:
    return error_response(
        status,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        },
    )


def validate_chat(body: Any) -> web.Response | None:
    """The checks the real API makes that a translation bug would trip."""
    if not isinstance(body, dict):
        return invalid("We could not parse the JSON body of your request.")
    for key in body:
        if key not in KNOWN_PARAMS:
            return invalid(f"Unrecognized request argument supplied: {key}")
    if "model" not in body:
        return invalid("you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return invalid(
            "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
        )
    if body.get("stream_options") is not None and not body.get("stream"):
        return invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )
    if "max_tokens" in body and str(body["model"]).startswith(REASONING_MODELS):
        return invalid(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    err = _validate_tools(body.get("tools"))
    if err is not None:
        return err
    return _validate_messages(messages)


def _validate_tools(tools: Any) -> web.Response | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return invalid("Invalid type for 'tools': expected an array.", "tools")
    for i, t in enumerate(tools):
        if isinstance(t, dict) and t.get("type") == "custom":
            err = _validate_custom_tool(t, f"tools[{i}]")
            if err is not None:
                return err
            continue
        if not isinstance(t, dict) or t.get("type") != "function":
            return invalid(
                f"Invalid value: '{t.get('type') if isinstance(t, dict) else t}'. "
                "Supported values are: 'function' and 'custom'.",
                f"tools[{i}].type",
            )
        fn = t.get("function")
        if not isinstance(fn, dict):
            return invalid(
                f"Missing required parameter: 'tools[{i}].function'.",
                f"tools[{i}].function",
                "missing_required_parameter",
            )
        if not isinstance(fn.get("name"), str):
            return invalid(
                f"Missing required parameter: 'tools[{i}].function.name'.",
                f"tools[{i}].function.name",
                "missing_required_parameter",
            )
        extra = set(fn) - {"name", "description", "parameters", "strict"}
        if extra:
            return invalid(
                f"Unknown parameter: 'tools[{i}].function.{sorted(extra)[0]}'.",
                f"tools[{i}].function",
                "unknown_parameter",
            )
    return None


def _unknown(param: str) -> web.Response:
    return invalid(f"Unknown parameter: '{param}'.", param, "unknown_parameter")


def _missing(param: str) -> web.Response:
    return invalid(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def _extra(obj: dict[str, Any], allowed: set[str], path: str) -> web.Response | None:
    for key in obj:
        if key not in allowed:
            return _unknown(f"{path}.{key}")
    return None


def _validate_custom_tool(t: dict[str, Any], path: str) -> web.Response | None:
    """The Chat API's custom tool: `{type: "custom", custom: {name, description, format}}`,
    whose grammar format nests its grammar (`{type: "grammar", grammar: {definition,
    syntax}}`); the Responses API's flat `{type: "grammar", syntax, definition}` is refused."""
    err = _extra(t, {"type", "custom"}, path)
    if err is not None:
        return err
    inner = t.get("custom")
    if not isinstance(inner, dict):
        return _missing(f"{path}.custom")
    err = _extra(inner, {"name", "description", "format"}, f"{path}.custom")
    if err is not None:
        return err
    if not isinstance(inner.get("name"), str):
        return _missing(f"{path}.custom.name")
    fmt = inner.get("format")
    if fmt is None:
        return None
    fpath = f"{path}.custom.format"
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return _extra(fmt, {"type"}, fpath)
    if kind != "grammar":
        return invalid(
            f"Invalid value: '{kind}'. Supported values are: 'text' and 'grammar'.",
            f"{fpath}.type",
            "invalid_value",
        )
    err = _extra(fmt, {"type", "grammar"}, fpath)
    if err is not None:
        return err
    grammar = fmt.get("grammar")
    if not isinstance(grammar, dict):
        return _missing(f"{fpath}.grammar")
    err = _extra(grammar, {"definition", "syntax"}, f"{fpath}.grammar")
    if err is not None:
        return err
    for key in ("definition", "syntax"):
        if not isinstance(grammar.get(key), str):
            return _missing(f"{fpath}.grammar.{key}")
    if grammar["syntax"] not in ("lark", "regex"):
        return invalid(
            f"Invalid value: '{grammar['syntax']}'. Supported values are: 'lark' and 'regex'.",
            f"{fpath}.grammar.syntax",
            "invalid_value",
        )
    return None


def _validate_messages(messages: list[Any]) -> web.Response | None:
    pending: list[str] = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("system", "developer", "user", "assistant", "tool"):
            return invalid(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', "
                "'user', 'tool', and 'developer'.",
                f"messages[{i}].role",
            )
        content = m.get("content")
        if role == "tool":
            if m.get("tool_call_id") not in pending:
                return invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            pending.remove(m["tool_call_id"])
            if not isinstance(content, str | list):
                return invalid(
                    f"Invalid type for 'messages[{i}].content'.", f"messages[{i}].content"
                )
            continue
        if pending:
            return invalid(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}",
                "messages",
            )
        if role == "assistant":
            calls = m.get("tool_calls") or []
            if content is None and not calls:
                return invalid(
                    "Invalid value for 'content': expected a string, got null.",
                    f"messages.[{i}].content",
                )
            for j, c in enumerate(calls):
                fn = c.get("function") if isinstance(c, dict) else None
                cid = c.get("id") if isinstance(c, dict) else None
                if isinstance(cid, str) and len(cid) > ID_MAX:
                    return invalid(
                        f"Invalid 'messages[{i}].tool_calls[{j}].id': string too long. Expected "
                        f"a string with maximum length {ID_MAX}, but got a string with length "
                        f"{len(cid)} instead.",
                        f"messages[{i}].tool_calls[{j}].id",
                        "string_above_max_length",
                    )
                if c.get("type") == "custom":  # a replayed custom call: {name, input}
                    inner = c.get("custom")
                    if not isinstance(inner, dict) or not isinstance(inner.get("input"), str):
                        return _missing(f"messages[{i}].tool_calls[{j}].custom.input")
                    err = _extra(inner, {"name", "input"}, f"messages[{i}].tool_calls[{j}].custom")
                    if err is not None:
                        return err
                    pending.append(c.get("id"))
                    continue
                if (
                    c.get("type") != "function"
                    or not isinstance(fn, dict)
                    or not isinstance(fn.get("arguments"), str)
                ):
                    return invalid(
                        f"Missing required parameter: 'messages[{i}].tool_calls[{j}].function'.",
                        f"messages[{i}].tool_calls[{j}].function",
                    )
                pending.append(c.get("id"))
        elif not isinstance(content, str | list):
            return invalid(
                f"Invalid type for 'messages[{i}].content': expected one of a string or "
                f"array of objects, but got {type(content).__name__} instead.",
                f"messages[{i}].content",
            )
        if isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict) or part.get("type") not in (
                    "text",
                    "image_url",
                    "refusal",
                    "input_audio",
                    "file",
                ):
                    return invalid(
                        f"Invalid value: '{part.get('type') if isinstance(part, dict) else part}'."
                        " Supported values are: 'text', 'image_url', 'input_audio', "
                        "'refusal', 'audio', and 'file'.",
                        f"messages[{i}].content[{j}].type",
                    )
    if pending:
        return invalid(
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(pending)}",
            "messages",
        )
    return None


def _chunk(
    model: str, delta: dict[str, Any] | None, finish: str | None = None, **extra: Any
) -> bytes:
    obj: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [],
    }
    if delta is not None:
        obj["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    obj.update(extra)
    return f"data: {json.dumps(obj)}\n\n".encode()


def usage_of(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
    }


def render_stream(reply: Reply, model: str, include_usage: bool) -> list[bytes]:
    out = [_chunk(model, {"role": "assistant", "content": ""})]
    for piece in split_text(reply.reasoning, reply.pieces):
        out.append(_chunk(model, {"reasoning_content": piece}))
    for piece in split_text(reply.text, reply.pieces):
        out.append(_chunk(model, {"content": piece}))
    for i, call in enumerate(reply.tool_calls):
        out.append(
            _chunk(
                model,
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                },
            )
        )
        for piece in split_text(call.arguments, reply.pieces):
            out.append(
                _chunk(model, {"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
            )
    if reply.stream_error:
        out.append(
            f"data: {json.dumps({'error': {'message': reply.stream_error, 'type': 'server_error', 'param': None, 'code': None}})}\n\n".encode()
        )
        return out
    out.append(_chunk(model, {}, reply.finish_reason()))
    if include_usage:
        out.append(_chunk(model, None, usage=usage_of(reply)))
    out.append(b"data: [DONE]\n\n")
    return out


def render_body(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason()}],
        "usage": usage_of(reply),
    }


async def handle_chat(
    fake: FakeUpstream, request: web.Request, body: Any, lead: tuple[bytes, ...] = ()
) -> web.StreamResponse:
    """Validate, apply faults, answer. Shared with the Azure fake, whose streams start with
    the chunks in `lead`."""
    err = validate_chat(body)
    if err is not None:
        return err
    resp = await fake.before_reply(request)
    if resp is not None:
        return resp
    reply = fake.next_reply()
    if reply.raw is not None:
        return await fake.write_stream(request, [reply.raw], reply.raw_content_type)
    model = body["model"]
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await fake.write_stream(
            request, [*lead, *render_stream(reply, model, include_usage)]
        )
    return web.json_response(render_body(reply, model))


def vllm_error(message: str) -> web.Response:
    """vLLM's error body (`object: "error"`, the status as `code`)."""
    body = {"object": "error", "message": message, "type": "BadRequestError", "param": None}
    return error_response(400, {**body, "code": 400})


def validate_chat_template(body: dict[str, Any]) -> web.Response | None:
    """What an OpenAI-compatible server refuses once the request reaches the model's chat
    template (vLLM with the templates of Llama, Qwen, Mistral, Gemma...): a system message
    anywhere but first, and an empty text part."""
    for i, m in enumerate(body["messages"]):
        if m.get("role") == "system" and i:
            return vllm_error("System message must be at the beginning.")
        content = m.get("content")
        if isinstance(content, list) and any(
            p.get("type") == "text" and not p.get("text") for p in content
        ):
            return vllm_error("Text content must not be empty.")
    return None


def make_vllm_app(fake: FakeUpstream) -> web.Application:
    """An OpenAI-compatible server (vLLM's `/v1/chat/completions`): the Chat API's checks,
    then its chat template's."""

    async def chat(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        fake.record(request, body)
        err = validate_chat(body) or validate_chat_template(body)
        return err or await handle_chat(fake, request, body)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def make_app(fake: FakeUpstream) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        fake.record(request, body)
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return invalid("You didn't provide an API key.", status=401)
        return await handle_chat(fake, request, body)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app
