"""Router settings in config.yaml: defaults, LiteLLM's litellm_settings spellings, and checked names."""

from __future__ import annotations

from typing import Any

import pytest

from litecursor.config import Config, ConfigError, RouterSettings, parse


def model(name: str = "gpt-4o", **params: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {"model": "openai/gpt-4o", "api_key": "k", **params},
    }


def cfg(models: list[dict[str, Any]] | None = None, **sections: Any) -> Config:
    data = {
        "model_list": models or [model()],
        "general_settings": {"master_key": "sk-m"},
        **sections,
    }
    return parse(data, environ={})


def test_router_defaults_follow_the_issue() -> None:
    r = cfg().router
    assert (r.routing_strategy, r.num_retries, r.allowed_fails, r.cooldown_time) == (
        "simple-shuffle",
        2,
        3,
        30.0,
    )
    assert (r.max_retry_wait, r.disable_cooldowns) == (10.0, False)


def test_litellm_settings_router_keys_are_used_not_warned() -> None:
    c = cfg(
        [model(), model("backup")],
        litellm_settings={
            "num_retries": 5,
            "request_timeout": 42,
            "fallbacks": [{"gpt-4o": ["backup"]}],
            "context_window_fallbacks": [{"gpt-4o": ["backup"]}],
            "default_fallbacks": ["backup"],
        },
    )
    r = c.router
    assert (r.num_retries, r.timeout, r.default_fallbacks) == (5, 42.0, ("backup",))
    assert r.fallbacks == {"gpt-4o": ("backup",)} == r.context_window_fallbacks
    assert c.warnings == ()


def test_router_settings_win_over_litellm_settings() -> None:
    r = cfg(
        litellm_settings={"num_retries": 5, "request_timeout": 42},
        router_settings={"num_retries": 1, "timeout": 7},
    ).router
    assert (r.num_retries, r.timeout) == (1, 7.0)


def test_a_fallback_to_an_unknown_model_is_an_error_naming_its_path() -> None:
    with pytest.raises(ConfigError) as e:
        cfg(router_settings={"fallbacks": [{"gpt-4o": ["gtp-4o-mini"]}]})
    assert str(e.value).startswith(
        "router_settings.fallbacks.gpt-4o: 'gtp-4o-mini' is not a model_name"
    )


def test_a_litellm_settings_fallback_error_names_that_section() -> None:
    with pytest.raises(ConfigError) as e:
        cfg(litellm_settings={"default_fallbacks": ["nope"]})
    assert str(e.value).startswith("litellm_settings.default_fallbacks: 'nope'")


def test_a_fallback_may_name_a_model_served_by_a_wildcard_or_an_alias() -> None:
    r = cfg(
        [model(), model("claude-*", model="openai/*")],
        router_settings={
            "model_group_alias": {"fast": "gpt-4o"},
            "fallbacks": [{"gpt-4o": ["claude-sonnet-4-5", "fast"]}],
        },
    ).router
    assert r.fallbacks == {"gpt-4o": ("claude-sonnet-4-5", "fast")}


def test_an_alias_to_an_unknown_model_is_an_error() -> None:
    with pytest.raises(ConfigError) as e:
        cfg(router_settings={"model_group_alias": {"fast": "gpt-5"}})
    assert str(e.value).startswith(
        "router_settings.model_group_alias.fast: 'gpt-5' is not a model_name"
    )


def test_two_deployments_with_one_id_are_an_error() -> None:
    with pytest.raises(ConfigError) as e:
        cfg([{**model(), "model_info": {"id": "x"}}, {**model(), "model_info": {"id": "x"}}])
    assert str(e.value) == "model_list[1].model_info.id: 'x' is already the id of model_list[0]"


def test_per_deployment_connect_and_idle_timeouts_are_read() -> None:
    (d,) = cfg(
        [model(connect_timeout=2, idle_timeout=30, timeout=60, stream_timeout=5)]
    ).deployments
    assert (d.connect_timeout, d.idle_timeout, d.timeout, d.stream_timeout) == (2, 30, 60, 5)


def test_routing_strategy_args_lowest_latency_buffer_is_read() -> None:
    c = cfg(
        router_settings={
            "routing_strategy": "latency-based-routing",
            "routing_strategy_args": {"lowest_latency_buffer": 0.4, "ttl": 300},
        }
    )
    assert c.router.lowest_latency_buffer == 0.4
    assert c.warnings == (
        "router_settings.routing_strategy_args.ttl is not supported yet and is ignored",
    )


def test_new_router_keys_are_read() -> None:
    r = cfg(
        router_settings={
            "max_retry_wait": 3,
            "disable_cooldowns": True,
            "connect_timeout": 1.5,
            "idle_timeout": 20,
        }
    ).router
    assert r == RouterSettings(
        max_retry_wait=3.0, disable_cooldowns=True, connect_timeout=1.5, idle_timeout=20.0
    )


@pytest.mark.parametrize("key", ["timeout", "connect_timeout", "idle_timeout"])
def test_a_zero_timeout_is_an_error(key: str) -> None:
    with pytest.raises(ConfigError) as e:
        cfg(router_settings={key: 0})
    assert str(e.value) == f"router_settings.{key}: must be more than 0 seconds"
