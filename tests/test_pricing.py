"""The cost of a request from its usage, and the price table (shipped, imported, overridden)."""

from __future__ import annotations

import orjson
import pytest

from litecursor.pricing import Price, PriceFileError, PriceTable, cost, parse_litellm, shipped
from litecursor.pricing.cost import estimate_usage
from litecursor.protocol.types import Usage

SONNET = Price(
    input_cost_per_token=3e-6,
    output_cost_per_token=15e-6,
    cache_read_input_token_cost=0.3e-6,
    cache_creation_input_token_cost=3.75e-6,
    input_cost_per_token_above_200k_tokens=6e-6,
    output_cost_per_token_above_200k_tokens=22.5e-6,
)


def test_plain_input_and_output() -> None:
    assert cost(Usage(1000, 100), SONNET) == pytest.approx(1000 * 3e-6 + 100 * 15e-6)


def test_cached_reads_and_cache_writes_are_priced_as_such() -> None:
    # prompt_tokens counts the cached reads and the writes (decoders normalise it so)
    u = Usage(
        prompt_tokens=10_000, completion_tokens=0, cached_tokens=8_000, cache_creation_tokens=1_000
    )
    assert cost(u, SONNET) == pytest.approx(1_000 * 3e-6 + 8_000 * 0.3e-6 + 1_000 * 3.75e-6)


def test_without_a_cache_price_cached_tokens_cost_the_input_rate() -> None:
    p = Price(input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    assert cost(Usage(100, 0, cached_tokens=60), p) == pytest.approx(100e-6)


def test_reasoning_has_its_own_rate_only_where_priced_separately() -> None:
    u = Usage(prompt_tokens=0, completion_tokens=1000, reasoning_tokens=800)
    assert cost(u, Price(output_cost_per_token=1e-6)) == pytest.approx(1000e-6)
    split = Price(output_cost_per_token=0.6e-6, output_cost_per_reasoning_token=3.5e-6)
    assert cost(u, split) == pytest.approx(200 * 0.6e-6 + 800 * 3.5e-6)


def test_prompts_over_200k_tokens_take_the_upper_tier() -> None:
    u = Usage(prompt_tokens=250_000, completion_tokens=1000, cached_tokens=50_000)
    expected = 200_000 * 6e-6 + 50_000 * 0.3e-6 + 1000 * 22.5e-6
    assert cost(u, SONNET) == pytest.approx(expected)


def test_a_cut_stream_is_estimated_from_its_text() -> None:
    assert estimate_usage(401, 80) == Usage(prompt_tokens=101, completion_tokens=20)


def test_the_shipped_table_has_its_sources_and_prices_the_main_models() -> None:
    table = PriceTable(shipped())
    for model in (
        "openai/gpt-4o",
        "openai/gpt-5",
        "anthropic/claude-sonnet-4-5-20250929",
        "gemini/gemini-2.5-pro",
        "azure/gpt-4.1",
        "openai/responses/gpt-5",
        "azure/responses/gpt-5",
        "openai/gpt-4o-2024-08-06",
    ):
        assert table.lookup(model) is not None, model
    assert table.lookup("groq/llama-3.3-70b") is None
    gpt4o = table.lookup("openai/gpt-4o")
    assert gpt4o is not None and gpt4o.cache_read_input_token_cost == 1.25e-6
    from importlib import resources

    meta = orjson.loads(resources.files("litecursor.pricing").joinpath("prices.json").read_bytes())[
        "_meta"
    ]
    assert meta["as_of"] and len(meta["sources"]) == 4


def test_an_azure_deployment_is_priced_by_its_base_model() -> None:
    table = PriceTable(shipped())
    assert table.lookup("azure/prod-east", base_model="azure/gpt-4o") == table.lookup(
        "openai/gpt-4o"
    )


def test_litellms_price_file_is_read_and_qualified_by_provider() -> None:
    data = {
        "sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0},
        "gpt-4o": {
            "input_cost_per_token": 5e-6,
            "output_cost_per_token": 1e-5,
            "litellm_provider": "openai",
            "mode": "chat",
        },
        "gemini/gemini-2.5-pro": {
            "input_cost_per_token": 1e-6,
            "output_cost_per_token": 2e-6,
            "litellm_provider": "gemini",
        },
        "dall-e-3": {"output_cost_per_image": 0.04, "litellm_provider": "openai"},
    }
    prices = parse_litellm(data)
    assert set(prices) == {"openai/gpt-4o", "gemini/gemini-2.5-pro"}
    table = PriceTable(shipped(), prices)  # imported prices win over the shipped ones
    p = table.lookup("openai/gpt-4o")
    assert p is not None and p.input_cost_per_token == 5e-6


def test_a_price_file_with_a_bad_price_is_refused_naming_the_model() -> None:
    with pytest.raises(PriceFileError, match="gpt-x: input_cost_per_token must be a number"):
        parse_litellm({"gpt-x": {"input_cost_per_token": "cheap"}})
    with pytest.raises(PriceFileError, match="JSON object"):
        parse_litellm([1, 2])


def test_overrides_replace_only_the_fields_given() -> None:
    p = SONNET.merged({"input_cost_per_token": 1e-6})
    assert p.input_cost_per_token == 1e-6 and p.output_cost_per_token == 15e-6
