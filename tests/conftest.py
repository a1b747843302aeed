"""Shared fixtures: dev certs, fake upstreams on loopback, and the real gateway over TLS."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from litecursor.config import parse
from litecursor.tls import DevCerts, generate_dev_certs

from .fakes.common import FakeUpstream
from .harness import MASTER_KEY, Gateway, make_config, run_gateway
from .services import Postgres, Redis, run_postgres, run_redis


@pytest.fixture(scope="session")
def dev_certs(tmp_path_factory: pytest.TempPathFactory) -> DevCerts:
    """Made the way a user makes them: `litecursor certs` for localhost and 127.0.0.1."""
    return generate_dev_certs(tmp_path_factory.mktemp("certs"), ["localhost", "127.0.0.1"])


CloudGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def cloud_gateway(dev_certs: DevCerts) -> AsyncIterator[CloudGateway]:
    """`await cloud_gateway(litellm_params, environ={...})`: a gateway with one deployment of
    model `m`, id `cloud-1`, no retries (each upstream or credentials answer seen as it is)."""
    async with AsyncExitStack() as stack:

        async def start(params: dict[str, Any], environ: dict[str, str] | None = None) -> Gateway:
            data = {
                "model_list": [{"model_name": "m", "litellm_params": params,
                                "model_info": {"id": "cloud-1"}}],
                "general_settings": {"master_key": MASTER_KEY},
                "router_settings": {"num_retries": 0},
            }  # fmt: skip
            config = parse(data, environ=environ or {})
            return await stack.enter_async_context(run_gateway(config, dev_certs))

        yield start


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """botocore reads the process environment: this empties it of the machine's AWS settings
    (no keys, profiles, shared files, container or instance metadata) for the test to set."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.fixture
def reread(monkeypatch: pytest.MonkeyPatch) -> float:
    """Seconds between the gateway's reads of botocore's refreshable credentials, made short
    so a test sees the next read (two minutes in production)."""
    monkeypatch.setattr("litecursor.clouds.aws.REREAD", 0.2)
    return 0.2


@pytest.fixture
async def fake_openai(aiohttp_server: Any) -> tuple[FakeUpstream, str]:
    """A strict fake OpenAI Chat API; returns (state, api_base)."""
    from .fakes.openai_upstream import make_app

    fake = FakeUpstream()
    server = await aiohttp_server(make_app(fake))
    return fake, str(server.make_url("/v1"))


GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def gateway_factory(dev_certs: DevCerts) -> AsyncIterator[GatewayFactory]:
    """`await gateway_factory(models, **sections)` starts a gateway with that config."""
    async with AsyncExitStack() as stack:

        async def start(models: list[dict[str, Any]], **sections: Any) -> Gateway:
            return await stack.enter_async_context(
                run_gateway(make_config(models, **sections), dev_certs)
            )

        yield start


@pytest.fixture
async def openai_gateway(
    gateway_factory: GatewayFactory, fake_openai: tuple[FakeUpstream, str]
) -> tuple[Gateway, FakeUpstream]:
    """The gateway with one model, `gpt-4o`, served by the fake OpenAI upstream. No retries:
    these tests see each upstream answer as it is (the router's own tests cover retries)."""
    fake, base = fake_openai
    gw = await gateway_factory(
        [
            {
                "model_name": "gpt-4o",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": base,
                    "api_key": "sk-upstream-secret",
                },
            }
        ],
        router_settings={"num_retries": 0},
    )
    return gw, fake


@pytest.fixture
async def mock_gateway(gateway_factory: GatewayFactory) -> Gateway:
    return await gateway_factory([{"model_name": "mock", "litellm_params": {"model": "mock/echo"}}])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """One PostgreSQL for the session; each test that needs one gets its own database."""
    with run_postgres() as pg:
        yield pg


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    with run_redis(tmp_path_factory.mktemp("redis")) as redis:
        yield redis


@pytest.fixture
async def redis_client(redis_server: Redis) -> AsyncIterator[Any]:
    """redis-py's asyncio client on the session's Redis, emptied first."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def postgres_url(postgres_server: Postgres) -> str:
    """A fresh, empty database on the session's PostgreSQL."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on both databases."""
    if request.param == "sqlite":
        return str(tmp_path / "litecursor.db")
    return str(request.getfixturevalue("postgres_url"))
