"""Google credentials for Vertex AI end to end over TLS, and the refresh discipline every cloud credential shares.

The fake token endpoint checks the JWT's signature as Google's does and the Vertex fake takes
only the tokens it issued, so a 200 means the gateway got, cached and applied real-shaped
credentials. The AWS ones are in test_clouds_aws.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from litecursor.clouds.refresh import Refreshing
from litecursor.config import ConfigError, parse
from litecursor.errors import UpstreamCredentialsError

from .clouds import HI, service_account
from .conftest import CloudGateway
from .fakes import vertex_upstream
from .fakes.common import FakeUpstream
from .upstreams import VERTEX_LOCATION, VERTEX_PROJECT, AiohttpServer


async def vertex(
    server: AiohttpServer, tokens: vertex_upstream.GoogleTokens | None = None
) -> tuple[FakeUpstream, vertex_upstream.GoogleTokens, str]:
    tokens = tokens or vertex_upstream.GoogleTokens()
    token_server = await server(tokens.make_app())
    tokens.token_url = str(token_server.make_url("/token"))
    fake = FakeUpstream()
    app = vertex_upstream.make_app(fake, tokens, project=VERTEX_PROJECT, location=VERTEX_LOCATION)
    base = str((await server(app)).make_url("")).rstrip("/")
    return fake, tokens, base


def vertex_params(base: str, **kw: Any) -> dict[str, Any]:
    return {"model": "vertex_ai/gemini-2.5-flash", "api_base": base,
            "vertex_project": VERTEX_PROJECT, "vertex_location": VERTEX_LOCATION, **kw}  # fmt: skip


# --- Google ------------------------------------------------------------------------------


async def test_concurrent_requests_share_one_token_exchange(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway
) -> None:
    fake, tokens, base = await vertex(aiohttp_server)
    creds = orjson.dumps(service_account(tokens)).decode()
    gw = await cloud_gateway(vertex_params(base, vertex_credentials=creds))
    results = await asyncio.gather(*(gw.chat(HI) for _ in range(6)))
    assert [status for status, _ in results] == [200] * 6
    assert tokens.grants == ["jwt"] and len(fake.requests) == 6


async def test_a_token_near_expiry_is_refreshed_in_the_background(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway
) -> None:
    fake, tokens, base = await vertex(aiohttp_server)
    tokens.lifetime = 200  # inside the five-minute early window, outside the last minute
    creds = orjson.dumps(service_account(tokens)).decode()
    gw = await cloud_gateway(vertex_params(base, vertex_credentials=creds))
    assert (await gw.chat(HI))[0] == 200
    assert (await gw.chat(HI))[0] == 200  # answered with the current token at once
    for _ in range(50):
        if len(tokens.grants) == 3:
            break
        await asyncio.sleep(0.02)
    used = [r.headers["Authorization"] for r in fake.requests]
    assert used[0] == used[1] and len(tokens.grants) >= 2


async def test_a_dead_token_endpoint_is_a_502_naming_the_deployment(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway
) -> None:
    fake, tokens, base = await vertex(aiohttp_server)
    tokens.fail_status = 503
    info = service_account(tokens)
    gw = await cloud_gateway(vertex_params(base, vertex_credentials=orjson.dumps(info).decode()))
    async with await gw.post("/v1/chat/completions", {**HI, "stream": False}) as resp:
        body = await resp.json()
        assert resp.status == 502
    error = body["error"]
    assert error["code"] == "upstream_credentials_error"
    assert "deployment 'cloud-1'" in error["message"] and "503" in error["message"]
    assert "PRIVATE KEY" not in orjson.dumps(body).decode() and fake.requests == []


async def test_the_metadata_server_gives_tokens_on_google_cloud(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway
) -> None:
    _, tokens, base = await vertex(aiohttp_server)
    metadata_host = tokens.token_url.split("/")[2]  # the same fake answers both
    gw = await cloud_gateway(vertex_params(base), environ={"GCE_METADATA_HOST": metadata_host})
    assert (await gw.chat(HI))[0] == 200
    assert tokens.grants == ["metadata"]


async def test_gcloud_user_credentials_use_their_refresh_token(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway, tmp_path: Path
) -> None:
    _, tokens, base = await vertex(aiohttp_server)
    tokens.refresh_tokens["1//refresh"] = ("client.apps.googleusercontent.com", "client-secret")
    adc = tmp_path / "application_default_credentials.json"
    adc.write_text(orjson.dumps({
        "type": "authorized_user", "client_id": "client.apps.googleusercontent.com",
        "client_secret": "client-secret", "refresh_token": "1//refresh",
        "token_uri": tokens.token_url, "quota_project_id": VERTEX_PROJECT,
    }).decode())  # fmt: skip
    params = {k: v for k, v in vertex_params(base).items() if k != "vertex_project"}
    gw = await cloud_gateway(params, environ={"CLOUDSDK_CONFIG": str(tmp_path)})
    assert (await gw.chat(HI))[0] == 200
    assert tokens.grants == ["refresh"]


async def test_a_key_file_named_by_the_environment_is_read_with_its_project(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway, tmp_path: Path
) -> None:
    fake, tokens, base = await vertex(aiohttp_server)
    key = tmp_path / "sa.json"
    key.write_text(orjson.dumps({**service_account(tokens), "project_id": VERTEX_PROJECT}).decode())
    params = {k: v for k, v in vertex_params(base).items() if k != "vertex_project"}
    gw = await cloud_gateway(params, environ={"GOOGLE_APPLICATION_CREDENTIALS": str(key)})
    assert (await gw.chat(HI))[0] == 200
    assert f"/projects/{VERTEX_PROJECT}/" in fake.last.path


@pytest.mark.parametrize(
    ("credentials", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "external_account"}', "'external_account' are not supported"),
        ('{"type": "service_account", "client_email": "a@b"}', "lack private_key"),
        ('{"type": "service_account", "client_email": "a@b", "private_key": "nope"}', "unusable"),
        ("/nonexistent/key.json", "cannot read /nonexistent/key.json"),
    ],
)
def test_bad_google_credentials_stop_the_start_with_their_path(
    credentials: str, words: str
) -> None:
    params = vertex_params("https://x", vertex_credentials=credentials)
    with pytest.raises(ConfigError) as e:
        parse({"model_list": [{"model_name": "m", "litellm_params": params}],
               "general_settings": {"master_key": "k"}}, environ={})  # fmt: skip
    assert "model_list[0].litellm_params.vertex_credentials" in str(e.value)
    assert words in str(e.value)


# --- the refresh discipline --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_one_refresh_in_flight_however_many_wait() -> None:
    calls = 0
    gate = asyncio.Event()

    async def fetch() -> tuple[str, float | None]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return f"token-{calls}", 3600.0

    cache: Refreshing[str] = Refreshing(fetch, what="t")
    waiters = [asyncio.create_task(cache.get()) for _ in range(20)]
    await asyncio.sleep(0.01)
    gate.set()
    assert await asyncio.gather(*waiters) == ["token-1"] * 20 and calls == 1


async def test_a_failed_refresh_is_reported_and_not_retried_at_once() -> None:
    clock, calls = Clock(), 0

    async def fetch() -> tuple[str, float | None]:
        nonlocal calls
        calls += 1
        raise OSError("connection refused")

    cache: Refreshing[str] = Refreshing(fetch, what="deployment 'd': no token", clock=clock)
    with pytest.raises(UpstreamCredentialsError, match="deployment 'd': no token: OSError"):
        await cache.get()
    with pytest.raises(UpstreamCredentialsError):
        await cache.get()
    assert calls == 1
    clock.now += 2
    with pytest.raises(UpstreamCredentialsError):
        await cache.get()
    assert calls == 2


async def test_a_failed_background_refresh_keeps_the_good_value() -> None:
    clock, answers = Clock(), ["first", OSError("down")]

    async def fetch() -> tuple[str, float | None]:
        value = answers.pop(0)
        if isinstance(value, Exception):
            raise value
        return value, 400.0

    cache: Refreshing[str] = Refreshing(fetch, what="t", clock=clock)
    assert await cache.get() == "first"
    clock.now += 200  # inside the early window: a background refresh starts, and fails
    assert await cache.get() == "first"
    await asyncio.sleep(0.01)
    assert await cache.get() == "first" and cache.refreshes == 2
