"""AWS Bedrock's Converse API (`/model/{id}/converse`, `/converse-stream`): one adapter for every model.

The conversation is built by the Anthropic adapter (`build_messages_body`: alternating turns,
tool results paired with their calls, thinking switched off in a tool loop whose signed
thinking was not replayed, prompt-caching breakpoints) and then written in Converse's shapes,
because Converse enforces the same rules for every model it serves:

* text -> `{"text"}`; base64 images -> `{"image": {"format", "source": {"bytes"}}}`; an http(s)
  image becomes the text `[image: <url>]` (Converse reads only bytes or S3 locations);
* tool_use -> `toolUse`, tool_result -> `toolResult` (`status: "error"` for Claude, the only
  family that takes it), signed thinking -> `reasoningContent`, redacted thinking ->
  `reasoningContent.redactedContent`;
* a `cache_control` breakpoint -> a `cachePoint` block after the block it marked, for the
  families with prompt caching (Claude from 3.5 Haiku and 3.7 Sonnet on, Nova; Nova caches
  the system prompt and messages, not tools);
* sampling -> `inferenceConfig`; Claude's `thinking` and `top_k` -> `additionalModelRequestFields`.

Model ids may carry a cross-region prefix (`us.anthropic.…`) or be ARNs; the family is read
from the id. An application inference profile ARN names no family: it gets the generic
features (no thinking, no caching), like any family this module does not know.

Some models refuse tools in ConverseStream ("This model doesn't support tool use in streaming
mode."). A streamed request with tools to them goes to Converse instead, and
`ConverseBodyDecoder` turns the whole answer into the stream the client asked for. Which ones:
AWS's table of the Converse API's models and features (its "Streaming tool use" column says
no for the Meta Llama, Mistral Large and Small and Cohere Command R rows), and the service
measured refusing every Meta Llama, Mistral's Pixtral, Writer's Palmyra and AI21's Jamba
(whatever the table says of Jamba); `stream_tools` in `litellm_params` decides it for a
deployment. A model outside the list that answers the refusal is asked through Converse at
once, and from then on (`retarget`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from ...errors import LitecursorError, UpstreamBadRequestError
from ..types import ChatRequest, Event
from .anthropic import build_messages_body
from .base import HttpRequest, Provider, Target, join_url
from .bedrock_stream import (
    BedrockStreamDecoder,
    ConverseBodyDecoder,
    decode_bedrock_error,
    decode_converse,
)

__all__ = ["BedrockProvider", "build_converse_body", "model_family", "streams_tools"]

#: the first segment of cross-region inference profile ids
_REGIONS = frozenset({"us", "eu", "apac", "us-gov", "global", "jp", "au", "ca"})
#: models whose ConverseStream refuses tools (see the module's docstring)
_NO_STREAM_TOOLS = (
    "meta.llama",
    "mistral.mistral-large",
    "mistral.mistral-small",
    "mistral.pixtral",
    "cohere.command-r",
    "writer.palmyra",
    "ai21.jamba",
)
#: the service's words when ConverseStream refuses tools for a model
STREAM_TOOLS_REFUSED = "doesn't support tool use in streaming mode"
#: Claude models without prompt caching or extended thinking on Bedrock
_CLAUDE_BEFORE_CACHING = ("claude-v2", "claude-instant", "claude-3-sonnet", "claude-3-haiku",
                          "claude-3-opus", "claude-3-5-sonnet")  # fmt: skip
_CLAUDE_BEFORE_THINKING = (*_CLAUDE_BEFORE_CACHING, "claude-3-5-haiku")
_CACHE_POINT = {"cachePoint": {"type": "default"}}
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_EMPTY_RESULT = "(no output)"


def base_model(model_id: str) -> str:
    """`provider.model` without a region prefix or ARN wrapping (`anthropic.claude-…-v1:0`)."""
    name = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    head, sep, rest = name.partition(".")
    return rest if sep and head in _REGIONS else name


def model_family(model_id: str) -> str:
    """The model's provider on Bedrock: anthropic, amazon, meta, mistral... ("" if unknown)."""
    name = base_model(model_id)
    head, sep, _ = name.partition(".")
    return head if sep else ""


def streams_tools(target: Target) -> bool:
    """Whether ConverseStream takes tools for the target's model."""
    if target.options.stream_tools is not None:
        return target.options.stream_tools
    return not base_model(target.model).startswith(_NO_STREAM_TOOLS)


def _claude_with(model_id: str, excluded: tuple[str, ...]) -> bool:
    name = base_model(model_id)
    return name.startswith("anthropic.") and not name.removeprefix("anthropic.").startswith(
        excluded
    )


def _caches(model_id: str) -> bool:
    return _claude_with(model_id, _CLAUDE_BEFORE_CACHING) or model_family(model_id) == "amazon"


