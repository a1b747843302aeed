"""What the request log may keep of prompts and answers: captured only when asked, secrets taken out, cut to `log_body_max_kb`."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from litecursor.config import parse
from litecursor.pipeline import Call, Outcome
from litecursor.redaction import REDACTED, Redactor, secrets_in
from litecursor.requestlog.bodies import Bodies, cut, keep
from litecursor.server.keys import BODIES, PIPELINE

from .conftest import GatewayFactory
from .harness import MASTER_KEY, Gateway

PROVIDER_KEY = "sk-proj-UPSTREAMsecretVALUE0123456789"


def config(**general: Any) -> Any:
    return parse(
        {
            "model_list": [
                {
                    "model_name": "gpt-4o",
                    "litellm_params": {
                        "model": "openai/gpt-4o",
                        "api_key": PROVIDER_KEY,
                        "extra_headers": {"X-Gateway-Token": "header-secret-0123456789"},
                    },
                },
                {
                    "model_name": "claude",
                    "litellm_params": {
                        "model": "bedrock/anthropic.claude-3-5-sonnet",
                        "aws_region_name": "us-east-1",
                        "aws_access_key_id": "AKIAEXAMPLEKEYID0001",
                        "aws_secret_access_key": "aws/secret+ACCESS+key0123456789abcd",
                    },
                },
            ],
            "general_settings": {"master_key": "sk-master-0123456789abcdef", **general},
        },
        environ={},
    )


def test_every_secret_of_the_config_is_found() -> None:
    found = set(secrets_in(list(config().deployments)))
    assert {
        PROVIDER_KEY,
        "header-secret-0123456789",
        "aws/secret+ACCESS+key0123456789abcd",
    } <= found
    # names, regions and URLs are no secrets
    assert not {"gpt-4o", "us-east-1", "openai"} & found


def test_secrets_and_key_shaped_strings_are_taken_out() -> None:
    bodies = Bodies.of(config(store_prompts_in_spend_logs=True))
    prompt = (
        f"my keys: {PROVIDER_KEY} and sk-master-0123456789abcdef, "
        "curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def' "
        '{"authorization": "Basic dXNlcjpwYXNzd29yZA=="} '
        "aws/secret+ACCESS+key0123456789abcd and a virtual key sk-Yx3vQ_0aZb9-Kd81LmQpA7tTw"
    )
    kept, _ = bodies.kept(prompt.encode(), None)
    assert kept is not None
    for secret in (
        PROVIDER_KEY,
        "sk-master-0123456789abcdef",
        "eyJhbGciOiJIUzI1NiJ9",
        "dXNlcjpwYXNzd29yZA",
        "aws/secret+ACCESS",
        "sk-Yx3vQ_0aZb9",
    ):
        assert secret not in kept, secret
    assert kept.count(REDACTED) == 6 and kept.startswith("my keys: ")


def test_a_cut_never_leaves_part_of_a_secret() -> None:
    secret = "sk-master-0123456789abcdef"
    redact = Redactor([secret])
    text = "x" * 95 + secret + "tail"
    # what a call captures: the limit and a margin longer than any secret
    captured = text.encode()[: 100 + redact.margin]
    kept = keep(captured, redact, 100)
    # the secret went before the cut: what is left of it is part of the mark, none of it
    assert kept is not None and kept.startswith("x" * 95 + "[reda\n[… cut:")


def test_a_cut_text_says_it_was_cut_at_a_character() -> None:
    assert cut("héllo", 10) == "héllo"
    out = cut("é" * 10, 5)  # two-byte characters: 2 fit in 5 bytes
    assert out.startswith("éé\n[… cut: 20 bytes in all, the log keeps 5]")


def test_nothing_is_captured_unless_asked() -> None:
    assert Bodies.of(config()).capture == 0
    assert Bodies.of(config(store_prompts_in_spend_logs=True)).capture > 64 * 1024


class Captured:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.done = asyncio.Event()

    def finish(self, call: Call, outcome: Outcome) -> None:
        self.calls.append(call)
        self.done.set()


async def mock_gateway_with(gateway_factory: GatewayFactory, **general: Any) -> Gateway:
    return await gateway_factory(
        [{"model_name": "mock", "litellm_params": {"model": "mock/echo"}}],
        general_settings={"master_key": MASTER_KEY, **general},
        litecursor_settings={"log_body_max_kb": 1},
    )


@pytest.mark.parametrize("stream", [True, False])
async def test_a_chat_call_captures_its_body_and_its_answer_as_one_completion(
    gateway_factory: GatewayFactory, stream: bool
) -> None:
    gw = await mock_gateway_with(gateway_factory, store_prompts_in_spend_logs=True)
    seen = Captured()
    gw.app[PIPELINE].add(seen)
    body = {
        "model": "mock",
        "stream": stream,
        "messages": [{"role": "user", "content": "hi there"}],
    }
    status, _ = await gw.chat(body)
    assert status == 200
    await asyncio.wait_for(seen.done.wait(), 5)
    [call] = seen.calls
    assert call.request_body is not None and orjson.loads(call.request_body) == body
    assert call.response_body is not None
    answer = orjson.loads(call.response_body)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "hi there"
    req, resp = gw.app[BODIES].kept(call.request_body, call.response_body)
    assert req is not None and resp is not None and '"hi there"' in resp


async def test_a_long_prompt_is_captured_only_up_to_the_limit(
    gateway_factory: GatewayFactory,
) -> None:
    gw = await mock_gateway_with(gateway_factory, store_prompts_in_spend_logs=True)
    seen = Captured()
    gw.app[PIPELINE].add(seen)
    long = "word " * 20_000
    status, _ = await gw.chat({"model": "mock", "messages": [{"role": "user", "content": long}]})
    assert status == 200
    await asyncio.wait_for(seen.done.wait(), 5)
    [call] = seen.calls
    assert call.request_body is not None and len(call.request_body) == gw.app[BODIES].capture
    req, resp = gw.app[BODIES].kept(call.request_body, call.response_body)
    assert req is not None and resp is not None
    assert len(req.split("\n[… cut")[0].encode()) <= 1024 and "[… cut:" in resp


async def test_without_the_setting_nothing_is_kept(gateway_factory: GatewayFactory) -> None:
    gw = await mock_gateway_with(gateway_factory)
    seen = Captured()
    gw.app[PIPELINE].add(seen)
    status, _ = await gw.chat(
        {"model": "mock", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    )
    assert status == 200
    await asyncio.wait_for(seen.done.wait(), 5)
    [call] = seen.calls
    assert call.request_body is None and call.response_body is None
