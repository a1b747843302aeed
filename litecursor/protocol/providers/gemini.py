"""Google's Gemini API (Generative Language `generateContent` / `streamGenerateContent`).

Choices made where the API leaves room (each is relied on by tests):

* Images: data URLs become `inlineData`; http(s) URLs become a text note `[image: <url>]`,
  because `fileData` needs a MIME type and an URI the API can read (Files API / GCS), and a
  sans-IO adapter cannot fetch the image itself.
* Tool results become `functionResponse` parts in a user turn. The function name comes from the
  tool message or, failing that, from the most recent earlier call with the same id; a result
  whose call cannot be found becomes a text part instead (Gemini rejects a nameless response).
  Outputs that are not JSON objects are wrapped as `{"output": text}`, the key Google documents.
* Replayed calls whose arguments are not valid JSON are sent as `{"arguments": "<raw text>"}`.
* Gemini 3 rejects a replayed `functionCall` without a `thoughtSignature`, and Cursor never
  replays one. Google documents a dummy value for history it did not produce; the first call
  of each model turn carries a real signature from `Message.reasoning` (see `ReasoningItem`s
  this decoder emits) or else `skip_thought_signature_validator`, accepted by both the Gemini
  API and Vertex AI.
* Reasoning effort -> `thinkingConfig`, with `includeThoughts: true` so thought summaries
  stream back (as `ReasoningDelta`s). Budgets sit inside every Gemini 2.5/3 model's range;
  Gemini 3 still takes `thinkingBudget` (mapped onto its levels):

      effort    thinkingBudget                                   includeThoughts
      none      0, or 128 for "pro" models (they cannot stop)    false
      minimal   512                                              true
      low       1024                                             true
      medium    8192                                             true
      high      24576                                            true
      xhigh     32768 for "pro" models, else 24576               true
      other     -1 (dynamic)                                     true

  A deployment's `litellm_params.thinking_budget` sets the budget instead; Gemini 1.x/2.0
  models, which cannot think, never get one.
* Presence/frequency penalties are not sent: several Gemini models reject them. At most five
  stop sequences are sent, the API's limit. `litellm_params.safety_settings` is passed through.
* Streaming always asks for `alt=sse`; `GeminiArrayStreamDecoder` reads the JSON-array framing
  the API uses without it. Response decoding lives in `gemini_stream`, schema translation in
  `gemini_schema`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import orjson

from ...errors import LitecursorError, UpstreamProtocolError, from_upstream
from ..tools import INPUT_PARAM, custom_tool_description, custom_tool_parameters
from ..types import ChatRequest, Event, ImagePart, Message
from .base import HttpRequest, Provider, Target, join_url, json_body, retry_after_seconds
from .gemini_schema import function_parameters, gemini_schema
from .gemini_stream import GeminiArrayStreamDecoder, GeminiStreamDecoder, decode_generate_content

__all__ = [
    "DUMMY_THOUGHT_SIGNATURE",
    "GeminiArrayStreamDecoder",
    "GeminiProvider",
    "GeminiStreamDecoder",
    "build_gemini_body",
]

DUMMY_THOUGHT_SIGNATURE = "skip_thought_signature_validator"
_STOP_SEQUENCES_MAX = 5  # the API refuses more

_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768}
_FLASH_BUDGET_MAX = 24576
_NO_THINKING = ("gemini-1.", "gemini-2.0-")
_JSON_SPACE = " \t\n\r"  # the whitespace JSON allows before a value


def gemini_contents(req: ChatRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(systemInstruction parts, contents) for the request's conversation; consecutive turns
    of one role are merged, as Gemini wants them to alternate."""
    custom = req.custom_tool_names
    system: list[dict[str, Any]] = []
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    names: dict[str, str] = {}
    for m in req.messages:
        if m.role == "system":
            if m.text:
                system.append({"text": m.text})
            continue
        if m.role == "assistant":
            role, parts = "model", _model_parts(m, custom)
            names.update((tc.id, tc.name) for tc in m.tool_calls)
        elif m.role == "tool":
            role, parts = "user", _tool_parts(m, m.name or names.get(m.tool_call_id or ""))
        else:
            role, parts = "user", _user_parts(m)
        if not parts:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(parts)
        else:
            turns.append((role, parts))
    return system, [{"role": r, "parts": p} for r, p in turns]


