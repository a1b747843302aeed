"""A fake Bedrock runtime (Converse, ConverseStream) that checks requests as strictly as the real one.

Every request must carry a valid SigV4 signature by a key the fake knows (`AwsKeys`, the same
secrets the gateway was configured with, or keys its fake STS issued) or the Bedrock API key.
Bodies are validated as boto3 and the service do: first against the Converse API's own model
(the one AWS's API reference is written from, shipped in botocore as `bedrock-runtime`
2023-09-30) with boto3's validator, so unknown members, unions with other than one member,
missing required members, wrong types and lengths are refused as boto3 refuses them before
sending; then the rules the service adds: enums, name and id patterns, ranges, roles alternating from a user turn, every toolUse answered by the next turn's toolResult,
toolConfig required with tool blocks, no blank text, Claude's thinking rules, cachePoint only
for the families with prompt caching (at most 4), `toolResult.status` only for Claude, and
ConverseStream refusing tools for the models that cannot stream them (`refuse_stream_tools`),
with the service's words. Streams are
`application/vnd.amazon.eventstream`; `Reply.stream_error` ends one with a
`modelStreamErrorException` message.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import unquote

import botocore.session
import orjson
from aiohttp import web
from botocore.validate import ParamValidator

from .aws import AwsKeys, aws_error, event, exception, json_payload, verify_sigv4
from .common import FakeUpstream, Reply, ToolCallSpec, split_text

CLAUDE_EXTRA = frozenset({"thinking", "top_k", "anthropic_beta"})
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")
#: models whose ConverseStream refuses tools, as measured against the service (a test adds more)
NO_STREAM_TOOLS = ("meta.llama", "mistral.mistral-large", "mistral.mistral-small",
                   "mistral.pixtral", "cohere.command-r", "writer.palmyra", "ai21.jamba")  # fmt: skip
STREAM_TOOLS_REFUSED = "This model doesn't support tool use in streaming mode."
STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
        "content_filter": "content_filtered"}  # fmt: skip
SIGNATURE = "RmFrZUJlZHJvY2tTaWduYXR1cmU="


class Invalid(Exception):
    """A body the service refuses with 400 ValidationException."""


def _base(model: str) -> str:
    name = model.rsplit("/", 1)[-1]
    head, _, rest = name.partition(".")
    return rest if head in ("us", "eu", "apac", "global") else name


@functools.cache
def _operations() -> dict[bool, Any]:
    """The input shapes of Converse (False) and ConverseStream (True), from the API's model."""
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    return {stream: model.operation_model("ConverseStream" if stream else "Converse").input_shape
            for stream in (False, True)}  # fmt: skip


def validate(
    body: Any, model: str, stream: bool, refuse_stream_tools: tuple[str, ...] = NO_STREAM_TOOLS
) -> None:
    if not isinstance(body, dict):
        raise Invalid("Malformed input request, please reformat your input and try again.")
    report = ParamValidator().validate({**body, "modelId": model}, _operations()[stream])
    if report.has_errors():
        raise Invalid(report.generate_report())
    base = _base(model)
    claude, caches = base.startswith("anthropic."), base.startswith(("anthropic.", "amazon.nova"))
    cache_points = orjson.dumps(body).count(b'"cachePoint"')
    if cache_points and not caches:
        raise Invalid(
            "You invoked an unsupported model or your request did not allow prompt caching."
        )
    if cache_points > 4:
        raise Invalid(f"A maximum of 4 cache points may be provided. Found {cache_points}.")
    _cache_points(body)
    _enum(
        body.get("serviceTier"), "type", ("priority", "default", "flex", "reserved"), "serviceTier"
    )
    _enum(body.get("performanceConfig"), "latency", ("standard", "optimized"), "performanceConfig")
    for j, b in enumerate(body.get("system") or []):
        if "text" in b and not str(b["text"]).strip():
            raise Invalid(
                f"The text field in the SystemContentBlock object at system.{j} is blank."
            )
    inference = body.get("inferenceConfig") or {}
    for key in ("temperature", "topP"):
        if not 0 <= inference.get(key, 0) <= 1:
            raise Invalid(
                f"Value at 'inferenceConfig.{key}' failed to satisfy constraint: Member must have value less than or equal to 1"
            )
    tools = _tool_config(body.get("toolConfig"))
    if tools is not None and stream and base.startswith(refuse_stream_tools):
        raise Invalid(STREAM_TOOLS_REFUSED)
    extra = body.get("additionalModelRequestFields") or {}
    for key in extra:
        if not claude or key not in CLAUDE_EXTRA:
            raise Invalid(
                f"The model returned the following errors: {key}: Extra inputs are not permitted"
            )
    _messages(body.get("messages"), tools is not None, claude)
    _thinking(body, extra, inference)


