"""Every upstream kind the gateway speaks, in one table: start its strict fake, get the config for it.

`start_upstream(aiohttp_server, kind)` runs the fake on loopback and returns `(FakeUpstream,
litellm_params)`; the `serve` fixture does that and starts the gateway in front of it, with
one model, `MODEL`. `assert_chat_stream` holds what every streamed answer owes the client,
whichever upstream produced it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from .fakes import (
    anthropic_upstream,
    azure_upstream,
    bedrock_upstream,
    gemini_upstream,
    openai_responses_upstream,
    openai_upstream,
    vertex_upstream,
)
from .fakes.aws import AwsKeys
from .fakes.common import FakeUpstream
from .harness import Gateway

#: the model name clients ask the gateway for
MODEL = "m"
UPSTREAM_KEY = "sk-upstream-secret"
AiohttpServer = Callable[..., Awaitable[Any]]
#: a cloud kind starts its fake with the credential services around it, and returns the
#: `litellm_params` that reach it with working credentials
Setup = Callable[[AiohttpServer, FakeUpstream, str], Awaitable[dict[str, Any]]]


def _cloud(fake: FakeUpstream) -> web.Application:
    raise AssertionError("cloud kinds start through their setup")


@dataclass(frozen=True)
class Kind:
    """One upstream kind. `wire` names the request shape its API takes: chat / responses /
    anthropic / gemini. Model names are chosen so the fakes apply their strictest rules
    (reasoning-model parameters for gpt-5, thought signatures for gemini-3)."""

    name: str
    wire: str
    make_app: Callable[[FakeUpstream], web.Application]
    model: str
    base_path: str
    extra: dict[str, Any] = field(default_factory=dict)
    setup: Setup | None = None

    @property
    def native_custom_tools(self) -> bool:
        return self.wire == "responses"


VERTEX_PROJECT = "litecursor-test"
VERTEX_LOCATION = "us-east5"
AWS_REGION = "us-west-2"
AWS_KEY_ID = "AKIDLITECURSORTEST"
AWS_SECRET = "aws-secret-for-tests-only"


async def vertex_setup(server: AiohttpServer, fake: FakeUpstream, model: str) -> dict[str, Any]:
    """The fake token endpoint with a fresh service account, and the Vertex fake behind it."""
    from .clouds import service_account

    tokens = vertex_upstream.GoogleTokens()
    token_server = await server(tokens.make_app())
    tokens.token_url = str(token_server.make_url("/token"))
    info = service_account(tokens)
    vertex = await server(
        vertex_upstream.make_app(fake, tokens, project=VERTEX_PROJECT, location=VERTEX_LOCATION)
    )
    fake.cloud = tokens
    return {
        "model": model,
        "api_base": str(vertex.make_url("")).rstrip("/"),  # a bare host: the standard path
        "vertex_project": VERTEX_PROJECT,
        "vertex_location": VERTEX_LOCATION,
        "vertex_credentials": orjson.dumps(info).decode(),
    }


async def bedrock_setup(server: AiohttpServer, fake: FakeUpstream, model: str) -> dict[str, Any]:
    """The Bedrock fake, verifying SigV4 with the secret the gateway is given."""
    keys = AwsKeys(region=AWS_REGION)
    keys.add(AWS_KEY_ID, AWS_SECRET)
    app = await server(bedrock_upstream.make_app(fake, keys))
    fake.cloud = keys
    return {
        "model": model,
        "aws_bedrock_runtime_endpoint": str(app.make_url("")).rstrip("/"),
        "aws_access_key_id": AWS_KEY_ID,
        "aws_secret_access_key": AWS_SECRET,
        "aws_region_name": AWS_REGION,
    }


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("openai", "chat", openai_upstream.make_app, "openai/gpt-5.1", "/v1"),
        Kind(
            "openai-responses",
            "responses",
            openai_responses_upstream.make_app,
            "openai/responses/gpt-5.1",
            "/v1",
        ),
        Kind(
            "azure",
            "chat",
            azure_upstream.make_app,
            "azure/gpt-5-prod",
            "",
            {"api_version": "2024-10-21"},
        ),
        Kind(
            "azure-responses",
            "responses",
            azure_upstream.make_app,
            "azure/responses/gpt-5-prod",
            "",
            {"api_version": "2025-04-01-preview"},
        ),
        Kind(
            "anthropic",
            "anthropic",
            anthropic_upstream.make_app,
            "anthropic/claude-sonnet-4-5",
            "",
        ),
        Kind(
            "gemini", "gemini", gemini_upstream.make_app, "gemini/gemini-3-pro-preview", "/v1beta"
        ),
        Kind("vertex-gemini", "gemini", _cloud, "vertex_ai/gemini-3-pro-preview", "",
             setup=vertex_setup),
        Kind("vertex-claude", "anthropic", _cloud, "vertex_ai/claude-sonnet-4-5@20250929", "",
             setup=vertex_setup),
        # Claude: the strictest rules (thinking, cache points, toolResult.status)
        Kind("bedrock", "bedrock", _cloud,
             "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "", setup=bedrock_setup),
        # Llama: tools through Converse (its ConverseStream refuses them), no cache points
        Kind("bedrock-llama", "bedrock", _cloud,
             "bedrock/converse/us.meta.llama4-maverick-17b-instruct-v1:0", "",
             setup=bedrock_setup),
    )
}  # fmt: skip
KIND_NAMES = tuple(KINDS)

Serve = Callable[..., Awaitable[tuple[FakeUpstream, Gateway]]]


async def start_upstream(
    aiohttp_server: AiohttpServer, kind: str
) -> tuple[FakeUpstream, dict[str, Any]]:
    """Run `kind`'s fake on loopback; returns its state and the `litellm_params` reaching it."""
    spec = KINDS[kind]
    fake = FakeUpstream()
    if spec.setup is not None:
        return fake, await spec.setup(aiohttp_server, fake, spec.model)
    server = await aiohttp_server(spec.make_app(fake))
    root = str(server.make_url("")).rstrip("/")
    params = {
        "model": spec.model,
        "api_base": root + spec.base_path,
        "api_key": UPSTREAM_KEY,
        **spec.extra,
    }
    return fake, params


@pytest.fixture
def serve(aiohttp_server: AiohttpServer, gateway_factory: Any) -> Serve:
    """`fake, gw = await serve(kind, **config_sections)`: the fake for `kind` behind a gateway
    that serves it as `MODEL`."""

    async def start(kind: str, **sections: Any) -> tuple[FakeUpstream, Gateway]:
        fake, params = await start_upstream(aiohttp_server, kind)
        gw = await gateway_factory([{"model_name": MODEL, "litellm_params": params}], **sections)
        return fake, gw

    return start


def assert_chat_stream(payloads: list[Any], *, usage: bool = True) -> None:
    """A well-formed Chat Completions stream: chunks of one id, `role` on the first, exactly
    one finish_reason, the usage chunk (`choices: []`) last when wanted, then `[DONE]`."""
    assert payloads and payloads[-1] == "[DONE]", payloads[-3:]
    chunks = payloads[:-1]
    assert all(isinstance(c, dict) and "error" not in c for c in chunks), chunks
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {MODEL}
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    finishes = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finishes) == 1, finishes
    if usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
        assert all(c["choices"] for c in chunks[:-1])
    else:
        assert all(c["choices"] for c in chunks)