def _user_parts(m: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for p in m.content:
        if isinstance(p, ImagePart):
            parts.append(_image_part(p))
        elif p.text:
            parts.append({"text": p.text})
    return parts


def _image_part(p: ImagePart) -> dict[str, Any]:
    mime = p.media_type
    if mime is None:
        return {"text": f"[image: {p.url}]"}
    data = p.base64_data
    if data is None:  # a percent-encoded data URL (SVG and the like)
        data = base64.b64encode(unquote_to_bytes(p.url.partition(",")[2])).decode()
    return {"inlineData": {"mimeType": mime, "data": data}}


def _model_parts(m: Message, custom: frozenset[str]) -> list[dict[str, Any]]:
    text = m.text
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    signatures = {
        r["tool_call_id"]: r["signature"]
        for r in m.reasoning
        if r.get("provider") == "gemini"
        and r.get("type") == "thought_signature"
        and isinstance(r.get("tool_call_id"), str)
        and isinstance(r.get("signature"), str)
    }
    for i, tc in enumerate(m.tool_calls):
        part: dict[str, Any] = {
            "functionCall": {
                "name": tc.name,
                "args": _call_args(tc.arguments, tc.kind == "custom" or tc.name in custom),
            }
        }
        signature = signatures.get(tc.id) or (DUMMY_THOUGHT_SIGNATURE if i == 0 else None)
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _call_args(arguments: str, custom: bool) -> dict[str, Any]:
    if custom:
        return {INPUT_PARAM: arguments}
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def _tool_parts(m: Message, name: str | None) -> list[dict[str, Any]]:
    text = m.text
    if not name:
        parts: list[dict[str, Any]] = [
            {"text": f"Result of tool call {m.tool_call_id or '?'}:\n{text}"}
        ]
    else:
        value = None
        # only a JSON object is sent as it is: text that cannot be one (most tool output) is
        # not parsed, as a failed parse is costly
        if text.lstrip(_JSON_SPACE).startswith("{"):
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
        response = value if isinstance(value, dict) else {"output": text}
        parts = [{"functionResponse": {"name": name, "response": response}}]
    parts += [_image_part(p) for p in m.content if isinstance(p, ImagePart)]
    return parts


def gemini_tools(req: ChatRequest) -> list[dict[str, Any]]:
    """One `functionDeclarations` tool; custom tools become a function taking one string."""
    decls = []
    for t in req.tools:
        custom = t.kind == "custom"
        decl: dict[str, Any] = {"name": t.name}
        description = custom_tool_description(t) if custom else t.description
        if description:
            decl["description"] = description
        params = function_parameters(custom_tool_parameters() if custom else t.parameters)
        if params is not None:
            decl["parameters"] = params
        decls.append(decl)
    return [{"functionDeclarations": decls}] if decls else []


def thinking_config(effort: str | None, model: str, budget: int | None) -> dict[str, Any] | None:
    """`thinkingConfig` for a reasoning effort, or the deployment's `thinking_budget` (the
    table in the module docstring)."""
    if effort is None and budget is None:
        return None
    name = model.removeprefix("models/")
    if name.startswith(_NO_THINKING) and "thinking" not in name:
        return None  # these models answer a thinkingConfig with INVALID_ARGUMENT
    pro = "pro" in model.lower()
    if budget is None:
        if effort == "none":
            budget = 128 if pro else 0
        else:
            budget = _BUDGETS.get(effort or "", -1)
            if budget > _FLASH_BUDGET_MAX and not pro:
                budget = _FLASH_BUDGET_MAX
    # a budget of 0 turns thinking off: there are no thoughts to include
    return {"thinkingBudget": int(budget), "includeThoughts": effort != "none" and budget != 0}


def build_gemini_body(req: ChatRequest, target: Target) -> dict[str, Any]:
    """The generateContent body: only fields the API defines, and only when set."""
    system, contents = gemini_contents(req)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    tools = gemini_tools(req)
    if tools:
        body["tools"] = tools
        tc = req.tool_choice
        if tc is not None:
            mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}[tc.mode]
            config: dict[str, Any] = {"mode": "ANY" if tc.name else mode}
            if tc.name:
                config["allowedFunctionNames"] = [tc.name]
            body["toolConfig"] = {"functionCallingConfig": config}
    if target.options.safety_settings is not None:
        body["safetySettings"] = list(target.options.safety_settings)
    gen: dict[str, Any] = {}
    for field, key in (
        ("max_tokens", "maxOutputTokens"),
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
    ):
        value = getattr(req, field)
        if value is None:
            value = getattr(target.defaults, field)
        if value is not None:
            gen[key] = value
    if target.defaults.top_k is not None:
        gen["topK"] = target.defaults.top_k
    if req.stop:
        gen["stopSequences"] = list(req.stop[:_STOP_SEQUENCES_MAX])
    rf = req.response_format
    if rf is not None and rf.type != "text":
        gen["responseMimeType"] = "application/json"
        if rf.type == "json_schema" and rf.schema:
            gen["responseSchema"] = gemini_schema(rf.schema)
    effort = req.reasoning_effort or target.defaults.reasoning_effort
    thinking = thinking_config(effort, target.model, target.options.thinking_budget)
    if thinking is not None:
        gen["thinkingConfig"] = thinking
    if gen:
        body["generationConfig"] = gen
    return body


