"""A fake Gemini API (`:generateContent`, `:streamGenerateContent`) that checks requests as strictly as the real one.

Validation follows the real service: proto-JSON field names (lowerCamel or snake_case), unknown
fields rejected with `Invalid JSON payload received. Unknown name "x" at 'path': Cannot find
field.`, then the semantic checks the API makes (roles, empty parts, nameless function
responses, empty OBJECT parameters, arrays without items, Gemini 3 thought signatures).

Streams: `alt=sse` gives `data: {...}\\r\\n\\r\\n` chunks; without it, one JSON array framed
`[{...}\\n,\\r\\n{...}\\n]` like the real API. `Reply.stream_error` ends a stream with an
`{"error": {...}}` chunk (INTERNAL, 500) and no finishReason, the way Google's streaming
front end reports a failure after the 200 has been sent; for generateContent it is an HTTP 500.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import orjson
from aiohttp import web

from .common import FakeUpstream, Reply, split_text

ANY = object()
SCHEMA = "Schema"
MESSAGES: dict[str, dict[str, Any]] = {
    "GenerateContentRequest": {
        "model": str, "contents": ["Content"], "systemInstruction": "Content", "tools": ["Tool"],
        "toolConfig": "ToolConfig", "safetySettings": ["SafetySetting"],
        "generationConfig": "GenerationConfig", "cachedContent": str,
    },
    "Content": {"role": str, "parts": ["Part"]},
    "Part": {
        "text": str, "thought": bool, "thoughtSignature": str, "inlineData": "Blob",
        "fileData": "FileData", "functionCall": "FunctionCall",
        "functionResponse": "FunctionResponse", "executableCode": ANY,
        "codeExecutionResult": ANY, "videoMetadata": ANY,
    },
    "Blob": {"mimeType": str, "data": str},
    "FileData": {"mimeType": str, "fileUri": str},
    "FunctionCall": {"id": str, "name": str, "args": ANY},
    "FunctionResponse": {
        "id": str, "name": str, "response": ANY, "willContinue": bool, "scheduling": str,
    },
    "Tool": {
        "functionDeclarations": ["FunctionDeclaration"], "googleSearch": ANY,
        "googleSearchRetrieval": ANY, "codeExecution": ANY, "urlContext": ANY,
    },
    "FunctionDeclaration": {
        "name": str, "description": str, "parameters": SCHEMA, "parametersJsonSchema": ANY,
        "response": SCHEMA, "responseJsonSchema": ANY, "behavior": str,
    },
    SCHEMA: {
        "type": str, "format": str, "title": str, "description": str, "nullable": bool,
        "enum": [str], "maxItems": int, "minItems": int, "properties": {SCHEMA},
        "required": [str], "minProperties": int, "maxProperties": int, "minLength": int,
        "maxLength": int, "pattern": str, "example": ANY, "anyOf": [SCHEMA],
        "propertyOrdering": [str], "default": ANY, "items": SCHEMA, "minimum": float,
        "maximum": float,
    },
    "ToolConfig": {"functionCallingConfig": "FunctionCallingConfig", "retrievalConfig": ANY},
    "FunctionCallingConfig": {"mode": str, "allowedFunctionNames": [str]},
    "SafetySetting": {"category": str, "threshold": str},
    "GenerationConfig": {
        "stopSequences": [str], "responseMimeType": str, "responseSchema": SCHEMA,
        "responseJsonSchema": ANY, "responseModalities": [str], "candidateCount": int,
        "maxOutputTokens": int, "temperature": float, "topP": float, "topK": int, "seed": int,
        "presencePenalty": float, "frequencyPenalty": float, "responseLogprobs": bool,
        "logprobs": int, "enableEnhancedCivicAnswers": bool, "speechConfig": ANY,
        "thinkingConfig": "ThinkingConfig", "mediaResolution": str,
    },
    "ThinkingConfig": {"includeThoughts": bool, "thinkingBudget": int, "thinkingLevel": str},
}  # fmt: skip
SCHEMA_TYPES = frozenset({"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"})
MODES = frozenset({"AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"})
FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}
SIGNATURE = "RmFrZVRob3VnaHRTaWduYXR1cmU="
NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_ids = itertools.count(1)


class Invalid(Exception):
    """A request the real API refuses with 400 INVALID_ARGUMENT."""


def error_body(
    code: int, status: str, message: str, details: list[Any] | None = None
) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return {"error": err}


def _error(code: int, status: str, message: str, details: list[Any] | None = None) -> web.Response:
    return web.json_response(error_body(code, status, message, details), status=code)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def unknown_fields(value: Any, kind: Any, path: str = "") -> list[str]:
    """Proto-JSON parsing: the message for every field `kind` does not define."""
    if kind is ANY:
        return []
    if isinstance(kind, list):
        if not isinstance(value, list):
            return [f"Invalid value at '{path}' (type.googleapis.com/{kind[0]}), {value!r}"]
        return [m for i, v in enumerate(value) for m in unknown_fields(v, kind[0], f"{path}[{i}]")]
    if isinstance(kind, set):  # a map: string keys, message values
        (inner,) = kind
        if not isinstance(value, dict):
            return [f"Invalid value at '{path}' (map), {value!r}"]
        return [m for k, v in value.items() for m in unknown_fields(v, inner, f"{path}[{k!r}]")]
    if kind in (str, bool, int, float):
        ok = isinstance(value, kind) if kind is not float else isinstance(value, (int, float))
        if kind is not bool and isinstance(value, bool):
            ok = False
        return [] if ok else [f"Invalid value at '{path}' ({kind.__name__.upper()}), {value!r}"]
    fields = MESSAGES[kind]
    if not isinstance(value, dict):
        return [f"Invalid value at '{path}' (type.googleapis.com/{kind}), {value!r}"]
    problems = []
    for key, v in value.items():
        name = _camel(key)
        if name not in fields:
            where = f" at '{path}'" if path else ""
            problems.append(
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.'
            )
            continue
        sub = f"{path}.{_snake(name)}" if path else _snake(name)
        problems += unknown_fields(v, fields[name], sub)
    return problems


def _get(obj: Any, name: str) -> Any:
    """A field by its lowerCamel or snake_case name."""
    if not isinstance(obj, dict):
        return None
    return obj.get(name, obj.get(_snake(name)))


def _schema_problems(schema: Any, path: str) -> list[str]:
    if not isinstance(schema, dict):
        return []
    out: list[str] = []
    kind = _get(schema, "type")
    if kind is not None and str(kind).upper() not in SCHEMA_TYPES:
        out.append(
            f"Invalid value at '{path}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), {kind!r}"
        )
    props = _get(schema, "properties")
    if str(kind).upper() == "OBJECT" and props is not None and not props:
        out.append(
            f"* GenerateContentRequest.{path}.properties: should be non-empty for OBJECT type"
        )
    if str(kind).upper() == "ARRAY" and _get(schema, "items") is None:
        out.append(f"* GenerateContentRequest.{path}.items: missing field.")
    for name, sub in (props or {}).items():
        out += _schema_problems(sub, f"{path}.properties[{name!r}]")
    out += _schema_problems(_get(schema, "items"), f"{path}.items")
    for i, sub in enumerate(_get(schema, "anyOf") or ()):
        out += _schema_problems(sub, f"{path}.any_of[{i}]")
    return out


def semantic_problems(body: dict[str, Any], model: str) -> list[str]:
    """The checks the API makes once the body parsed (messages as the real service words them)."""
    out: list[str] = []
    contents = _get(body, "contents") or []
    if not contents:
        out.append("* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        role = _get(content, "role")
        if role not in (None, "user", "model"):
            return ["Please use a valid role: user, model."]
        parts = _get(content, "parts") or []
        if not parts:
            out.append(
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )
        first_call = True
        for j, part in enumerate(parts):
            fr = _get(part, "functionResponse")
            if fr is not None and not _get(fr, "name"):
                out.append(
                    f"* GenerateContentRequest.contents[{i}].parts[{j}].function_response.name: Name cannot be empty."
                )
            fc = _get(part, "functionCall")
            if fc is None:
                continue
            if not _get(fc, "name"):
                out.append(
                    f"* GenerateContentRequest.contents[{i}].parts[{j}].function_call.name: Name cannot be empty."
                )
            if first_call and model.startswith("gemini-3") and not _get(part, "thoughtSignature"):
                out.append(
                    f"Unable to submit request because function call `{_get(fc, 'name')}` in the "
                    f"{i + 1}. content block is missing a `thought_signature`. Learn more: "
                    "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures"
                )
            first_call = False
    for t, tool in enumerate(_get(body, "tools") or ()):
        for d, decl in enumerate(_get(tool, "functionDeclarations") or ()):
            where = f"tools[{t}].function_declarations[{d}]"
            if not _get(decl, "name"):
                out.append(f"* GenerateContentRequest.{where}.name: Name cannot be empty.")
            out += _schema_problems(_get(decl, "parameters"), f"{where}.parameters")
    fcc = _get(_get(body, "toolConfig"), "functionCallingConfig")
    if fcc is not None and _get(fcc, "mode") not in MODES:
        out.append(
            f"Invalid value at 'tool_config.function_calling_config.mode', {_get(fcc, 'mode')!r}"
        )
    gen = _get(body, "generationConfig") or {}
    if len(_get(gen, "stopSequences") or ()) > 5:
        out.append(
            "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences are allowed"
        )
    out += _schema_problems(_get(gen, "responseSchema"), "generation_config.response_schema")
    thinking = _get(gen, "thinkingConfig") or {}
    if _get(thinking, "thinkingBudget") is not None and _get(thinking, "thinkingLevel") is not None:
        out.append("You can only set only one of thinking budget and thinking level.")
    return out


def validate(body: Any, model: str) -> None:
    """Raise `Invalid` with the real API's message when it would refuse `body`."""
    if not isinstance(body, dict):
        raise Invalid("Invalid JSON payload received. Expected an object.")
    problems = unknown_fields(body, "GenerateContentRequest") or semantic_problems(body, model)
    if problems:
        raise Invalid("\n".join(problems))


