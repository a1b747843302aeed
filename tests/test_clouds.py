"""Cloud credentials end to end over TLS: Google tokens for Vertex AI, AWS keys, STS and API keys for Bedrock.

The fakes issue and check the credentials as the real services do (the token endpoint checks
the JWT's signature, Bedrock the SigV4 signature, STS the caller's), so a 200 means the
gateway got, cached and applied real-shaped credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest

from litecursor.clouds.refresh import Refreshing
from litecursor.config import ConfigError, parse
from litecursor.errors import UpstreamCredentialsError
from litecursor.tls import DevCerts

from .clouds import service_account
from .fakes import bedrock_upstream, vertex_upstream
from .fakes.aws import AwsKeys, FakeSts
from .fakes.common import FakeUpstream
from .harness import MASTER_KEY, Gateway, run_gateway
from .upstreams import (
    AWS_KEY_ID,
    AWS_REGION,
    AWS_SECRET,
    MODEL,
    VERTEX_LOCATION,
    VERTEX_PROJECT,
    AiohttpServer,
)

HI = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
Start = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def start(dev_certs: DevCerts) -> AsyncIterator[Start]:
    """`await start(litellm_params, environ={...})`: a gateway with one deployment, `MODEL`."""
    async with AsyncExitStack() as stack:

        async def go(params: dict[str, Any], environ: dict[str, str] | None = None) -> Gateway:
            data = {
                "model_list": [{"model_name": MODEL, "litellm_params": params,
                                "model_info": {"id": "cloud-1"}}],
                "general_settings": {"master_key": MASTER_KEY},
                "router_settings": {"num_retries": 0},
            }  # fmt: skip
            config = parse(data, environ=environ or {})
            return await stack.enter_async_context(run_gateway(config, dev_certs))

        yield go


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
    aiohttp_server: AiohttpServer, start: Start
) -> None:
    fake, tokens, base = await vertex(aiohttp_server)
    creds = orjson.dumps(service_account(tokens)).decode()
    gw = await start(vertex_params(base, vertex_credentials=creds))
    results = await asyncio.gather(*(gw.chat(HI) for _ in range(6)))
    assert [status for status, _ in results] == [200] * 6
    assert tokens.grants == ["jwt"] and len(fake.requests) == 6


async def test_a_token_near_expiry_is_refreshed_in_the_background(
    aiohttp_server: AiohttpServer, start: Start
) -> None:
    fake, tokens, base = await vertex(aiohttp_server)
    tokens.lifetime = 200  # inside the five-minute early window, outside the last minute
    creds = orjson.dumps(service_account(tokens)).decode()
    gw = await start(vertex_params(base, vertex_credentials=creds))
    assert (await gw.chat(HI))[0] == 200
    assert (await gw.chat(HI))[0] == 200  # answered with the current token at once
    for _ in range(50):
        if len(tokens.grants) == 3:
            break
        await asyncio.sleep(0.02)
    used = [r.headers["Authorization"] for r in fake.requests]
    assert used[0] == used[1] and len(tokens.grants) >= 2


async def test_a_dead_token_endpoint_is_a_502_naming_the_deployment(
    aiohttp_server: AiohttpServer, start: Start
) -> None:
    fake, tokens, base = await vertex(aiohttp_server)
    tokens.fail_status = 503
    info = service_account(tokens)
    gw = await start(vertex_params(base, vertex_credentials=orjson.dumps(info).decode()))
    async with await gw.post("/v1/chat/completions", {**HI, "stream": False}) as resp:
        body = await resp.json()
        assert resp.status == 502
    error = body["error"]
    assert error["code"] == "upstream_credentials_error"
    assert "deployment 'cloud-1'" in error["message"] and "503" in error["message"]
    assert "PRIVATE KEY" not in orjson.dumps(body).decode() and fake.requests == []


async def test_the_metadata_server_gives_tokens_on_google_cloud(
    aiohttp_server: AiohttpServer, start: Start
) -> None:
    _, tokens, base = await vertex(aiohttp_server)
    metadata_host = tokens.token_url.split("/")[2]  # the same fake answers both
    gw = await start(vertex_params(base), environ={"GCE_METADATA_HOST": metadata_host})
    assert (await gw.chat(HI))[0] == 200
    assert tokens.grants == ["metadata"]


async def test_gcloud_user_credentials_use_their_refresh_token(
    aiohttp_server: AiohttpServer, start: Start, tmp_path: Path
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
    gw = await start(params, environ={"CLOUDSDK_CONFIG": str(tmp_path)})
    assert (await gw.chat(HI))[0] == 200
    assert tokens.grants == ["refresh"]


async def test_a_key_file_named_by_the_environment_is_read_with_its_project(
    aiohttp_server: AiohttpServer, start: Start, tmp_path: Path
) -> None:
    fake, tokens, base = await vertex(aiohttp_server)
    key = tmp_path / "sa.json"
    key.write_text(orjson.dumps({**service_account(tokens), "project_id": VERTEX_PROJECT}).decode())
    params = {k: v for k, v in vertex_params(base).items() if k != "vertex_project"}
    gw = await start(params, environ={"GOOGLE_APPLICATION_CREDENTIALS": str(key)})
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


# --- AWS ---------------------------------------------------------------------------------


async def bedrock(
    server: AiohttpServer, *, api_key: str | None = None
) -> tuple[FakeUpstream, AwsKeys, str]:
    keys = AwsKeys(region=AWS_REGION)
    keys.add(AWS_KEY_ID, AWS_SECRET)
    fake = FakeUpstream()
    app = await server(bedrock_upstream.make_app(fake, keys, api_key=api_key))
    return fake, keys, str(app.make_url("")).rstrip("/")


def bedrock_params(endpoint: str, **kw: Any) -> dict[str, Any]:
    return {"model": "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "aws_bedrock_runtime_endpoint": endpoint, "aws_region_name": AWS_REGION, **kw}  # fmt: skip


async def test_a_role_is_assumed_through_sts_and_its_keys_sign(
    aiohttp_server: AiohttpServer, start: Start
) -> None:
    fake, keys, endpoint = await bedrock(aiohttp_server)
    sts = FakeSts(keys)
    sts_url = str((await aiohttp_server(sts.make_app())).make_url("/"))
    role = "arn:aws:iam::123456789012:role/bedrock-invoker"
    gw = await start(bedrock_params(
        endpoint, aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET,
        aws_role_name=role, aws_session_name="gateway", aws_sts_endpoint=sts_url,
    ))  # fmt: skip
    assert (await gw.chat(HI))[0] == 200
    assert (await gw.chat(HI))[0] == 200
    (call,) = sts.calls  # assumed once, cached
    assert call["Action"] == "AssumeRole" and call["RoleArn"] == role
    assert call["RoleSessionName"] == "gateway"
    assert keys.seen[0] == ("sts", AWS_KEY_ID)
    assert [s for s, _ in keys.seen[1:]] == ["bedrock", "bedrock"]
    assert all(k.startswith("ASIA") for _, k in keys.seen[1:])  # the role's temporary keys
    assert "X-Amz-Security-Token" in fake.last.headers


async def test_a_wrong_secret_is_the_gateways_problem_and_never_echoed(
    aiohttp_server: AiohttpServer, start: Start
) -> None:
    _, keys, endpoint = await bedrock(aiohttp_server)
    wrong = "not-the-secret-0123456789"
    gw = await start(
        bedrock_params(endpoint, aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=wrong)
    )
    status, body = await gw.chat(HI)
    assert status == 502 and body["error"]["code"] == "upstream_auth_error"
    assert wrong not in orjson.dumps(body).decode() and keys.seen == []


async def test_a_bedrock_api_key_from_the_environment_is_a_bearer_token(
    aiohttp_server: AiohttpServer, start: Start
) -> None:
    fake, keys, endpoint = await bedrock(aiohttp_server, api_key="ABSKbedrock-api-key")
    gw = await start(
        bedrock_params(endpoint), environ={"AWS_BEARER_TOKEN_BEDROCK": "ABSKbedrock-api-key"}
    )
    assert (await gw.chat(HI))[0] == 200
    assert fake.last.headers["Authorization"] == "Bearer ABSKbedrock-api-key" and keys.seen == []


async def test_a_profile_of_the_shared_files_signs(
    aiohttp_server: AiohttpServer, start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, keys, endpoint = await bedrock(aiohttp_server)
    keys.add("AKIDPROFILE", "profile-secret")
    (tmp_path / "credentials").write_text(
        "[team]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    gw = await start(bedrock_params(endpoint, aws_profile_name="team"))
    assert (await gw.chat(HI))[0] == 200
    assert keys.seen == [("bedrock", "AKIDPROFILE")]


async def test_no_aws_credentials_anywhere_is_a_502_naming_the_deployment(
    aiohttp_server: AiohttpServer, start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, _, endpoint = await bedrock(aiohttp_server)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    gw = await start(bedrock_params(endpoint))
    status, body = await gw.chat(HI)
    assert status == 502 and body["error"]["code"] == "upstream_credentials_error"
    assert "deployment 'cloud-1'" in body["error"]["message"] and fake.requests == []


def test_signing_without_botocore_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("litecursor.clouds.aws.botocore_missing", lambda: True)
    data = {"model_list": [{"model_name": "m", "litellm_params": bedrock_params("https://x")}],
            "general_settings": {"master_key": "k"}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"litecursor\[bedrock\]"):
        parse(data, environ={})
    parse(data, environ={"AWS_BEARER_TOKEN_BEDROCK": "key"})  # an API key needs no botocore


def test_aws_secrets_stay_out_of_a_deployments_repr() -> None:
    params = bedrock_params("https://x", aws_access_key_id="AKID", aws_secret_access_key="s3cr3t",
                            aws_session_token="t0k3n")  # fmt: skip
    config = parse({"model_list": [{"model_name": "m", "litellm_params": params}],
                    "general_settings": {"master_key": "k"}}, environ={})  # fmt: skip
    shown = repr(config.deployments[0])
    assert "AKID" in shown and "s3cr3t" not in shown and "t0k3n" not in shown


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
