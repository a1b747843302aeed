"""Bedrock models whose ConverseStream refuses tools, end to end over TLS: Cursor streams every request with tools, and gets its stream.

The Bedrock fake refuses tools in ConverseStream for the models the service is known to
(`This model doesn't support tool use in streaming mode.`, a 400 ValidationException), and for
any model a test adds: the gateway asks the listed ones through Converse at once, and a model
outside its list that answers the refusal through Converse on the same request, then always.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from .clouds import bedrock, bedrock_params
from .conftest import CloudGateway, GatewayFactory
from .fakes import bedrock_upstream
from .fakes.common import FakeUpstream, Reply, ToolCallSpec
from .harness import WEATHER, finish_reasons, tool_calls_of
from .upstreams import AWS_KEY_ID, AWS_SECRET, MODEL, AiohttpServer

#: a model outside the gateway's list, which this fake's ConverseStream refuses tools for
NEWCOMER = "us.deepseek.v3-v1:0"
CALL = ToolCallSpec("tooluse_paris", "get_weather", '{"city":"Paris"}')
TOOLS = {"model": MODEL, "stream": True, "tools": [WEATHER],
         "messages": [{"role": "user", "content": "Weather in Paris?"}]}  # fmt: skip


async def bedrock_refusing(server: AiohttpServer, *refusing: str) -> tuple[FakeUpstream, str]:
    """The Bedrock fake, its ConverseStream refusing tools for its usual models and `refusing`,
    answering with a tool call."""
    fake, _, endpoint = await bedrock(
        server, refuse_stream_tools=(*bedrock_upstream.NO_STREAM_TOOLS, *refusing)
    )
    fake.default_reply = Reply(tool_calls=[CALL])
    return fake, endpoint


def params(endpoint: str, model: str, **kw: Any) -> dict[str, Any]:
    return bedrock_params(
        endpoint, model, aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET, **kw
    )


def operations(fake: FakeUpstream) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in fake.requests]


def assert_streamed_call(status: int, payloads: list[Any]) -> None:
    assert status == 200 and payloads[-1] == "[DONE]"
    (call,) = tool_calls_of(payloads).values()
    assert (call["id"], call["name"], call["arguments"]) == (CALL.id, CALL.name, CALL.arguments)
    assert finish_reasons(payloads) == ["tool_calls"]


@pytest.mark.parametrize(
    "model",
    [
        "us.meta.llama4-maverick-17b-instruct-v1:0",
        "meta.llama3-1-70b-instruct-v1:0",
        "mistral.mistral-large-2407-v1:0",
        "us.mistral.pixtral-large-2502-v1:0",
        "cohere.command-r-plus-v1:0",
        "us.writer.palmyra-x5-v1:0",
        "ai21.jamba-1-5-large-v1:0",
    ],
)
async def test_listed_models_are_asked_through_converse_and_streamed(
    model: str,
    aiohttp_server: AiohttpServer,
    cloud_gateway: CloudGateway,
    aws_env: pytest.MonkeyPatch,
) -> None:
    fake, endpoint = await bedrock_refusing(aiohttp_server)
    gw = await cloud_gateway(params(endpoint, model))
    assert_streamed_call(*await gw.chat(TOOLS))
    assert operations(fake) == ["converse"]  # never a refused ConverseStream first


async def test_a_model_that_refuses_is_asked_again_through_converse_and_remembered(
    aiohttp_server: AiohttpServer,
    gateway_factory: GatewayFactory,
    aws_env: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, endpoint = await bedrock_refusing(aiohttp_server, NEWCOMER.removeprefix("us."))
    # two deployments of the model: what one learns, the other knows
    gw = await gateway_factory(
        [{"model_name": MODEL, "litellm_params": params(endpoint, NEWCOMER)},
         {"model_name": "other", "litellm_params": params(endpoint, NEWCOMER)}],
        router_settings={"num_retries": 0},
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="litecursor.router"):
        assert_streamed_call(*await gw.chat(TOOLS))
    assert operations(fake) == ["converse-stream", "converse"]  # the same request, once more
    assert "doesn't support tool use in streaming mode" in caplog.text
    assert_streamed_call(*await gw.chat(TOOLS))
    assert_streamed_call(*await gw.chat({**TOOLS, "model": "other"}))
    assert operations(fake)[2:] == ["converse", "converse"]
    fake.default_reply = Reply(text="Hello")
    status, _ = await gw.chat({**TOOLS, "tools": None})  # no tools: it streams as ever
    assert status == 200 and operations(fake)[-1] == "converse-stream"


async def test_a_converse_failure_after_the_refusal_is_the_clients_error_and_not_retried(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway, aws_env: pytest.MonkeyPatch
) -> None:
    fake, endpoint = await bedrock_refusing(aiohttp_server, NEWCOMER.removeprefix("us."))
    fake.faults.status, fake.faults.times = 400, 1
    fake.faults.body = b'{"message": "This model doesn\'t support tool use."}'
    fake.faults.headers = {"x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/"}
    gw = await cloud_gateway(params(endpoint, NEWCOMER))
    status, body = await gw.chat(TOOLS)
    assert status == 400 and "doesn't support tool use." in body["error"]["message"]
    assert operations(fake) == ["converse-stream", "converse"]


@pytest.mark.parametrize(
    ("model", "stream_tools", "refusing", "expected"),
    [
        # an admin who knows a model refuses saves the refused first request
        (NEWCOMER, False, (NEWCOMER.removeprefix("us."),), "converse"),
        # and one whose listed model streams tools after all gets them streamed
        ("meta.llama3-3-70b-instruct-v1:0", True, (), "converse-stream"),
    ],
)
async def test_stream_tools_in_litellm_params_overrides_the_list(
    model: str,
    stream_tools: bool,
    refusing: tuple[str, ...],
    expected: str,
    aiohttp_server: AiohttpServer,
    cloud_gateway: CloudGateway,
    aws_env: pytest.MonkeyPatch,
) -> None:
    fake, _, endpoint = await bedrock(aiohttp_server, refuse_stream_tools=refusing)
    fake.default_reply = Reply(tool_calls=[CALL])
    gw = await cloud_gateway(params(endpoint, model, stream_tools=stream_tools))
    assert_streamed_call(*await gw.chat(TOOLS))
    assert operations(fake) == [expected]


def test_stream_tools_must_be_a_boolean() -> None:
    from litecursor.config import ConfigError, parse

    item = {"model_name": "m", "litellm_params": params("https://x", NEWCOMER, stream_tools="no")}
    with pytest.raises(ConfigError, match=r"litellm_params\.stream_tools: must be true or false"):
        parse({"model_list": [item], "general_settings": {"master_key": "k"}}, environ={})
