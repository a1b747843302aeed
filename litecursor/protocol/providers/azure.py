"""Azure OpenAI: OpenAI's Chat Completions and Responses APIs at an Azure resource's URLs, keyed by `api-key`.

Two URL families exist. The dated API puts the deployment in the path and wants
`?api-version=<date>`; the v1 API (GA since 2025-08) mirrors OpenAI's paths under
`/openai/v1/` and takes the deployment as `model` in the body. A target uses v1 when its
`api_version` is "v1" (or "preview", v1's opt-in to preview features) or its `api_base`
already ends in `/openai/v1`. Bodies, streams and errors are OpenAI's own, so both adapters
reuse the OpenAI ones and only change the URL and the key header.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson

from ..types import ChatRequest
from .base import HttpRequest, Target
from .openai_chat import OpenAIChatProvider, build_chat_body
from .openai_responses import OpenAIResponsesProvider, build_responses_body

#: the latest dated GA version of the data-plane (inference) API
CHAT_API_VERSION = "2024-10-21"
#: the Responses API never had a dated GA version; this is the last dated preview with it
RESPONSES_API_VERSION = "2025-04-01-preview"
_V1_VERSIONS = frozenset({"v1", "preview"})


def _v1_base(target: Target) -> tuple[str, str | None] | None:
    """(`…/openai/v1`, the api-version query it keeps or None) for a v1 target, else None."""
    base = target.api_base.rstrip("/")
    version = (target.api_version or "").lower()
    if base.endswith("/openai/v1"):
        return base, "preview" if version == "preview" else None
    if version in _V1_VERSIONS:
        return _resource(base) + "/openai/v1", "preview" if version == "preview" else None
    return None


def _resource(base: str) -> str:
    # people paste the endpoint with or without the `/openai` suffix
    base = base.rstrip("/")
    return base[: -len("/openai")] if base.endswith("/openai") else base


def _headers(target: Target) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if target.api_key:
        headers["api-key"] = target.api_key
    headers.update(target.headers)
    return headers


def _with_version(url: str, version: str | None) -> str:
    return f"{url}?api-version={quote(version, safe='')}" if version else url


def chat_url(target: Target) -> str:
    v1 = _v1_base(target)
    if v1 is not None:
        return _with_version(v1[0] + "/chat/completions", v1[1])
    deployment = quote(target.model, safe="")
    url = f"{_resource(target.api_base)}/openai/deployments/{deployment}/chat/completions"
    return _with_version(url, target.api_version or CHAT_API_VERSION)


def responses_url(target: Target) -> str:
    v1 = _v1_base(target)
    if v1 is not None:
        return _with_version(v1[0] + "/responses", v1[1])
    url = f"{_resource(target.api_base)}/openai/responses"
    return _with_version(url, target.api_version or RESPONSES_API_VERSION)


class AzureChatProvider(OpenAIChatProvider):
    name = "azure"

    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        body = build_chat_body(req, target)
        if _v1_base(target) is None:
            del body["model"]  # the deployment in the path decides the model
        return HttpRequest("POST", chat_url(target), _headers(target), orjson.dumps(body))


class AzureResponsesProvider(OpenAIResponsesProvider):
    name = "azure"

    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        # Responses takes the deployment name as `model` on both URL families
        body = orjson.dumps(build_responses_body(req, target))
        return HttpRequest("POST", responses_url(target), _headers(target), body)
