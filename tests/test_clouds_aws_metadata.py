"""AWS credentials from inside a workload, end to end over TLS: container credentials and EC2 instance metadata.

The gateway finds them through botocore's chain, as any AWS SDK does, pointed at fakes on
loopback by the standard variables (`AWS_CONTAINER_CREDENTIALS_FULL_URI`,
`AWS_EC2_METADATA_SERVICE_ENDPOINT`); the keys they hand out are then checked by the Bedrock
fake's SigV4 verification. Every test runs in `aws_env`, emptied of the machine's AWS settings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from pathlib import Path

import pytest

from .clouds import HI, bedrock, bedrock_params
from .conftest import CloudGateway
from .fakes.aws_metadata import CONTAINER_PATH, IMDS_ROLE, ContainerCredentials, InstanceMetadata
from .upstreams import AiohttpServer

POD_TOKEN = "eks-pod-identity-token-0123456789"


def closed_port_url(path: str) -> str:
    """A loopback URL nothing listens on: the endpoint is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


# --- container credentials ---------------------------------------------------------------


@pytest.mark.parametrize("authorization", ["variable", "file", "none"])
async def test_container_credentials_sign_and_are_fetched_once_while_far_from_expiry(
    authorization: str,
    aiohttp_server: AiohttpServer,
    cloud_gateway: CloudGateway,
    aws_env: pytest.MonkeyPatch,
    tmp_path: Path,
    reread: float,
) -> None:
    _, keys, endpoint = await bedrock(aiohttp_server)
    container = ContainerCredentials(keys, token=None if authorization == "none" else POD_TOKEN)
    url = str((await aiohttp_server(container.make_app())).make_url(CONTAINER_PATH))
    aws_env.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
    if authorization == "variable":
        aws_env.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", POD_TOKEN)
    elif authorization == "file":  # EKS Pod Identity mounts it
        (tmp_path / "pod-token").write_text(POD_TOKEN)
        aws_env.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(tmp_path / "pod-token"))
    gw = await cloud_gateway(bedrock_params(endpoint))
    assert (await gw.chat(HI))[0] == 200
    await asyncio.sleep(reread * 1.5)  # the gateway reads the keys again; six hours remain
    assert (await gw.chat(HI))[0] == 200
    assert container.calls == ["" if authorization == "none" else POD_TOKEN]
    assert keys.seen == [("bedrock", container.issued[0])] * 2


async def test_container_credentials_near_expiry_are_refreshed(
    aiohttp_server: AiohttpServer,
    cloud_gateway: CloudGateway,
    aws_env: pytest.MonkeyPatch,
    reread: float,
) -> None:
    _, keys, endpoint = await bedrock(aiohttp_server)
    # 14 minutes left: inside the window in which botocore refreshes them
    container = ContainerCredentials(keys, lifetime=dt.timedelta(minutes=14))
    url = str((await aiohttp_server(container.make_app())).make_url(CONTAINER_PATH))
    aws_env.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
    gw = await cloud_gateway(bedrock_params(endpoint))
    assert (await gw.chat(HI))[0] == 200
    await asyncio.sleep(reread * 1.5)
    assert (await gw.chat(HI))[0] == 200
    first, second = (key for _, key in keys.seen)
    assert first != second and second == container.issued[-1]


async def test_a_container_endpoint_that_is_down_is_a_502_naming_the_deployment(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway, aws_env: pytest.MonkeyPatch
) -> None:
    fake, _, endpoint = await bedrock(aiohttp_server)
    url = closed_port_url(CONTAINER_PATH)
    aws_env.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
    aws_env.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", POD_TOKEN)
    gw = await cloud_gateway(bedrock_params(endpoint))
    status, body = await gw.chat(HI)  # botocore tries three times, a second apart
    assert status == 502 and body["error"]["code"] == "upstream_credentials_error"
    message = body["error"]["message"]
    assert "deployment 'cloud-1'" in message and "container" in message and url in message
    assert POD_TOKEN not in message and fake.requests == []


# --- instance metadata -------------------------------------------------------------------


async def test_instance_metadata_credentials_come_with_an_imdsv2_session(
    aiohttp_server: AiohttpServer,
    cloud_gateway: CloudGateway,
    aws_env: pytest.MonkeyPatch,
    reread: float,
) -> None:
    _, keys, endpoint = await bedrock(aiohttp_server)
    imds = InstanceMetadata(keys)
    aws_env.delenv("AWS_EC2_METADATA_DISABLED")
    aws_env.setenv(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        str((await aiohttp_server(imds.make_app())).make_url("/")),
    )
    gw = await cloud_gateway(bedrock_params(endpoint))
    assert (await gw.chat(HI))[0] == 200
    await asyncio.sleep(reread * 1.5)  # read again: six hours remain, nothing fetched
    assert (await gw.chat(HI))[0] == 200
    credentials = "/latest/meta-data/iam/security-credentials/"
    assert imds.calls == [
        ("PUT", "/latest/api/token"),
        ("GET", credentials),
        ("GET", credentials + IMDS_ROLE),
    ]
    assert keys.seen == [("bedrock", imds.issued[0])] * 2


async def test_instance_metadata_that_is_down_is_a_502_naming_it(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway, aws_env: pytest.MonkeyPatch
) -> None:
    fake, _, endpoint = await bedrock(aiohttp_server)
    url = closed_port_url("/")
    aws_env.delenv("AWS_EC2_METADATA_DISABLED")
    aws_env.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
    gw = await cloud_gateway(bedrock_params(endpoint))
    status, body = await gw.chat(HI)
    assert status == 502 and body["error"]["code"] == "upstream_credentials_error"
    message = body["error"]["message"]
    assert "deployment 'cloud-1'" in message and f"instance metadata at {url}" in message
    assert fake.requests == []
