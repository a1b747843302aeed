"""A fake Azure OpenAI resource: Chat Completions and Responses on Azure's dated and v1 paths.

Bodies are validated exactly as by the OpenAI fakes (Azure runs the same API); what differs is
the URL (deployment in the path, `api-version` query), the `api-key` header and Azure's own
error bodies for those. Chat streams open with Azure's `prompt_filter_results` chunk.
"""

from __future__ import annotations

import re

from aiohttp import web

from . import openai_responses_upstream as responses_fake
from .common import FakeUpstream, error_response
from .openai_upstream import handle_chat

_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
    "valid key for an active subscription and use a correct regional API endpoint for your resource."
)
_DATED = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
PROMPT_FILTER_CHUNK = (
    b'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":'
    b'[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},'
    b'"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":'
    b'"safe"},"violence":{"filtered":false,"severity":"safe"}}}]}\n\n'
)


def _azure_error(status: int, code: str, message: str) -> web.Response:
    return error_response(status, {"error": {"code": code, "message": message}})


def _check(request: web.Request, v1: bool) -> web.Response | None:
    """Azure's own checks, before the body is looked at: the key, then the API version."""
    if not request.headers.get("api-key"):
        return _azure_error(401, "401", _DENIED)
    version = request.query.get("api-version")
    if v1:
        # the v1 API takes no dated version (wording of this error is approximate)
        if version is not None and version not in ("preview", "latest"):
            return _azure_error(
                400, "BadRequest", f"API version '{version}' is not supported on /v1 paths"
            )
    elif version is None or not _DATED.match(version):
        return _azure_error(404, "404", "Resource not found")
    return None


def make_app(fake: FakeUpstream) -> web.Application:
    async def deployment_chat(request: web.Request) -> web.StreamResponse:
        body = await responses_fake.read_body(request)
        fake.record(request, body)
        problem = _check(request, v1=False)
        if problem is not None:
            return problem
        if isinstance(body, dict):
            # the deployment in the path names the model; a `model` in the body is ignored
            body = {**body, "model": request.match_info["deployment"]}
        return await handle_chat(fake, request, body, lead=(PROMPT_FILTER_CHUNK,))

    async def v1_chat(request: web.Request) -> web.StreamResponse:
        body = await responses_fake.read_body(request)
        fake.record(request, body)
        return _check(request, v1=True) or await handle_chat(
            fake, request, body, lead=(PROMPT_FILTER_CHUNK,)
        )

    async def responses(request: web.Request) -> web.StreamResponse:
        body = await responses_fake.read_body(request)
        fake.record(request, body)
        v1 = request.path.startswith("/openai/v1/")
        return _check(request, v1=v1) or await responses_fake.reply(fake, request, body)

    app = web.Application()
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", deployment_chat)
    app.router.add_post("/openai/v1/chat/completions", v1_chat)
    app.router.add_post("/openai/responses", responses)
    app.router.add_post("/openai/v1/responses", responses)
    return app
