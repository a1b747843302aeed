"""Router names: wildcard groups forward the requested name, exact names win, aliases, /models, unknown models."""

from __future__ import annotations

from tests.fakes.common import Faults
from tests.fakes.routing import (
    anthropic_model,
    ask,
    openai_model,
    start_anthropic,
    start_openai,
)
from tests.harness import text_of


async def test_a_wildcard_group_forwards_the_requested_name_to_the_provider(
    aiohttp_server, gateway_factory
) -> None:
    fake, base = await start_anthropic(aiohttp_server)
    gw = await gateway_factory([anthropic_model("claude-*", base, model="anthropic/claude-*")])
    answer = await ask(gw, "claude-opus-4-1", stream=True)
    assert answer.status == 200
    assert fake.last.body["model"] == "claude-opus-4-1"
    assert text_of(answer.body) == "Hello from the fake Anthropic upstream."
    assert {c["model"] for c in answer.body if isinstance(c, dict)} == {"claude-opus-4-1"}
    assert answer.group == "claude-*"


async def test_the_catch_all_wildcard_serves_any_name(aiohttp_server, gateway_factory) -> None:
    fake, base = await start_openai(aiohttp_server)
    gw = await gateway_factory([openai_model("*", base, model="openai/*")])
    for name in ("my-local-model", "gpt-4.1-mini"):
        assert (await ask(gw, name)).status == 200
        assert fake.last.body["model"] == name


async def test_a_wildcard_with_a_fixed_upstream_model_sends_that_model(
    aiohttp_server, gateway_factory
) -> None:
    fake, base = await start_openai(aiohttp_server)
    gw = await gateway_factory([openai_model("gpt-*", base, model="openai/gpt-4o-mini")])
    answer = await ask(gw, "gpt-anything")
    assert answer.status == 200 and answer.body["model"] == "gpt-anything"
    assert fake.last.body["model"] == "gpt-4o-mini"


async def test_an_exact_name_wins_over_a_wildcard(aiohttp_server, gateway_factory) -> None:
    (exact, eb), (wild, wb) = await start_openai(aiohttp_server), await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [
            openai_model("*", wb, model="openai/*"),
            openai_model("gpt-4o", eb, model="openai/gpt-4o-2024-11-20"),
        ]
    )
    await ask(gw, "gpt-4o")
    await ask(gw, "gpt-4o-mini")
    assert [r.body["model"] for r in exact.requests] == ["gpt-4o-2024-11-20"]
    assert [r.body["model"] for r in wild.requests] == ["gpt-4o-mini"]


async def test_the_most_specific_wildcard_wins(aiohttp_server, gateway_factory) -> None:
    (openai, ob), (anthropic, ab) = (
        await start_openai(aiohttp_server),
        await start_anthropic(aiohttp_server),
    )
    gw = await gateway_factory(
        [
            openai_model("*", ob, model="openai/*"),
            anthropic_model("claude-*", ab, model="anthropic/claude-*"),
        ]
    )
    assert (await ask(gw, "claude-sonnet-4-5")).group == "claude-*"
    assert (await ask(gw, "o3")).group == "*"
    assert (len(openai.requests), len(anthropic.requests)) == (1, 1)


async def test_a_model_group_alias_routes_to_its_group(aiohttp_server, gateway_factory) -> None:
    _fake, base = await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [openai_model("gpt-4o", base, id="main")],
        router_settings={"model_group_alias": {"fast": "gpt-4o"}},
    )
    answer = await ask(gw, "fast")
    assert answer.status == 200
    assert answer.body["model"] == "fast"  # the client's name
    assert (answer.group, answer.deployment) == ("gpt-4o", "main")


async def test_an_alias_may_point_into_a_wildcard_group(aiohttp_server, gateway_factory) -> None:
    fake, base = await start_anthropic(aiohttp_server)
    gw = await gateway_factory(
        [anthropic_model("claude-*", base, model="anthropic/claude-*")],
        router_settings={"model_group_alias": {"sonnet": "claude-sonnet-4-5"}},
    )
    assert (await ask(gw, "sonnet")).status == 200
    assert fake.last.body["model"] == "claude-sonnet-4-5"


async def test_models_lists_exact_names_and_wildcard_patterns(
    aiohttp_server, gateway_factory
) -> None:
    _fake, base = await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [
            openai_model("gpt-4o", base),
            openai_model("gpt-4o", base),
            openai_model("claude-*", base, model="openai/*"),
        ]
    )
    client = gw.openai()
    ids = [m.id async for m in client.models.list()]
    assert ids == ["gpt-4o", "claude-*"]


async def test_an_unknown_model_is_a_404_listing_the_available_ones(
    aiohttp_server, gateway_factory
) -> None:
    fake, base = await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [openai_model("gpt-4o", base), openai_model("claude-*", base, model="openai/*")],
        router_settings={"model_group_alias": {"fast": "gpt-4o"}},
    )
    answer = await ask(gw, "gemini-2.5-pro")
    assert answer.status == 404 and answer.error["code"] == "model_not_found"
    message = answer.error["message"]
    assert "'gemini-2.5-pro'" in message
    assert "gpt-4o" in message and "claude-*" in message and "fast" in message
    assert fake.requests == []


async def test_an_unknown_name_in_a_wildcard_group_does_not_cool_its_deployment(
    aiohttp_server, gateway_factory
) -> None:
    (a, ab), (_, bb) = await start_openai(aiohttp_server), await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [
            openai_model("*", ab, id="a", model="openai/*", order=1),
            openai_model("*", bb, id="b", model="openai/*", order=2),
        ]
    )
    a.faults = Faults(status=404, times=1)
    assert (await ask(gw, "gpt-typo")).status == 404
    assert (await ask(gw, "gpt-4o")).deployment == "a"
