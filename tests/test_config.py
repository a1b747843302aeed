"""config.yaml: LiteLLM's schema parsed once into typed settings, with errors that name the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from litecursor.config import ConfigError, load, parse
from litecursor.protocol.providers import RequestDefaults

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def cfg(models, env=None, **sections):
    data = {"model_list": models, **sections}
    sections.setdefault("general_settings", {"master_key": "k"})
    data.setdefault("general_settings", {"master_key": "k"})
    return parse(data, environ=env or {})


def model(**lp):
    return {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o", "api_key": "x", **lp}}


def test_a_litellm_style_deployment_is_resolved() -> None:
    c = cfg(
        [
            {
                "model_name": "gpt-4o",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": "sk-1",
                    "api_base": "http://vllm:8000/v1",
                    "timeout": 30,
                    "max_tokens": 1000,
                    "temperature": 0.2,
                    "extra_headers": {"X-Team": "a"},
                },
            }
        ]
    )
    (d,) = c.deployments
    assert (d.model_name, d.adapter, d.target.model) == ("gpt-4o", "openai_chat", "gpt-4o")
    assert d.target.api_base == "http://vllm:8000/v1" and d.target.api_key == "sk-1"
    assert d.timeout == 30 and d.target.defaults == RequestDefaults(
        max_tokens=1000, temperature=0.2
    )
    assert d.target.headers == {"X-Team": "a"}


@pytest.mark.parametrize(
    ("model_str", "adapter", "upstream", "base"),
    [
        ("openai/gpt-4o", "openai_chat", "gpt-4o", "https://api.openai.com/v1"),
        ("openai/responses/gpt-5", "openai_responses", "gpt-5", "https://api.openai.com/v1"),
        (
            "anthropic/claude-sonnet-4-5",
            "anthropic",
            "claude-sonnet-4-5",
            "https://api.anthropic.com",
        ),
        (
            "gemini/gemini-2.5-pro",
            "gemini",
            "gemini-2.5-pro",
            "https://generativelanguage.googleapis.com/v1beta",
        ),
        (
            "groq/llama-3.3-70b-versatile",
            "openai_chat",
            "llama-3.3-70b-versatile",
            "https://api.groq.com/openai/v1",
        ),
        (
            "openrouter/anthropic/claude-3.5-sonnet",
            "openai_chat",
            "anthropic/claude-3.5-sonnet",
            "https://openrouter.ai/api/v1",
        ),
        ("ollama_chat/llama3", "openai_chat", "llama3", "http://localhost:11434/v1"),
        ("mock/echo", "mock", "echo", "mock://local"),
    ],
)
def test_provider_prefixes(model_str: str, adapter: str, upstream: str, base: str) -> None:
    (d,) = cfg(
        [{"model_name": "m", "litellm_params": {"model": model_str, "api_key": "x"}}]
    ).deployments
    assert (d.adapter, d.target.model, d.target.api_base) == (adapter, upstream, base)


def test_azure_needs_an_api_base() -> None:
    with pytest.raises(ConfigError) as e:
        cfg([{"model_name": "m", "litellm_params": {"model": "azure/my-dep", "api_key": "x"}}])
    assert str(e.value).startswith("model_list[0].litellm_params.api_base:")


def test_os_environ_resolves_anywhere_a_string_goes() -> None:
    c = cfg(
        [model(api_key="os.environ/UP_KEY", api_base="os.environ/UP_BASE")],
        env={"UP_KEY": "sk-env", "UP_BASE": "https://x.example/v1", "MK": "master"},
        general_settings={"master_key": "os.environ/MK"},
    )
    assert c.deployments[0].target.api_key == "sk-env"
    assert c.deployments[0].target.api_base == "https://x.example/v1"
    assert c.master_key == "master"


def test_unset_env_var_is_named_with_its_path() -> None:
    with pytest.raises(ConfigError) as e:
        cfg([model(), model(api_key="os.environ/NOT_SET_ANYWHERE")])
    assert str(e.value) == (
        "model_list[1].litellm_params.api_key: environment variable NOT_SET_ANYWHERE is not set"
    )


def test_master_key_falls_back_to_env() -> None:
    c = parse({"model_list": [model()]}, environ={"LITECURSOR_MASTER_KEY": "from-env"})
    assert c.master_key == "from-env"


def test_no_master_key_is_an_error() -> None:
    with pytest.raises(ConfigError) as e:
        parse({"model_list": [model()]}, environ={})
    assert "general_settings.master_key" in str(e.value) and "LITECURSOR_MASTER_KEY" in str(e.value)


def test_provider_key_comes_from_its_env_var() -> None:
    c = parse(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "anthropic/claude"}}],
            "general_settings": {"master_key": "k"},
        },
        environ={"ANTHROPIC_API_KEY": "sk-ant"},
    )
    assert c.deployments[0].target.api_key == "sk-ant"


@pytest.mark.parametrize(
    ("models", "path", "words"),
    [
        ([{"model_name": "m"}], "model_list[0].litellm_params", "missing"),
        ([{"litellm_params": {"model": "openai/x"}}], "model_list[0].model_name", "non-empty"),
        (
            [{"model_name": "m", "litellm_params": {}}],
            "model_list[0].litellm_params.model",
            "provider/model",
        ),
        (
            [{"model_name": "m", "litellm_params": {"model": "my-local-model"}}],
            "model_list[0].litellm_params.model",
            "no provider prefix",
        ),
        (
            [{"model_name": "m", "litellm_params": {"model": "sagemaker/x"}}],
            "model_list[0].litellm_params.model",
            "unknown provider 'sagemaker'",
        ),
        (
            [{"model_name": "m", "litellm_params": {"model": "bedrock/x"}}],
            "model_list[0].litellm_params.aws_region_name",
            "required",
        ),
        (
            [{"model_name": "m", "litellm_params": {"model": "bedrock/invoke/x"}}],
            "model_list[0].litellm_params.model",
            "Converse API only",
        ),
        (
            [{"model_name": "m", "litellm_params": {"model": "vertex_ai/gemini-2.5-pro"}}],
            "model_list[0].litellm_params.vertex_project",
            "required",
        ),
        (
            [
                model(),
                {"model_name": "m", "litellm_params": {"model": "openai/x", "timeout": "soon"}},
            ],
            "model_list[1].litellm_params.timeout",
            "must be a number",
        ),
        (
            [model(api_base="ftp://x")],
            "model_list[0].litellm_params.api_base",
            "not an http(s) URL",
        ),
        ([model(tmeout=5)], "model_list[0].litellm_params.tmeout", "unknown key"),
        ("not a list", "model_list", "must be a list"),
        ([], "model_list", "empty"),
    ],
)
def test_errors_name_the_path(models, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as e:
        cfg(models)
    assert str(e.value).startswith(path + ":"), str(e.value)
    assert words in str(e.value)


def test_known_but_unsupported_keys_are_warned_not_dropped() -> None:
    c = cfg(
        [
            {
                "model_name": "m",
                "litellm_params": {
                    "model": "openai/x",
                    "api_key": "k",
                    "region_name": "eu",
                },
                "model_info": {"id": "dep-1", "mode": "chat"},
            }
        ],
        general_settings={"master_key": "k", "store_model_in_db": True},
        litellm_settings={"success_callback": ["langfuse"]},
    )
    assert set(c.warnings) == {
        "model_list[0].litellm_params.region_name is not supported yet and is ignored",
        "model_list[0].model_info.mode is not supported yet and is ignored",
        "general_settings.store_model_in_db is not supported yet and is ignored",
        "litellm_settings.success_callback[0] 'langfuse' is not supported yet and is ignored "
        "(supported: jsonl, webhook, otel; otel reaches most tracing services)",
    }
    assert c.deployments[0].id == "dep-1"


def test_unknown_top_level_key_is_an_error() -> None:
    with pytest.raises(ConfigError) as e:
        cfg([model()], router_setings={})
    assert str(e.value).startswith("router_setings: unknown key")


def test_reasoning_display_is_validated() -> None:
    assert (
        cfg([model()], litecursor_settings={"reasoning_display": "think_tags"}).reasoning_display
        == "think_tags"
    )
    with pytest.raises(ConfigError):
        cfg([model()], litecursor_settings={"reasoning_display": "loud"})


def test_the_limits_have_safe_defaults_and_are_validated() -> None:
    limits = cfg([model()]).limits
    assert (limits.request_head_timeout, limits.keepalive_timeout) == (15.0, 75.0)
    assert limits.max_header_bytes == 32 * 1024 and limits.max_event_bytes == 16 * 1024 * 1024
    assert limits.max_response_bytes == 64 * 1024 * 1024
    set_ = cfg([model()], litecursor_settings={"max_header_kb": 8, "request_head_timeout": 2.5})
    assert set_.limits.max_header_bytes == 8192 and set_.limits.request_head_timeout == 2.5
    for key in ("request_head_timeout", "keepalive_timeout", "max_header_kb", "max_event_kb"):
        with pytest.raises(ConfigError, match=f"litecursor_settings.{key}: must be more than 0"):
            cfg([model()], litecursor_settings={key: 0})


def test_load_names_the_file_and_yaml_position(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("model_list:\n  - model_name: [unclosed\n")
    with pytest.raises(ConfigError) as e:
        load(bad)
    assert str(e.value).startswith(f"{bad}: not valid YAML (line ")
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "missing.yaml")
    assert "cannot read" in str(e.value)


def test_load_prefixes_the_file_to_path_errors(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "model_list:\n  - model_name: m\n    litellm_params: {model: nope/x}\n"
        "general_settings: {master_key: k}\n"
    )
    with pytest.raises(ConfigError) as e:
        load(f, environ={})
    assert str(e.value).startswith(f"{f}: model_list[0].litellm_params.model: unknown provider")


@pytest.mark.parametrize("name", ["config.yaml", "config.mock.yaml"])
def test_the_examples_load(name: str) -> None:
    env = {
        "OPENAI_API_KEY": "a",
        "ANTHROPIC_API_KEY": "b",
        "GEMINI_API_KEY": "c",
        "AZURE_API_KEY": "d",
        "AZURE_API_BASE": "https://x.openai.azure.com",
        "GROQ_API_KEY": "e",
        "AWS_ACCESS_KEY_ID": "f",
        "AWS_SECRET_ACCESS_KEY": "g",
        "LITECURSOR_MASTER_KEY": "m",
    }
    c = load(EXAMPLES / name, environ=env)
    assert c.deployments and c.master_key


@pytest.mark.parametrize("doc", ["README.md", "docs/router.md"])
def test_the_documented_config_examples_validate(doc: str) -> None:
    import re

    import yaml

    text = (EXAMPLES.parent / doc).read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "model_list" in b]
    assert blocks, f"{doc} has no config example"
    env = {
        "OPENAI_API_KEY": "a",
        "AZURE_API_KEY": "b",
        "ANTHROPIC_API_KEY": "c",
        "LITECURSOR_MASTER_KEY": "m",
    }
    for block in blocks:
        data = yaml.safe_load(block)
        data.setdefault("general_settings", {"master_key": "k"})
        assert parse(data, environ=env).deployments


def test_every_option_an_adapter_reads_is_settable_and_typed() -> None:
    c = cfg(
        [
            {
                "model_name": "g",
                "litellm_params": {
                    "model": "gemini/gemini-2.5-pro",
                    "api_key": "k",
                    "top_k": 40,
                    "seed": 7,
                    "presence_penalty": -0.5,
                    "reasoning_effort": "low",
                    "thinking_budget": 2048,
                    "safety_settings": [
                        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
                    ],
                    "stream_usage": False,
                    "mock_delay": 0.5,
                },
            }
        ],
        litecursor_settings={"prompt_caching": "off"},
    )
    (d,) = c.deployments
    assert d.target.defaults == RequestDefaults(
        top_k=40, seed=7, presence_penalty=-0.5, reasoning_effort="low"
    )
    o = d.target.options
    assert (o.thinking_budget, o.stream_usage, o.prompt_caching, o.mock_delay) == (
        2048,
        False,
        False,
        0.5,
    )
    assert o.safety_settings == (
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
    )


@pytest.mark.parametrize(
    ("params", "path", "message"),
    [
        ({"reasoning_effort": "max"}, "reasoning_effort", "is not one of"),
        ({"top_k": 1.5}, "top_k", "whole number"),
        ({"safety_settings": ["BLOCK_NONE"]}, "safety_settings[0]", "must be a mapping"),
        ({"stream_usage": "no"}, "stream_usage", "true or false"),
        ({"include_thoughts": True}, "include_thoughts", "unknown key"),
    ],
)
def test_a_bad_adapter_option_is_refused_naming_its_path(
    params: dict[str, object], path: str, message: str
) -> None:
    lp = {"model": "gemini/gemini-2.5-pro", "api_key": "k", **params}
    with pytest.raises(ConfigError) as e:
        cfg([{"model_name": "g", "litellm_params": lp}])
    assert f"model_list[0].litellm_params.{path}" in str(e.value) and message in str(e.value)


def test_prompt_caching_accepts_auto_and_off_only() -> None:
    lp = {"model": "anthropic/claude-sonnet-4-5", "api_key": "k"}
    assert (
        cfg([{"model_name": "c", "litellm_params": lp}])
        .deployments[0]
        .target.options.prompt_caching
    )
    with pytest.raises(ConfigError, match=r"litecursor_settings\.prompt_caching"):
        cfg(
            [{"model_name": "c", "litellm_params": lp}],
            litecursor_settings={"prompt_caching": "yes"},
        )


def test_accounting_settings_are_read_from_litellms_places() -> None:
    c = cfg(
        [
            {
                "model_name": "m",
                "litellm_params": {
                    "model": "azure/my-deploy",
                    "api_base": "https://x.openai.azure.com",
                    "api_key": "k",
                    "input_cost_per_token": 1e-6,
                    "cache_read_input_token_cost": 2.5e-7,
                },
                "model_info": {"base_model": "azure/gpt-4o"},
            }
        ],
        general_settings={
            "master_key": "k",
            "database_url": "postgresql://db/lc",
            "global_max_parallel_requests": 50,
            "proxy_batch_write_at": 10,
        },
        litellm_settings={"max_budget": 100.0, "rate_limit": 100, "budget_duration": "1mo"},
        router_settings={"redis_host": "127.0.0.1", "redis_port": 6380, "redis_password": "p@ss"},
    )
    a = c.accounting
    assert a.database_url == "postgresql://db/lc" and a.max_parallel_requests == 50
    assert (a.max_budget, a.rpm_limit, a.budget_duration) == (100.0, 100, "1mo")
    assert a.flush_interval == 1.0  # never less often than every second
    assert a.redis_url == "redis://:p%40ss@127.0.0.1:6380/0"
    d = c.deployments[0]
    assert d.price_overrides == {
        "input_cost_per_token": 1e-6,
        "cache_read_input_token_cost": 2.5e-7,
    }
    assert d.base_model == "azure/gpt-4o"
    assert c.warnings == ()  # every one of them is enforced


def test_general_max_parallel_requests_is_each_deployments_default() -> None:
    c = cfg(
        [
            {"model_name": "a", "litellm_params": {"model": "mock/x"}},
            {"model_name": "b", "litellm_params": {"model": "mock/y", "max_parallel_requests": 3}},
        ],
        general_settings={"master_key": "k", "max_parallel_requests": 8},
    )
    assert [d.max_parallel_requests for d in c.deployments] == [8, 3]
    assert c.warnings == ()


def test_a_bad_budget_duration_names_its_path() -> None:
    with pytest.raises(
        ConfigError, match=r"litellm_settings.budget_duration: '30x' is not a duration"
    ):
        cfg(
            [{"model_name": "m", "litellm_params": {"model": "mock/x"}}],
            litellm_settings={"max_budget": 1, "budget_duration": "30x"},
        )
