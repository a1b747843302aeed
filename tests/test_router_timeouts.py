"""Router timeouts: connect, first byte, idle between chunks and total; per deployment and global.

Each fault lasts far longer (30 s) than the timeout under test (0.2 s), and a test bounds the
wait by a third of the fault: proof that the timeout fired, with room for a slow, shared CI
machine.
"""

from __future__ import annotations

import time

from tests.fakes.common import Faults, Reply
from tests.fakes.routing import (
    ask,
    closed_port,
    openai_model,
    start_openai,
    unanswered_port,
)
from tests.harness import text_of

#: how long a fault lasts, and the most a test may wait for the timeout that ends it
FAULT = 30.0
BOUND = FAULT / 3


async def test_a_connect_timeout_is_a_504(gateway_factory) -> None:
    with unanswered_port() as port:
        gw = await gateway_factory(
            [openai_model("m", f"http://127.0.0.1:{port}/v1", connect_timeout=0.2)],
            router_settings={"num_retries": 0},
        )
        started = time.monotonic()
        answer = await ask(gw, "m", stream=True)
    assert answer.status == 504 and answer.error["code"] == "upstream_timeout_connect"
    assert 0.2 <= time.monotonic() - started < BOUND


async def test_the_global_connect_timeout_applies_without_a_deployment_one(gateway_factory) -> None:
    with unanswered_port() as port:
        gw = await gateway_factory(
            [openai_model("m", f"http://127.0.0.1:{port}/v1")],
            router_settings={"num_retries": 0, "connect_timeout": 0.2},
        )
        answer = await ask(gw, "m")
    assert answer.status == 504 and answer.error["code"] == "upstream_timeout_connect"


async def test_a_connect_timeout_is_retried_on_the_other_deployment(
    aiohttp_server, gateway_factory
) -> None:
    _fake, base = await start_openai(aiohttp_server)
    with unanswered_port() as port:
        gw = await gateway_factory(
            [
                openai_model(
                    "m", f"http://127.0.0.1:{port}/v1", id="dead", order=1, connect_timeout=0.2
                ),
                openai_model("m", base, id="live", order=2),
            ]
        )
        answer = await ask(gw, "m", stream=True)
    assert answer.status == 200 and answer.deployment == "live"


async def test_a_refused_connection_is_retried_on_the_other_deployment(
    aiohttp_server, gateway_factory
) -> None:
    _fake, base = await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [
            openai_model("m", f"http://127.0.0.1:{closed_port()}/v1", id="dead", order=1),
            openai_model("m", base, id="live", order=2),
        ]
    )
    answer = await ask(gw, "m")
    assert answer.status == 200 and answer.deployment == "live"


async def test_a_first_byte_timeout_is_a_504(aiohttp_server, gateway_factory) -> None:
    fake, base = await start_openai(aiohttp_server)
    fake.faults = Faults(first_byte_delay=FAULT)
    gw = await gateway_factory(
        [openai_model("m", base, stream_timeout=0.2)], router_settings={"num_retries": 0}
    )
    started = time.monotonic()
    answer = await ask(gw, "m", stream=True)
    assert answer.status == 504 and answer.error["code"] == "upstream_timeout_first_byte"
    assert time.monotonic() - started < BOUND


async def test_the_global_stream_timeout_is_the_first_byte_limit(
    aiohttp_server, gateway_factory
) -> None:
    fake, base = await start_openai(aiohttp_server)
    fake.faults = Faults(first_byte_delay=FAULT)
    gw = await gateway_factory(
        [openai_model("m", base)], router_settings={"num_retries": 0, "stream_timeout": 0.2}
    )
    answer = await ask(gw, "m", stream=True)
    assert answer.error["code"] == "upstream_timeout_first_byte"


async def test_a_deployment_timeout_overrides_the_global_one(
    aiohttp_server, gateway_factory
) -> None:
    fake, base = await start_openai(aiohttp_server)
    fake.faults = Faults(first_byte_delay=0.3)
    gw = await gateway_factory(
        [openai_model("m", base, timeout=5, stream_timeout=5)],
        router_settings={"num_retries": 0, "timeout": 0.1, "stream_timeout": 0.1},
    )
    assert (await ask(gw, "m", stream=True)).status == 200


async def test_an_idle_timeout_before_content_is_a_504(aiohttp_server, gateway_factory) -> None:
    fake, base = await start_openai(aiohttp_server)
    fake.faults = Faults(chunk_delay=FAULT)  # the role chunk comes at once, the text never in time
    gw = await gateway_factory(
        [openai_model("m", base)], router_settings={"num_retries": 0, "idle_timeout": 0.2}
    )
    answer = await ask(gw, "m", stream=True)
    assert answer.status == 504 and answer.error["code"] == "upstream_timeout_idle"


async def test_a_deployment_idle_timeout_overrides_the_global_one(
    aiohttp_server, gateway_factory
) -> None:
    fake, base = await start_openai(aiohttp_server)
    fake.faults = Faults(chunk_delay=FAULT)
    gw = await gateway_factory(
        [openai_model("m", base, idle_timeout=0.2)],
        router_settings={"num_retries": 0, "idle_timeout": 60},
    )
    started = time.monotonic()
    answer = await ask(gw, "m", stream=True)
    assert answer.error["code"] == "upstream_timeout_idle"
    assert time.monotonic() - started < BOUND


async def test_an_idle_timeout_is_retried_on_the_other_deployment(
    aiohttp_server, gateway_factory
) -> None:
    (slow, sb), (_fast, fb) = await start_openai(aiohttp_server), await start_openai(aiohttp_server)
    slow.faults = Faults(chunk_delay=FAULT)
    gw = await gateway_factory(
        [
            openai_model("m", sb, id="slow", order=1, idle_timeout=0.2),
            openai_model("m", fb, id="fast", order=2),
        ]
    )
    answer = await ask(gw, "m", stream=True)
    assert answer.status == 200 and answer.deployment == "fast"


async def test_a_total_timeout_mid_stream_ends_with_an_sse_error_chunk(
    aiohttp_server, gateway_factory
) -> None:
    fake, base = await start_openai(aiohttp_server)
    fake.replies.append(Reply(text="a b c d e f g h i j", pieces=10))
    fake.faults = Faults(chunk_delay=0.1)
    gw = await gateway_factory(
        [openai_model("m", base, timeout=0.45)], router_settings={"idle_timeout": 5}
    )
    answer = await ask(gw, "m", stream=True)
    assert answer.status == 200
    assert text_of(answer.body)  # content went out before the deadline
    assert answer.body[-1]["error"]["code"] == "upstream_timeout_total"
    assert len(fake.requests) == 1  # after the first byte there is no retry


async def test_a_total_timeout_of_a_non_streaming_request_is_a_504(
    aiohttp_server, gateway_factory
) -> None:
    fake, base = await start_openai(aiohttp_server)
    fake.faults = Faults(first_byte_delay=FAULT)
    gw = await gateway_factory(
        [openai_model("m", base)], router_settings={"num_retries": 0, "timeout": 0.2}
    )
    answer = await ask(gw, "m")
    assert answer.status == 504 and answer.error["code"] == "upstream_timeout_total"


async def test_litellm_settings_request_timeout_is_the_global_total(
    aiohttp_server, gateway_factory
) -> None:
    fake, base = await start_openai(aiohttp_server)
    fake.faults = Faults(first_byte_delay=FAULT)
    gw = await gateway_factory(
        [openai_model("m", base)], litellm_settings={"request_timeout": 0.2, "num_retries": 0}
    )
    answer = await ask(gw, "m")
    assert answer.error["code"] == "upstream_timeout_total"
