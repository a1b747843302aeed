"""A fake Anthropic Messages API (`POST /v1/messages`) that checks requests as strictly as the real one."""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Any

import orjson
from aiohttp import web

from . import anthropic_cache
from .common import FakeUpstream, Reply, ToolCallSpec, split_text

TOP_LEVEL = frozenset(
    {
        "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
        "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier",
        "container", "context_management", "mcp_servers", "output_config", "inference_geo",
        "cache_control",
    }
)  # fmt: skip
TOOL_KEYS = frozenset({"name", "description", "input_schema", "cache_control", "type", "strict"})
BLOCK_TYPES = frozenset(
    {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}
)
ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
STOP_REASON = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
SIGNATURE = "RmFrZVNpZ25hdHVyZQ=="
_ids = itertools.count(1)


class Invalid(Exception):
    """A request the real API would refuse with 400 `invalid_request_error`."""


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(error_body(kind, message), status=status)


def make_app(fake: FakeUpstream) -> web.Application:
    cache = anthropic_cache.PromptCache()

    async def messages(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        fake.record(request, body)
        if not request.headers.get("x-api-key"):
            return _error(401, "authentication_error", "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body, dict):
            return _error(400, "invalid_request_error", "There was an error parsing the body")
        try:
            validate(body)
        except Invalid as e:
            return _error(400, "invalid_request_error", str(e))
        resp = await fake.before_reply(request)
        if resp is not None:
            return resp
        reply = fake.next_reply()
        if not reply.cached_tokens and not reply.cache_creation_tokens:
            # as the API reports them: what this request's breakpoints read and wrote
            read, written, total = cache.use(body)
            if read or written:
                reply = dataclasses.replace(
                    reply,
                    prompt_tokens=total,
                    cached_tokens=read,
                    cache_creation_tokens=written,
                )
        if reply.raw is not None:
            pieces = [p for p in re.split(rb"(?<=\n\n)", reply.raw) if p]
            return await fake.write_stream(request, pieces, reply.raw_content_type)
        if body.get("stream"):
            return await fake.write_stream(request, render_stream(reply, body["model"]))
        if reply.stream_error:
            return _error(529, "overloaded_error", reply.stream_error)
        return web.json_response(render_message(reply, body["model"]))

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    return app


# ---------------------------------------------------------------------------------------------
# Validation, in the real API's words
# ---------------------------------------------------------------------------------------------


def validate(body: dict[str, Any]) -> None:
    for key in body:
        if key not in TOP_LEVEL:
            raise Invalid(f"{key}: Extra inputs are not permitted")
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            raise Invalid(f"{key}: Field required")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        raise Invalid("max_tokens: Input should be a valid integer greater than or equal to 1")
    tools = body.get("tools") or []
    for i, tool in enumerate(tools):
        _check_tool(i, tool)
    _check_tool_choice(body.get("tool_choice"), {t.get("name") for t in tools})
    _check_messages(body["messages"], has_tools=bool(tools))
    _check_thinking(body)
    problem = anthropic_cache.check(body)
    if problem is not None:
        raise Invalid(problem)


def _check_tool(i: int, tool: dict[str, Any]) -> None:
    kind = tool.get("type", "custom")
    if kind != "custom":
        raise Invalid(
            f"tools.{i}: Input tag '{kind}' found using 'type' does not match any of the expected "
            "tags: 'bash_20250124', 'custom', 'text_editor_20250124', 'web_search_20250305'"
        )
    for key in tool:
        if key not in TOOL_KEYS:
            raise Invalid(f"tools.{i}.custom.{key}: Extra inputs are not permitted")
    for key in ("name", "input_schema"):
        if key not in tool:
            raise Invalid(f"tools.{i}.custom.{key}: Field required")
    if not re.fullmatch(r"[a-zA-Z0-9_-]{1,128}", str(tool["name"])):
        raise Invalid(
            f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
        )
    schema = tool["input_schema"]
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise Invalid(f"tools.{i}.custom.input_schema.type: Input should be 'object'")


def _check_tool_choice(choice: Any, names: set[Any]) -> None:
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise Invalid("tool_choice: Input should be an object with type auto, any, tool or none")
    if kind == "tool" and choice.get("name") not in names:
        raise Invalid(f"Tool '{choice.get('name')}' not found in provided tools")
    if kind == "none" and "disable_parallel_tool_use" in choice:
        raise Invalid("tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted")


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        if not content:
            raise Invalid(f"{where}: messages must have non-empty content")
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise Invalid(f"{where}: all messages must have non-empty content")
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            raise Invalid(
                f"{where}.content.{j}.type: Input tag '{kind}' is not a content block type"
            )
        if kind == "text" and not block.get("text"):
            raise Invalid(f"{where}.content.{j}.text: text content blocks must be non-empty")
        if kind == "tool_use":
            if not ID_PATTERN.match(str(block.get("id", ""))):
                raise Invalid(
                    f"{where}.content.{j}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                )
            if not isinstance(block.get("input"), dict):
                raise Invalid(
                    f"{where}.content.{j}.tool_use.input: Input should be a valid dictionary"
                )
        if kind == "tool_result" and not ID_PATTERN.match(str(block.get("tool_use_id", ""))):
            raise Invalid(
                f"{where}.content.{j}.tool_result.tool_use_id: String should match pattern "
                "'^[a-zA-Z0-9_-]+$'"
            )
        if kind == "image":
            _check_image(block.get("source") or {}, f"{where}.content.{j}.image.source")
    return content


def _check_image(source: dict[str, Any], where: str) -> None:
    if source.get("type") == "base64":
        if source.get("media_type") not in ("image/jpeg", "image/png", "image/gif", "image/webp"):
            raise Invalid(
                f"{where}.base64.media_type: Input should be 'image/jpeg', 'image/png', ..."
            )
        if not source.get("data"):
            raise Invalid(f"{where}.base64.data: Field required")
    elif source.get("type") == "url":
        if not str(source.get("url", "")).startswith(("http://", "https://")):
            raise Invalid(f"{where}.url.url: Input should be a valid URL")
    else:
        raise Invalid(f"{where}: Input tag '{source.get('type')}' does not match 'base64' or 'url'")


def _check_messages(messages: Any, *, has_tools: bool) -> None:
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: at least one message is required")
    if messages[0].get("role") != "user":
        raise Invalid('messages: first message must use the "user" role')
    previous_uses: list[str] = []
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role not in ("user", "assistant"):
            raise Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i and messages[i - 1].get("role") == role:
            raise Invalid(
                f'messages: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row'
            )
        blocks = _blocks(msg.get("content"), f"messages.{i}")
        kinds = {b["type"] for b in blocks}
        if kinds & {"tool_use", "tool_result"} and not has_tools:
            raise Invalid(
                "Requests which include `tool_use` or `tool_result` blocks must define tools."
            )
        if role == "user":
            answered = {b["tool_use_id"] for b in blocks if b["type"] == "tool_result"}
            for j, b in enumerate(blocks):
                if b["type"] == "tool_result" and b["tool_use_id"] not in previous_uses:
                    raise Invalid(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                        f"blocks: {b['tool_use_id']}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
            missing = [u for u in previous_uses if u not in answered]
            if missing:
                raise Invalid(_unanswered(i - 1, missing))
            previous_uses = []
        else:
            if previous_uses:
                raise Invalid(_unanswered(i - 1, previous_uses))
            previous_uses = [b["id"] for b in blocks if b["type"] == "tool_use"]
    if previous_uses:
        raise Invalid(_unanswered(len(messages) - 1, previous_uses))


def _unanswered(i: int, ids: list[str]) -> str:
    return (
        f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(ids)}. Each `tool_use` block must have a corresponding `tool_result` block "
        "in the next message."
    )


def _check_thinking(body: dict[str, Any]) -> None:
    thinking = body.get("thinking")
    if not thinking or thinking.get("type") == "disabled":
        return
    budget = thinking.get("budget_tokens")
    if thinking.get("type") != "enabled" or not isinstance(budget, int):
        raise Invalid("thinking.enabled.budget_tokens: Field required")
    if budget < 1024:
        raise Invalid(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        )
    if body["max_tokens"] <= budget:
        raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if body.get("temperature", 1) != 1:
        raise Invalid("`temperature` may only be set to 1 when thinking is enabled.")
    if body.get("top_p", 1) < 0.95:
        raise Invalid(
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled."
        )
    if "top_k" in body:
        raise Invalid("`top_k` must be unset when thinking is enabled.")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise Invalid("Thinking may not be enabled when tool_choice forces tool use.")
    messages = body["messages"]
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] != "assistant":
            continue
        blocks = _blocks(messages[i]["content"], f"messages.{i}")
        first = blocks[0]["type"]
        if any(b["type"] == "tool_use" for b in blocks) and first not in (
            "thinking",
            "redacted_thinking",
        ):
            raise Invalid(
                f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                f"`{first}`. When `thinking` is enabled, a final `assistant` message must start "
                "with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` "
                "blocks). We recommend you include thinking blocks from previous turns. To avoid "
                "this requirement, disable `thinking`."
            )
        break


# ---------------------------------------------------------------------------------------------
# Rendering a Reply
# ---------------------------------------------------------------------------------------------


def _usage(reply: Reply) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": reply.prompt_tokens - reply.cached_tokens - reply.cache_creation_tokens,
        "cache_creation_input_tokens": reply.cache_creation_tokens,
        "cache_read_input_tokens": reply.cached_tokens,
        "output_tokens": reply.completion_tokens,
    }
    if reply.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": reply.reasoning_tokens}
    return usage


def _arguments(tc: ToolCallSpec) -> str:
    # a custom tool is a one-string-parameter function to this API
    return orjson.dumps({"input": tc.arguments}).decode() if tc.custom else tc.arguments


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


def _block(index: int, start: dict[str, Any], deltas: list[dict[str, Any]]) -> list[bytes]:
    out = [_event("content_block_start", {"index": index, "content_block": start})]
    out += [_event("content_block_delta", {"index": index, "delta": d}) for d in deltas]
    out.append(_event("content_block_stop", {"index": index}))
    return out


def render_stream(reply: Reply, model: str) -> list[bytes]:
    """The Reply as the API streams it, one SSE event per chunk."""
    usage = _usage(reply)
    start: dict[str, Any] = {
        "id": f"msg_fake{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    out = [_event("message_start", {"message": start}), _event("ping", {})]
    index = 0
    if reply.reasoning:
        deltas = [
            {"type": "thinking_delta", "thinking": t}
            for t in split_text(reply.reasoning, reply.pieces)
        ]
        deltas.append({"type": "signature_delta", "signature": SIGNATURE})
        out += _block(index, {"type": "thinking", "thinking": "", "signature": ""}, deltas)
        index += 1
    if reply.text:
        deltas = [{"type": "text_delta", "text": t} for t in split_text(reply.text, reply.pieces)]
        out += _block(index, {"type": "text", "text": ""}, deltas)
        index += 1
    for tc in reply.tool_calls:
        pieces = ["", *split_text(_arguments(tc), reply.pieces)]  # the API opens with an empty one
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        out += _block(
            index, {"type": "tool_use", "id": tc.id, "name": tc.name, "input": {}}, deltas
        )
        out.append(_event("ping", {}))
        index += 1
    if reply.stream_error:
        error = {"type": "overloaded_error", "message": reply.stream_error}
        return [*out, _event("error", {"error": error})]
    delta = {
        "stop_reason": STOP_REASON.get(reply.finish_reason(), "end_turn"),
        "stop_sequence": None,
    }
    out.append(_event("message_delta", {"delta": delta, "usage": usage}))
    out.append(_event("message_stop", {}))
    return out


def render_message(reply: Reply, model: str) -> dict[str, Any]:
    """The Reply as one non-streaming Messages API response."""
    content: list[dict[str, Any]] = []
    if reply.reasoning:
        content.append({"type": "thinking", "thinking": reply.reasoning, "signature": SIGNATURE})
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for tc in reply.tool_calls:
        try:
            args = orjson.loads(_arguments(tc) or "{}")
        except orjson.JSONDecodeError:
            args = {}
        content.append({"type": "tool_use", "id": tc.id, "name": tc.name, "input": args})
    return {
        "id": f"msg_fake{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASON.get(reply.finish_reason(), "end_turn"),
        "stop_sequence": None,
        "usage": _usage(reply),
    }