def _args(spec: Any) -> dict[str, Any]:
    if spec.custom:
        return {"input": spec.arguments}
    try:
        value = orjson.loads(spec.arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _usage(reply: Reply, candidates: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": candidates,
    }
    total = reply.prompt_tokens + candidates
    if reply.reasoning_tokens:
        usage["thoughtsTokenCount"] = reply.reasoning_tokens
        total += reply.reasoning_tokens
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
    usage["totalTokenCount"] = total
    return usage


def _parts(reply: Reply, pieces: int) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"text": t, "thought": True} for t in split_text(reply.reasoning, pieces)
    ]
    parts += [{"text": t} for t in split_text(reply.text, pieces)]
    for i, tc in enumerate(reply.tool_calls):
        part: dict[str, Any] = {"functionCall": {"name": tc.name, "args": _args(tc)}}
        if i == 0:
            part["thoughtSignature"] = SIGNATURE
        parts.append(part)
    return parts


def render_chunks(reply: Reply, model: str, response_id: str) -> list[dict[str, Any]]:
    """The reply as streamed `GenerateContentResponse`s: one part each, cumulative usage,
    finishReason on the last (or, for `stream_error`, an error chunk instead)."""
    parts = _parts(reply, reply.pieces) or [{"text": ""}]
    answer = max(0, reply.completion_tokens - reply.reasoning_tokens)
    chunks = []
    for i, part in enumerate(parts):
        cand: dict[str, Any] = {"content": {"parts": [part], "role": "model"}, "index": 0}
        last = i == len(parts) - 1
        if last and reply.stream_error is None:
            cand["finishReason"] = FINISH.get(reply.finish_reason(), "STOP")
        chunks.append({
            "candidates": [cand],
            "usageMetadata": _usage(reply, answer * (i + 1) // len(parts)),
            "modelVersion": model,
            "responseId": response_id,
        })  # fmt: skip
    if reply.stream_error is not None:
        chunks.append(error_body(500, "INTERNAL", reply.stream_error))
    return chunks


def render_body(reply: Reply, model: str, response_id: str) -> dict[str, Any]:
    cand = {
        "content": {"parts": _parts(reply, 1), "role": "model"},
        "finishReason": FINISH.get(reply.finish_reason(), "STOP"),
        "index": 0,
    }
    answer = max(0, reply.completion_tokens - reply.reasoning_tokens)
    return {"candidates": [cand], "usageMetadata": _usage(reply, answer), "modelVersion": model,
            "responseId": response_id}  # fmt: skip


def frame_sse(chunks: list[dict[str, Any]]) -> list[bytes]:
    return [b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks]


def frame_json_array(chunks: list[dict[str, Any]]) -> list[bytes]:
    pretty = [orjson.dumps(c, option=orjson.OPT_INDENT_2) for c in chunks]
    frames = [(b"[" if i == 0 else b"\n,\r\n") + p for i, p in enumerate(pretty)]
    return [*frames, b"\n]"] if frames else [b"[]"]


def make_app(fake: FakeUpstream, *, api_key: str | None = None) -> web.Application:
    """The fake on `/v1beta/models/{model}:{method}`. With `api_key`, only that key is valid;
    otherwise any non-empty key is."""

    async def generate(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        fake.record(request, body)
        model, _, method = request.match_info["call"].rpartition(":")
        if method not in ("generateContent", "streamGenerateContent") or not model:
            return _error(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta.")
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return _error(403, "PERMISSION_DENIED", NO_KEY)
        if api_key is not None and key != api_key:
            info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}  # fmt: skip
            return _error(
                400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [info]
            )
        try:
            validate(body, model)
        except Invalid as exc:
            return _error(400, "INVALID_ARGUMENT", str(exc))
        resp = await fake.before_reply(request)
        if resp is not None:
            return resp
        reply = fake.next_reply()
        response_id = f"fake-response-{next(_ids)}"
        streaming = method == "streamGenerateContent"
        if reply.raw is not None:
            if streaming:
                return await fake.write_stream(request, [reply.raw], reply.raw_content_type)
            return web.Response(body=reply.raw, headers={"content-type": reply.raw_content_type})
        if not streaming:
            if reply.stream_error is not None:
                return _error(500, "INTERNAL", reply.stream_error)
            return web.json_response(render_body(reply, model, response_id))
        chunks = render_chunks(reply, model, response_id)
        if request.query.get("alt") == "sse":
            return await fake.write_stream(request, frame_sse(chunks), "text/event-stream")
        return await fake.write_stream(
            request, frame_json_array(chunks), "application/json; charset=UTF-8"
        )

    app = web.Application()
    app.router.add_post("/v1beta/models/{call}", generate)
    return app