def _blocks(blocks: list[dict[str, Any]], claude: bool, cache: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for b in blocks:
        kind = b["type"]
        if kind == "text":
            out.append({"text": b["text"]})
        elif kind == "image":
            out.append(_image(b["source"]))
        elif kind == "tool_use":
            out.append({"toolUse": {"toolUseId": b["id"], "name": b["name"], "input": b["input"]}})
        elif kind == "tool_result":
            out.append(_tool_result(b, claude))
        elif kind == "thinking":
            text = {"text": b["thinking"], "signature": b["signature"]}
            out.append({"reasoningContent": {"reasoningText": text}})
        elif kind == "redacted_thinking":
            out.append({"reasoningContent": {"redactedContent": b["data"]}})
        if cache and "cache_control" in b:
            out.append(_CACHE_POINT)
    return out


def _image(source: dict[str, Any]) -> dict[str, Any]:
    fmt = _IMAGE_FORMATS.get(source.get("media_type", ""))
    if source.get("type") == "base64" and fmt is not None:
        return {"image": {"format": fmt, "source": {"bytes": source["data"]}}}
    where = source.get("url") or source.get("media_type") or "unsupported image"
    return {"text": f"[image: {where}]"}


def _tool_result(b: dict[str, Any], claude: bool) -> dict[str, Any]:
    content = b.get("content")
    if isinstance(content, list):
        parts = _blocks(content, claude, cache=False)
    else:
        parts = [{"text": content or _EMPTY_RESULT}]
    result: dict[str, Any] = {"toolUseId": b["tool_use_id"], "content": parts}
    if claude and b.get("is_error"):
        result["status"] = "error"
    return {"toolResult": result}


def _tool_config(body: dict[str, Any], claude: bool, nova: bool) -> dict[str, Any]:
    tools: list[dict[str, Any]] = []
    for t in body["tools"]:
        spec: dict[str, Any] = {"name": t["name"], "inputSchema": {"json": t["input_schema"]}}
        if t.get("description"):
            spec["description"] = t["description"]
        tools.append({"toolSpec": spec})
        if claude and "cache_control" in t:
            tools.append(_CACHE_POINT)
    config: dict[str, Any] = {"tools": tools}
    choice = body.get("tool_choice") or {}
    kind = choice.get("type")
    # `any` and `tool` are Claude's and Nova's; `none` has no Converse form, and Converse
    # needs the tools declared whenever the history holds tool blocks
    if (claude or nova) and kind == "any":
        config["toolChoice"] = {"any": {}}
    elif (claude or nova) and kind == "tool":
        config["toolChoice"] = {"tool": {"name": choice["name"]}}
    return config


def build_converse_body(req: ChatRequest, target: Target) -> dict[str, Any]:
    """The Converse / ConverseStream body: only fields the API defines, and only when set."""
    model = target.model
    claude = model_family(model) == "anthropic"
    nova = model_family(model) == "amazon"
    cache = target.options.prompt_caching and _caches(model)
    thinks = _claude_with(model, _CLAUDE_BEFORE_THINKING)
    if not thinks and (req.reasoning_effort or target.defaults.reasoning_effort) not in (
        None,
        "none",
    ):
        req = dataclasses.replace(req, reasoning_effort="none")
    if not thinks and target.options.thinking_budget:
        target = dataclasses.replace(
            target, options=dataclasses.replace(target.options, thinking_budget=0)
        )
    if target.options.prompt_caching != cache:
        target = dataclasses.replace(
            target, options=dataclasses.replace(target.options, prompt_caching=cache)
        )
    a = build_messages_body(req, target)
    body: dict[str, Any] = {
        "messages": [
            {"role": m["role"], "content": _blocks(m["content"], claude, cache)}
            for m in a["messages"]
        ]
    }
    if "system" in a:
        body["system"] = _blocks(a["system"], claude, cache)
    inference: dict[str, Any] = {}
    if claude or req.max_tokens or target.defaults.max_tokens:
        inference["maxTokens"] = a["max_tokens"]
    for key, name in (("temperature", "temperature"), ("top_p", "topP")):
        if key in a:
            inference[name] = a[key]
    if "stop_sequences" in a:
        inference["stopSequences"] = a["stop_sequences"]
    if inference:
        body["inferenceConfig"] = inference
    if "tools" in a:
        body["toolConfig"] = _tool_config(a, claude, nova)
    extra: dict[str, Any] = {}
    if "thinking" in a and thinks:
        extra["thinking"] = a["thinking"]
    if "top_k" in a and claude:
        extra["top_k"] = a["top_k"]
    if extra:
        body["additionalModelRequestFields"] = extra
    return body


def _uses_converse(req: ChatRequest, target: Target) -> bool:
    """A streamed request that must go to Converse: tools, to a model that refuses them streamed."""
    return req.stream and bool(req.tools) and not streams_tools(target)


class BedrockProvider(Provider):
    name = "bedrock"

    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        stream = req.stream and not _uses_converse(req, target)
        # the id is one path segment, percent-encoded as AWS signs it (`:` and `/` in ARNs)
        path = f"model/{quote(target.model, safe='')}/{'converse-stream' if stream else 'converse'}"
        headers = {"content-type": "application/json"}
        if stream:
            headers["accept"] = "application/vnd.amazon.eventstream"
        if target.api_key:  # a Bedrock API key; otherwise the request is SigV4-signed
            headers["authorization"] = f"Bearer {target.api_key}"
        headers.update(target.headers)
        body = orjson.dumps(build_converse_body(req, target))
        return HttpRequest("POST", join_url(target.api_base, path), headers, body)

    def stream_decoder(
        self, req: ChatRequest, target: Target
    ) -> BedrockStreamDecoder | ConverseBodyDecoder:
        if _uses_converse(req, target):
            return ConverseBodyDecoder()
        return BedrockStreamDecoder()

    def decode_body(self, body: bytes, req: ChatRequest, target: Target) -> list[Event]:
        return decode_converse(body)

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> LitecursorError:
        return decode_bedrock_error(status, headers, body)

    def retarget(self, error: LitecursorError, req: ChatRequest, target: Target) -> Target | None:
        """A model that refused tools in ConverseStream is asked through Converse."""
        if (
            isinstance(error, UpstreamBadRequestError)
            and STREAM_TOOLS_REFUSED in error.message
            and req.stream
            and req.tools
            and streams_tools(target)
        ):
            options = dataclasses.replace(target.options, stream_tools=False)
            return dataclasses.replace(target, options=options)
        return None