def _retry_delay(details: Any) -> float | None:
    for d in details if isinstance(details, list) else ():
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = d.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return max(0.0, float(delay[:-1]))
                except ValueError:
                    return None
            if isinstance(delay, dict):
                return float(delay.get("seconds") or 0) + float(delay.get("nanos") or 0) / 1e9
    return None


class GeminiProvider(Provider):
    name = "gemini"

    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        # one path segment, whatever the name holds: a wildcard deployment forwards the name
        # a client asked for, and `x/../../other` must not reach another path of the host
        model = quote(target.model.removeprefix("models/"), safe="")
        action = ":streamGenerateContent?alt=sse" if req.stream else ":generateContent"
        headers = {"content-type": "application/json"}
        if target.api_key:
            headers["x-goog-api-key"] = target.api_key
        headers.update(target.headers)
        return HttpRequest(
            "POST",
            join_url(target.api_base, f"models/{model}{action}"),
            headers,
            orjson.dumps(build_gemini_body(req, target)),
        )

    def stream_decoder(self, req: ChatRequest, target: Target) -> GeminiStreamDecoder:
        return GeminiStreamDecoder()

    def decode_body(self, body: bytes, req: ChatRequest, target: Target) -> list[Event]:
        # a JSON-array stream read whole is a list of the same objects
        data = json_body(body, self.name, (dict, list))
        if isinstance(data, list) and not all(isinstance(item, dict) for item in data):
            raise UpstreamProtocolError(
                f"gemini answered with a list of non-objects: {body[:200]!r}"
            )
        return decode_generate_content(data)

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> LitecursorError:
        """Google's `{"error": {"code", "message", "status", "details"}}`, sometimes in a list.
        A RetryInfo detail gives the retry delay; an invalid key (a 400 with reason
        API_KEY_INVALID) is the gateway's credentials problem, not the client's."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, list) and data:
            data = data[0]
        err = data.get("error") if isinstance(data, dict) else None
        if not isinstance(err, dict):
            return super().decode_error(status, headers, body)
        message = str(err.get("message") or err)
        details = err.get("details")
        reasons = (
            {d.get("reason") for d in details if isinstance(d, dict)}
            if isinstance(details, list)
            else set()
        )
        if "API_KEY_INVALID" in reasons:
            status = 401
        retry = retry_after_seconds(headers)
        if retry is None:
            retry = _retry_delay(details)
        code = err.get("status")
        return from_upstream(
            status, message, code=str(code) if code else None, retry_after=retry, provider=self.name
        )
