"""Vertex AI: Gemini (`generateContent`) and Claude (`rawPredict`) served by Google Cloud.

Both reuse their direct-API adapters whole (request building, stream decoding, errors) and
differ only in the envelope: the URL is the model's Vertex resource
(`https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/
publishers/{google|anthropic}/models/{model}`, `aiplatform.googleapis.com` for the `global`
location) followed by `:method`, the key is an OAuth2 access token added by the credentials
step, and Claude's body names no `model` and carries `anthropic_version: "vertex-2023-10-16"`.
The config computes the model URL once (`vertex_model_url`), so `Target.api_base` holds it.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import orjson

from ..types import ChatRequest
from .anthropic import AnthropicProvider, build_messages_body
from .base import HttpRequest, Target
from .gemini import GeminiProvider, build_gemini_body

__all__ = [
    "VERTEX_ANTHROPIC_VERSION",
    "VertexAnthropicProvider",
    "VertexGeminiProvider",
    "vertex_model_url",
]

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
API_VERSION = "v1"


def vertex_host(location: str) -> str:
    return (
        "aiplatform.googleapis.com"
        if location == "global"
        else f"{location}-aiplatform.googleapis.com"
    )


def vertex_model_url(
    project: str, location: str, publisher: str, model: str, api_base: str | None = None
) -> str:
    """The model's URL up to `:method`. `api_base` (a private or regional endpoint, a proxy)
    is either that whole URL already, as LiteLLM reads it (it ends with the model's
    `/models/{model}`, or a deployed model's `/endpoints/{id}`), or a base: a bare host, or a
    host and path prefix, which gets the standard path."""
    path = (
        f"/{API_VERSION}/projects/{quote(project, safe='')}/locations/{quote(location, safe='')}"
        f"/publishers/{publisher}/models/{quote(model, safe='@')}"
    )
    if api_base is None:
        return f"https://{vertex_host(location)}{path}"
    base = api_base.rstrip("/")
    segments = urlsplit(base).path.split("/")
    if len(segments) >= 3 and segments[-2] in ("models", "endpoints") and segments[-1]:
        return base
    return base + path


def _headers(target: Target) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    headers.update(target.headers)
    return headers


class VertexGeminiProvider(GeminiProvider):
    name = "vertex_ai"

    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        method = ":streamGenerateContent?alt=sse" if req.stream else ":generateContent"
        body = orjson.dumps(build_gemini_body(req, target))
        return HttpRequest("POST", target.api_base + method, _headers(target), body)


class VertexAnthropicProvider(AnthropicProvider):
    name = "vertex_ai"

    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        body = build_messages_body(req, target)
        del body["model"]  # the URL names it
        body = {"anthropic_version": target.api_version or VERTEX_ANTHROPIC_VERSION, **body}
        method = ":streamRawPredict" if req.stream else ":rawPredict"
        return HttpRequest("POST", target.api_base + method, _headers(target), orjson.dumps(body))
