"""Cursor's model-name variants end to end over TLS: `m-high`, `m-thinking`, `m-fast`,
`m-thinking-xhigh-fast` reach the deployments of `m` with the suffix applied in each upstream's
own terms; a configured full name wins; an unknown base is a 404; `/cursor/models` lists the
variants the admin opted into."""

from __future__ import annotations

from typing import Any

import pytest

from litecursor.config import ConfigError

from . import upstreams
from .harness import make_config
from .test_e2e_upstreams import wire
from .upstreams import KIND_NAMES, MODEL, Serve, start_upstream

serve = upstreams.serve  # the fixture, where pytest looks for it


def ask(name: str) -> dict[str, Any]:
    return {"model": name, "stream": True, "messages": [{"role": "user", "content": "A or B?"}]}


def sent_effort(kind: str, sent: dict[str, Any]) -> Any:
    """The upstream's own control for the reasoning effort it was sent."""
    match wire(kind):
        case "chat":
            return sent.get("reasoning_effort")
        case "responses":
            return (sent.get("reasoning") or {}).get("effort")
        case "anthropic":
            return (sent.get("thinking") or {}).get("budget_tokens")
        case "bedrock":  # Claude's thinking; Llama has no reasoning control
            extra = sent.get("additionalModelRequestFields") or {}
            return (extra.get("thinking") or {}).get("budget_tokens")
        case _:
            return (sent["generationConfig"].get("thinkingConfig") or {}).get("thinkingBudget")


# each upstream's control for `high` and for `xhigh` (Anthropic's budgets, Gemini's for a pro model)
HIGH = {"chat": "high", "responses": "high", "anthropic": 4096, "gemini": 24576, "bedrock": 4096}
XHIGH = {"chat": "xhigh", "responses": "xhigh", "anthropic": 8192, "gemini": 32768}
MEDIUM = {"chat": "medium", "responses": "medium", "anthropic": 2048, "gemini": 8192}


@pytest.mark.parametrize("kind", KIND_NAMES)
async def test_effort_suffix_reaches_the_base_models_deployment(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    status, payloads = await gw.chat(ask(f"{MODEL}-high"))
    assert status == 200, payloads
    expected = None if kind == "bedrock-llama" else HIGH[wire(kind)]  # Llama cannot think
    assert sent_effort(kind, fake.last.body) == expected
    # Cursor sees the name it asked for
    assert {c["model"] for c in payloads if isinstance(c, dict)} == {f"{MODEL}-high"}


@pytest.mark.parametrize("kind", ["openai", "openai-responses", "azure", "anthropic"])
async def test_thinking_suffix_turns_reasoning_on_at_the_deployments_default(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    status, _ = await gw.chat(ask(f"{MODEL}-thinking"))
    assert status == 200
    assert sent_effort(kind, fake.last.body) == MEDIUM[wire(kind)]


async def test_thinking_uses_the_deployments_own_reasoning_effort(
    aiohttp_server: Any, gateway_factory: Any
) -> None:
    fake, params = await start_upstream(aiohttp_server, "openai-responses")
    gw = await gateway_factory(
        [{"model_name": MODEL, "litellm_params": {**params, "reasoning_effort": "low"}}]
    )
    assert (await gw.chat(ask(f"{MODEL}-thinking")))[0] == 200
    assert fake.last.body["reasoning"]["effort"] == "low"


@pytest.mark.parametrize("kind", ["openai", "openai-responses", "azure-responses"])
async def test_fast_suffix_asks_for_the_priority_tier_with_its_effort(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    status, _ = await gw.chat(ask(f"{MODEL}-thinking-xhigh-fast"))
    assert status == 200
    sent = fake.last.body
    assert sent["service_tier"] == "priority"
    assert sent_effort(kind, sent) == XHIGH[wire(kind)]


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
async def test_fast_is_not_sent_to_an_upstream_without_a_priority_tier(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    status, _ = await gw.chat(ask(f"{MODEL}-fast"))
    assert status == 200 and "priority" not in str(fake.last.body)


async def test_a_configured_full_name_wins_over_the_variant(
    aiohttp_server: Any, gateway_factory: Any
) -> None:
    base, base_params = await start_upstream(aiohttp_server, "openai")
    full, full_params = await start_upstream(aiohttp_server, "openai")
    gw = await gateway_factory(
        [
            {"model_name": MODEL, "litellm_params": base_params},
            {"model_name": f"{MODEL}-high", "litellm_params": full_params},
        ]
    )
    assert (await gw.chat(ask(f"{MODEL}-high")))[0] == 200
    assert len(full.requests) == 1 and base.requests == []
    assert "reasoning_effort" not in full.last.body  # nothing stripped, nothing applied
    assert (await gw.chat(ask(f"{MODEL}-low")))[0] == 200
    assert base.last.body["reasoning_effort"] == "low"


async def test_an_unknown_base_is_still_a_404_listing_the_models(serve: Serve) -> None:
    fake, gw = await serve("openai")
    status, body = await gw.chat(ask("gpt-9-thinking-high"))
    assert status == 404 and body["error"]["code"] == "model_not_found"
    assert f"available models: {MODEL}" in body["error"]["message"]
    assert fake.requests == []


async def test_cursor_models_lists_the_variants_the_admin_opted_into(serve: Serve) -> None:
    _, gw = await serve(
        "openai", litecursor_settings={"model_variants": {MODEL: ["high", "thinking-xhigh-fast"]}}
    )
    for path, expected in (
        ("/cursor/models", [MODEL, f"{MODEL}-high", f"{MODEL}-thinking-xhigh-fast"]),
        ("/v1/models", [MODEL]),
    ):
        async with gw.session.get(
            gw.base + path, headers={"authorization": "Bearer sk-test-master"}
        ) as r:
            assert [m["id"] for m in (await r.json())["data"]] == expected
    # and each listed variant is served
    models = await gw.openai().models.list()
    for m in models.data:
        assert (await gw.chat(ask(m.id)))[0] == 200


@pytest.mark.parametrize(
    ("variants", "where"),
    [
        ({"nope": ["high"]}, "litecursor_settings.model_variants.nope"),
        ({MODEL: ["turbo"]}, f"litecursor_settings.model_variants.{MODEL}[0]"),
        ({MODEL: ["high-thinking"]}, f"litecursor_settings.model_variants.{MODEL}[0]"),
    ],
)
def test_bad_model_variants_name_the_path(variants: dict[str, Any], where: str) -> None:
    models = [{"model_name": MODEL, "litellm_params": {"model": "openai/gpt-5.4"}}]
    with pytest.raises(ConfigError) as raised:
        make_config(models, litecursor_settings={"model_variants": variants})
    assert raised.value.path == where
