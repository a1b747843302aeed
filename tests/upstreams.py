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

import pytest
from aiohttp import web

from .fakes import (
    anthropic_upstream,
    azure_upstream,
    gemini_upstream,
    openai_responses_upstream,
    openai_upstream,
)
from .fakes.common import FakeUpstream
from .harness import Gateway

#: the model name clients ask the gateway for
MODEL = "m"
UPSTREAM_KEY = "sk-upstream-secret"


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

    @property
    def native_custom_tools(self) -> bool:
        return self.wire == "responses"


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
    )
}
KIND_NAMES = tuple(KINDS)

AiohttpServer = Callable[..., Awaitable[Any]]
Serve = Callable[..., Awaitable[tuple[FakeUpstream, Gateway]]]


async def start_upstream(
    aiohttp_server: AiohttpServer, kind: str
) -> tuple[FakeUpstream, dict[str, Any]]:
    """Run `kind`'s fake on loopback; returns its state and the `litellm_params` reaching it."""
    spec = KINDS[kind]
    fake = FakeUpstream()
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
