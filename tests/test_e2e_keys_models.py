"""The model list a virtual key gets over HTTPS with the openai SDK: what its own, its user's
and its team's model lists let it call, decided as admission decides; everything for the
master key and unrestricted keys."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from .conftest import GatewayFactory
from .fakes.routing import openai_model, start_openai
from .harness import MASTER_KEY, Gateway
from .test_e2e_keys import admin, client

HI = [{"role": "user", "content": "hi"}]
#: what an unrestricted caller sees on /v1/models: the model_list's names, in order
ALL = ["gpt-4o", "claude-sonnet", "claude-opus", "gemini-*"]
#: and on /cursor/models, with the Cursor variant the admin opted into
CURSOR_ALL = [*ALL, "gpt-4o-high"]
PATHS = ("/v1", "/cursor", "", "/cursor/v1")


@pytest.fixture
async def gw(gateway_factory: GatewayFactory, aiohttp_server: Any) -> Gateway:
    _, base = await start_openai(aiohttp_server)
    return await gateway_factory(
        [
            openai_model("gpt-4o", base),
            openai_model("claude-sonnet", base),
            openai_model("claude-opus", base),
            openai_model("gemini-*", base, model="openai/*"),
        ],
        router_settings={"num_retries": 0, "model_group_alias": {"fast": "gpt-4o"}},
        litecursor_settings={"model_variants": {"gpt-4o": ["high"]}},
    )


async def new_key(gw: Gateway, **body: Any) -> str:
    return str((await admin(gw, "/key/generate", body))["key"])


async def listed(gw: Gateway, key: str, prefix: str = "/v1") -> list[str]:
    return [m.id async for m in client(gw, key, prefix).models.list()]


async def admitted(gw: Gateway, key: str, names: list[str]) -> list[str]:
    """The names of `names` a request with `key` is not refused for (403)."""
    oa = client(gw, key, "/cursor")
    ok = []
    for name in names:
        try:
            await oa.chat.completions.create(model=name, messages=HI)
        except openai.PermissionDeniedError:
            continue
        ok.append(name)
    return ok


async def assert_list_is_what_admission_allows(gw: Gateway, key: str) -> None:
    """On every route, each name listed is one admission lets the key call, and each name an
    unrestricted caller sees that admission lets the key call is listed."""
    for prefix in PATHS:
        everything = CURSOR_ALL if prefix.startswith("/cursor") else ALL
        shown = await listed(gw, key, prefix)
        assert await admitted(gw, key, shown) == shown
        allowed = await admitted(gw, key, everything)
        assert [n for n in shown if n in everything] == allowed


async def test_a_key_with_a_model_list_sees_only_those_models(gw: Gateway) -> None:
    key = await new_key(gw, models=["gpt-4o", "claude-*", "gemini-2.5-pro"])
    assert await listed(gw, key) == ["gpt-4o", "claude-sonnet", "claude-opus", "gemini-2.5-pro"]
    # the variant of an allowed name is allowed, so /cursor/models lists it
    assert await listed(gw, key, "/cursor") == [
        "gpt-4o",
        "claude-sonnet",
        "claude-opus",
        "gpt-4o-high",
        "gemini-2.5-pro",
    ]
    await assert_list_is_what_admission_allows(gw, key)


async def test_a_key_given_an_alias_sees_the_alias(gw: Gateway) -> None:
    key = await new_key(gw, models=["fast"])
    assert await listed(gw, key) == ["fast"]
    await assert_list_is_what_admission_allows(gw, key)


async def test_a_teams_model_list_narrows_what_its_keys_see(gw: Gateway) -> None:
    await admin(gw, "/team/new", {"team_id": "eng", "team_alias": "eng", "models": ["claude-*"]})
    key = await new_key(gw, team_id="eng")
    assert await listed(gw, key) == ["claude-sonnet", "claude-opus"]
    await assert_list_is_what_admission_allows(gw, key)
    # a key of the team with its own list sees what both allow
    both = await new_key(gw, team_id="eng", models=["gpt-4o", "claude-opus"])
    assert await listed(gw, both) == ["claude-opus"]
    await assert_list_is_what_admission_allows(gw, both)


async def test_a_users_model_list_narrows_what_their_keys_see(gw: Gateway) -> None:
    await admin(gw, "/user/new", {"user_id": "ann", "models": ["gpt-4o"]})
    key = await new_key(gw, user_id="ann")
    assert await listed(gw, key) == ["gpt-4o"]
    assert await listed(gw, key, "/cursor") == ["gpt-4o", "gpt-4o-high"]


@pytest.mark.parametrize("models", [[], ["all-proxy-models"]])
async def test_unrestricted_keys_and_the_master_key_see_every_model(
    gw: Gateway, models: list[str]
) -> None:
    key = await new_key(gw, models=models)
    for caller in (key, MASTER_KEY):
        assert await listed(gw, caller) == ALL
        assert await listed(gw, caller, "/cursor") == CURSOR_ALL


async def test_a_changed_model_list_shows_at_once(gw: Gateway) -> None:
    key = await new_key(gw, models=["gpt-4o"])
    assert await listed(gw, key) == ["gpt-4o"]
    await admin(gw, "/key/update", {"key": key, "models": ["claude-sonnet"]})
    assert await listed(gw, key) == ["claude-sonnet"]
    await admin(gw, "/key/update", {"key": key, "models": []})
    assert await listed(gw, key) == ALL


async def test_a_blocked_key_gets_no_list(gw: Gateway) -> None:
    key = await new_key(gw, models=["gpt-4o"])
    await admin(gw, "/key/block", {"key": key})
    with pytest.raises(openai.AuthenticationError):
        await listed(gw, key)
