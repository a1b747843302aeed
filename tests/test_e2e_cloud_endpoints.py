"""Private, regional and proxied endpoints of the clouds, end to end over TLS: Vertex AI's `api_base` as a model URL, a host, or a proxy path; Bedrock's `api_base`.

The fakes answer only at the URL shapes the real services serve (Vertex's model resource under
`/v1` or `/v1beta1`; Bedrock's `/model/{id}/converse[-stream]`, the signature checked over the
path as sent), so a 200 means the URL the gateway built from the setting was the right one.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from .clouds import HI, bedrock, bedrock_params, service_account
from .conftest import CloudGateway
from .fakes import vertex_upstream
from .fakes.common import FakeUpstream
from .upstreams import AWS_KEY_ID, AWS_SECRET, VERTEX_LOCATION, VERTEX_PROJECT, AiohttpServer

GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4-5@20250929"


async def vertex(
    server: AiohttpServer, *, location: str = VERTEX_LOCATION, prefix: str = ""
) -> tuple[FakeUpstream, str, str]:
    """The token endpoint and the Vertex fake: (state, the fake's base URL, credentials)."""
    tokens = vertex_upstream.GoogleTokens()
    tokens.token_url = str((await server(tokens.make_app())).make_url("/token"))
    fake = FakeUpstream()
    app = vertex_upstream.make_app(
        fake, tokens, project=VERTEX_PROJECT, location=location, prefix=prefix
    )
    base = str((await server(app)).make_url("")).rstrip("/")
    return fake, base, orjson.dumps(service_account(tokens)).decode()


def model_path(
    publisher: str, model: str, version: str = "v1", location: str = VERTEX_LOCATION
) -> str:
    return (
        f"/{version}/projects/{VERTEX_PROJECT}/locations/{location}/publishers/{publisher}"
        f"/models/{model}"
    )


# --- Vertex AI ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "publisher", "version", "stream", "method"),
    [
        (GEMINI, "google", "v1", True, ":streamGenerateContent"),
        (GEMINI, "google", "v1beta1", False, ":generateContent"),
        (CLAUDE, "anthropic", "v1", True, ":streamRawPredict"),
        (CLAUDE, "anthropic", "v1", False, ":rawPredict"),
    ],
)
async def test_a_whole_model_url_gets_the_method_appended(
    model: str,
    publisher: str,
    version: str,
    stream: bool,
    method: str,
    aiohttp_server: AiohttpServer,
    cloud_gateway: CloudGateway,
) -> None:
    fake, base, creds = await vertex(aiohttp_server)
    url = base + model_path(publisher, model, version)
    gw = await cloud_gateway({"model": f"vertex_ai/{model}", "api_base": url,
                              "vertex_project": VERTEX_PROJECT, "vertex_credentials": creds})  # fmt: skip
    status, _ = await gw.chat({**HI, "stream": stream}, path="/v1/chat/completions")
    assert status == 200
    assert fake.last.path == model_path(publisher, model, version) + method
    assert fake.last.query == ({"alt": "sse"} if stream and publisher == "google" else {})


async def test_a_bare_host_gets_the_global_locations_path(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway
) -> None:
    fake, base, creds = await vertex(aiohttp_server, location="global")
    gw = await cloud_gateway({"model": f"vertex_ai/{GEMINI}", "api_base": base + "/",
                              "vertex_project": VERTEX_PROJECT, "vertex_location": "global",
                              "vertex_credentials": creds})  # fmt: skip
    assert (await gw.chat(HI))[0] == 200
    assert (
        fake.last.path == model_path("google", GEMINI, location="global") + ":streamGenerateContent"
    )


async def test_a_proxy_path_prefix_keeps_the_standard_path_after_it(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway
) -> None:
    fake, base, creds = await vertex(aiohttp_server, prefix="/google-vertex")
    gw = await cloud_gateway({"model": f"vertex_ai/{CLAUDE}", "api_base": base + "/google-vertex",
                              "vertex_project": VERTEX_PROJECT, "vertex_location": VERTEX_LOCATION,
                              "vertex_credentials": creds})  # fmt: skip
    assert (await gw.chat(HI))[0] == 200
    assert (
        fake.last.path == "/google-vertex" + model_path("anthropic", CLAUDE) + ":streamRawPredict"
    )


async def test_a_model_url_vertex_does_not_serve_is_its_404(
    aiohttp_server: AiohttpServer, cloud_gateway: CloudGateway
) -> None:
    fake, base, creds = await vertex(aiohttp_server)
    url = f"{base}/v2/projects/{VERTEX_PROJECT}/locations/{VERTEX_LOCATION}/publishers/google/models/{GEMINI}"
    gw = await cloud_gateway({"model": f"vertex_ai/{GEMINI}", "api_base": url,
                              "vertex_project": VERTEX_PROJECT, "vertex_credentials": creds})  # fmt: skip
    status, body = await gw.chat({**HI, "stream": False}, path="/v1/chat/completions")
    assert status == 404 and "error" in body and len(fake.requests) == 1


# --- Bedrock -----------------------------------------------------------------------------


def signed(api_base: str) -> dict[str, Any]:
    """A deployment reaching Bedrock at `api_base` (LiteLLM's other name for the runtime
    endpoint), signing with the test's keys."""
    params = bedrock_params("", aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET)
    del params["aws_bedrock_runtime_endpoint"]
    return {**params, "api_base": api_base}


@pytest.mark.parametrize("prefix", ["", "/bedrock-runtime"])
async def test_bedrock_api_base_is_the_runtime_endpoint(
    prefix: str,
    aiohttp_server: AiohttpServer,
    cloud_gateway: CloudGateway,
    aws_env: pytest.MonkeyPatch,
) -> None:
    fake, keys, base = await bedrock(aiohttp_server, prefix=prefix)
    gw = await cloud_gateway(signed(base + prefix + "/"))
    assert (await gw.chat(HI))[0] == 200
    assert (await gw.chat({**HI, "stream": False}, path="/v1/chat/completions"))[0] == 200
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
    assert [r.path for r in fake.requests] == [
        f"{prefix}/model/{model.replace('%3A', ':')}/converse-stream",
        f"{prefix}/model/{model.replace('%3A', ':')}/converse",
    ]
    assert keys.seen == [("bedrock", AWS_KEY_ID)] * 2  # signed over the path as sent


def test_a_bedrock_api_base_that_is_no_url_names_the_setting() -> None:
    from litecursor.config import ConfigError, parse

    with pytest.raises(ConfigError, match=r"litellm_params\.api_base"):
        parse({"model_list": [{"model_name": "m", "litellm_params": signed("bedrock.internal")}],
               "general_settings": {"master_key": "k"}}, environ={})  # fmt: skip
