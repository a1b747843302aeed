"""What a client puts in a request cannot crash the gateway or steer it: huge integers, model names that rewrite URLs."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from litecursor.protocol.providers import Target
from litecursor.protocol.providers.gemini import GeminiProvider
from litecursor.protocol.types import ChatRequest, Message, TextPart

from . import upstreams
from .harness import Gateway

HUGE = b"99999999999999999999"  # past 64 bits: orjson reads it as 1e20
CHAT = b'{"model": "mock", "messages": [{"role": "user", "content": "hi"}], "stream": false, '
RESPONSES = b'{"model": "mock", "input": "hi", "stream": false, '
USER = [{"role": "user", "content": "hi"}]


# --- integers (point 10) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (CHAT + b'"max_tokens": ' + HUGE + b"}", "max_tokens"),
        (CHAT + b'"max_completion_tokens": ' + HUGE + b"}", "max_completion_tokens"),
        (CHAT + b'"seed": -' + HUGE + b"}", "seed"),
        (CHAT + b'"seed": 18446744073709551615}', "seed"),
        (CHAT + b'"n": ' + HUGE + b"}", "n"),
        (RESPONSES + b'"max_output_tokens": ' + HUGE + b"}", "max_output_tokens"),
    ],
)
async def test_an_integer_out_of_range_is_a_400_naming_the_field(
    mock_gateway: Gateway, body: bytes, field: str
) -> None:
    status, answer = await mock_gateway.chat(body)
    assert status == 400, answer
    assert answer["error"]["param"] == field and field in answer["error"]["message"]
    assert answer["error"]["type"] == "invalid_request_error"


async def test_the_largest_integers_pass(mock_gateway: Gateway) -> None:
    status, _ = await mock_gateway.chat(
        CHAT + b'"max_tokens": 9223372036854775807, "seed": -9223372036854775808}'
    )
    assert status == 200


# --- a wildcard group's forwarded name (point 12) ------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "wild/x/../../../anything",
        "wild/..",
        "wild/x/./y",
        "wild//etc",
        "wild/x?key=other",
        "wild/x#frag",
        "wild/x%2F..%2Fy",
        "wild/x\\..\\y",
        "wild/x y",
        "wild/x\r\nHost: evil",
    ],
)
async def test_a_wildcard_name_that_would_change_the_upstream_url_is_refused(
    aiohttp_server: Any, gateway_factory: Any, name: str
) -> None:
    fake, params = await upstreams.start_upstream(aiohttp_server, "gemini")
    wild = [{"model_name": "wild/*", "litellm_params": {**params, "model": "gemini/*"}}]
    gw: Gateway = await gateway_factory(wild, router_settings={"num_retries": 0})
    status, body = await gw.chat({"model": name, "messages": USER})
    assert status == 400, body
    assert body["error"]["code"] == "invalid_model_name" and body["error"]["param"] == "model"
    assert fake.requests == []  # nothing reached the provider, on any path


async def test_a_plain_wildcard_name_is_forwarded_in_one_path_segment(
    aiohttp_server: Any, gateway_factory: Any
) -> None:
    fake, params = await upstreams.start_upstream(aiohttp_server, "gemini")
    wild = [{"model_name": "wild/*", "litellm_params": {**params, "model": "gemini/*"}}]
    gw: Gateway = await gateway_factory(wild, router_settings={"num_retries": 0})
    status, _ = await gw.chat({"model": "wild/gemini-2.5-flash", "messages": USER})
    assert status == 200
    assert fake.last.path == "/v1beta/models/gemini-2.5-flash:generateContent"


def test_gemini_puts_a_model_name_in_one_path_segment_whatever_it_holds() -> None:
    """Behind the router's check, the adapter quotes the name: no `/`, `?` or `#` of it
    reaches the URL as such."""
    provider = GeminiProvider()
    req = ChatRequest(model="m", messages=(Message("user", (TextPart("hi"),)),))
    for model in ("x/../../anything", "x?key=1#f"):
        target = Target(provider="gemini", model=model, api_base="https://h.example/v1beta")
        url = URL(provider.build_request(req, target).url, encoded=True)
        assert url.raw_path.startswith("/v1beta/models/x") and url.raw_path.endswith(
            ":generateContent"
        ), url
        assert url.raw_query_string == "" and url.raw_fragment == ""
        assert url.raw_path.count("/") == 3