def _enum(value: Any, member: str, allowed: tuple[str, ...], where: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or set(value) - {member} or value.get(member) not in allowed:
        raise Invalid(
            f"Value at '{where}.{member}' failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
        )


def _cache_points(body: Any) -> None:
    """Every `cachePoint`, wherever it is: `{"type": "default"}`, `ttl` 5m or 1h."""
    if isinstance(body, list):
        for item in body:
            _cache_points(item)
    elif isinstance(body, dict):
        point = body.get("cachePoint")
        if point is not None and (
            not isinstance(point, dict)
            or point.get("type") != "default"
            or set(point) - {"type", "ttl"}
            or point.get("ttl", "5m") not in ("5m", "1h")
        ):
            raise Invalid(
                "Value at 'cachePoint.type' failed to satisfy constraint: Member must satisfy enum value set: [default]"
            )
        for value in body.values():
            _cache_points(value)


def _kind(union: dict[str, Any]) -> str:
    """The member set in a union (the API's validation made sure there is exactly one)."""
    (kind,) = union
    return kind


def _tool_config(config: Any) -> set[str] | None:
    if config is None:
        return None
    names: set[str] = set()
    for i, t in enumerate(config["tools"]):
        if _kind(t) != "toolSpec":
            continue
        spec = t["toolSpec"]
        if not TOOL_NAME.fullmatch(str(spec.get("name", ""))):
            raise Invalid(
                f"Value at 'toolConfig.tools.{i + 1}.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
            )
        schema = spec["inputSchema"]["json"]
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Invalid(
                f"The value at toolConfig.tools.{i}.toolSpec.inputSchema.json.type must be object"
            )
        names.add(spec["name"])
    if not names:
        raise Invalid("The toolConfig field must have at least one tool.")
    choice = config.get("toolChoice")
    if choice is not None and _kind(choice) == "tool" and choice["tool"]["name"] not in names:
        raise Invalid("The tool specified in toolChoice is not in the tool list.")
    return names


def _messages(messages: Any, has_tools: bool, claude: bool) -> None:
    if not isinstance(messages, list) or not messages:
        raise Invalid(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message."
        )
    pending: list[str] = []
    for i, m in enumerate(messages):
        role = m["role"]
        if role not in ("user", "assistant"):
            raise Invalid(
                f"Value at 'messages.{i + 1}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]"
            )
        if i == 0 and role != "user":
            raise Invalid(
                "A conversation must start with a user message. Try again with a conversation that starts with a user message."
            )
        if i and messages[i - 1]["role"] == role:
            raise Invalid(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
            )
        content = m.get("content") or []
        if not content:
            raise Invalid(
                f"The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )
        uses, results = [], []
        for j, b in enumerate(content):
            kind = _kind(b)
            where = f"messages.{i}.content.{j}"
            if kind == "text" and not str(b["text"]).strip():
                raise Invalid(
                    f"The text field in the ContentBlock object at {where} is blank. Add text to the text field, and try again."
                )
            if kind == "image":
                img = b["image"]
                if img["format"] not in ("png", "jpeg", "gif", "webp"):
                    raise Invalid(f"The format of the image at {where} is not supported.")
            if kind in ("toolUse", "toolResult") and not has_tools:
                raise Invalid(
                    "The toolConfig field must be defined when using toolUse and toolResult content blocks."
                )
            if kind == "toolUse":
                use = b["toolUse"]
                if (
                    role != "assistant"
                    or not TOOL_USE_ID.fullmatch(use["toolUseId"])
                    or not TOOL_NAME.fullmatch(use["name"])
                    or not isinstance(use["input"], dict)
                ):
                    raise Invalid(f"The toolUse block at {where} is invalid.")
                uses.append(use["toolUseId"])
            if kind == "toolResult":
                result = b["toolResult"]
                if "status" in result and not claude:
                    raise Invalid(
                        "This model doesn't support the toolResult.status field. Remove toolResult.status and try again."
                    )
                if result.get("status", "success") not in ("success", "error"):
                    raise Invalid(
                        f"Value at '{where}.toolResult.status' failed to satisfy constraint: Member must satisfy enum value set: [success, error]"
                    )
                if not result["content"]:
                    raise Invalid(f"The content field in the toolResult at {where} is empty.")
                results.append(result["toolUseId"])
            if kind == "reasoningContent" and (role != "assistant" or not claude):
                raise Invalid(f"The model doesn't support reasoningContent at {where}.")
        if role == "user":
            if sorted(results) != sorted(pending):
                raise Invalid(
                    f"Expected toolResult blocks at messages.{i}.content for the following Ids: {', '.join(pending) or '(none)'}"
                )
            pending = []
        else:
            if pending:
                raise Invalid(
                    f"Expected toolResult blocks at messages.{i}.content for the following Ids: {', '.join(pending)}"
                )
            pending = uses
    if pending:
        raise Invalid(
            f"Expected toolResult blocks after messages.{len(messages) - 1} for the following Ids: {', '.join(pending)}"
        )


def _thinking(body: dict[str, Any], extra: dict[str, Any], inference: dict[str, Any]) -> None:
    thinking = extra.get("thinking")
    if not thinking:
        return
    budget = thinking.get("budget_tokens")
    if thinking.get("type") != "enabled" or not isinstance(budget, int) or budget < 1024:
        raise Invalid(
            "The model returned the following errors: thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        )
    if inference.get("maxTokens", 4096) <= budget:
        raise Invalid(
            "The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`."
        )
    if inference.get("temperature", 1) != 1 or inference.get("topP", 1) < 0.95 or "top_k" in extra:
        raise Invalid(
            "The model returned the following errors: temperature, top_p and top_k may not be changed when thinking is enabled."
        )
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    if "any" in choice or "tool" in choice:
        raise Invalid(
            "The model returned the following errors: Thinking may not be enabled when tool_choice forces tool use."
        )
    for m in reversed(body["messages"]):
        if m["role"] == "assistant":
            if (
                any("toolUse" in b for b in m["content"])
                and "reasoningContent" not in m["content"][0]
            ):
                raise Invalid(
                    "The model returned the following errors: Expected `thinking` or `redacted_thinking`, but found `text`. When `thinking` is enabled, a final `assistant` message must start with a thinking block."
                )
            break


# -- rendering -------------------------------------------------------------------------------


def _input(tc: ToolCallSpec) -> str:
    return orjson.dumps({"input": tc.arguments}).decode() if tc.custom else tc.arguments


def _usage(reply: Reply) -> dict[str, Any]:
    fresh = reply.prompt_tokens - reply.cached_tokens
    return {"inputTokens": fresh, "outputTokens": reply.completion_tokens,
            "totalTokens": reply.prompt_tokens + reply.completion_tokens,
            "cacheReadInputTokens": reply.cached_tokens, "cacheWriteInputTokens": 0}  # fmt: skip


def render_stream(reply: Reply) -> list[bytes]:
    out = [event("messageStart", json_payload({"role": "assistant"}))]
    index = 0

    def delta(d: dict[str, Any]) -> bytes:
        return event("contentBlockDelta", json_payload({"contentBlockIndex": index, "delta": d}))

    def stop() -> bytes:
        return event("contentBlockStop", json_payload({"contentBlockIndex": index}))

    if reply.reasoning:
        out += [
            delta({"reasoningContent": {"text": t}})
            for t in split_text(reply.reasoning, reply.pieces)
        ]
        out += [delta({"reasoningContent": {"signature": SIGNATURE}}), stop()]
        index += 1
    if reply.text:
        out += [delta({"text": t}) for t in split_text(reply.text, reply.pieces)]
        out.append(stop())
        index += 1
    for tc in reply.tool_calls:
        start = {"toolUse": {"toolUseId": tc.id, "name": tc.name}}
        out.append(
            event("contentBlockStart", json_payload({"contentBlockIndex": index, "start": start}))
        )
        out += [delta({"toolUse": {"input": p}}) for p in split_text(_input(tc), reply.pieces)]
        out.append(stop())
        index += 1
    if reply.stream_error:
        return [*out, exception("modelStreamErrorException", reply.stream_error)]
    reason = STOP.get(reply.finish_reason(), "end_turn")
    out.append(event("messageStop", json_payload({"stopReason": reason})))
    out.append(
        event("metadata", json_payload({"usage": _usage(reply), "metrics": {"latencyMs": 42}}))
    )
    return out


def render_body(reply: Reply) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.reasoning:
        content.append(
            {
                "reasoningContent": {
                    "reasoningText": {"text": reply.reasoning, "signature": SIGNATURE}
                }
            }
        )
    if reply.text:
        content.append({"text": reply.text})
    for tc in reply.tool_calls:
        content.append(
            {
                "toolUse": {
                    "toolUseId": tc.id,
                    "name": tc.name,
                    "input": orjson.loads(_input(tc) or "{}"),
                }
            }
        )
    return {"output": {"message": {"role": "assistant", "content": content}},
            "stopReason": STOP.get(reply.finish_reason(), "end_turn"), "usage": _usage(reply),
            "metrics": {"latencyMs": 42}}  # fmt: skip


def make_app(
    fake: FakeUpstream,
    keys: AwsKeys,
    *,
    api_key: str | None = None,
    refuse_stream_tools: tuple[str, ...] = NO_STREAM_TOOLS,
    prefix: str = "",
) -> web.Application:
    """The fake on `/model/{modelId}/converse[-stream]`; `api_key` is a Bedrock API key it
    takes; `refuse_stream_tools`: model id prefixes whose ConverseStream refuses tools;
    `prefix`: the path of a proxy in front of it."""

    async def converse(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        fake.record(request, body)
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            if api_key is None or bearer[7:] != api_key:
                return aws_error(
                    403,
                    "AccessDeniedException",
                    "Invalid API Key format: Must start with pre-defined prefix",
                )
        else:
            problem = verify_sigv4(request, raw, keys, "bedrock")
            if problem is not None:
                return aws_error(*problem)
        # the model id is one percent-encoded segment of the raw path, as AWS signs it
        path = request.raw_path.split("?", 1)[0]
        if not path.startswith(prefix + "/"):
            return aws_error(404, "UnknownOperationException", "Unknown operation")
        segments = path.removeprefix(prefix).split("/")
        if (
            len(segments) != 4
            or segments[1] != "model"
            or segments[3] not in ("converse", "converse-stream")
        ):
            return aws_error(404, "UnknownOperationException", "Unknown operation")
        model, stream = unquote(segments[2]), segments[3] == "converse-stream"
        if "does-not-exist" in model:
            return aws_error(
                400, "ValidationException", "The provided model identifier is invalid."
            )
        try:
            validate(body, model, stream, refuse_stream_tools)
        except Invalid as e:
            return aws_error(400, "ValidationException", str(e))
        resp = await fake.before_reply(request)
        if resp is not None:
            return resp
        reply = fake.next_reply()
        if reply.raw is not None:
            return await fake.write_stream(request, [reply.raw], reply.raw_content_type)
        if not stream:
            if reply.stream_error:
                return aws_error(424, "ModelErrorException", reply.stream_error)
            return web.json_response(render_body(reply))
        return await fake.write_stream(
            request, render_stream(reply), "application/vnd.amazon.eventstream"
        )

    app = web.Application()
    app.router.add_post("/{tail:.*}", converse)  # ARNs hold %2F: routed on the raw path
    return app
