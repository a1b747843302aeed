"""Azure OpenAI adapters: Azure's URLs and key header around OpenAI's own Chat and Responses bodies."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from yarl import URL

from litecursor.errors import UpstreamAuthError, UpstreamBadRequestError
from litecursor.protocol.providers import HttpRequest, Target, get_provider, resolve_model
from litecursor.protocol.providers.azure import (
    CHAT_API_VERSION,
    RESPONSES_API_VERSION,
    AzureChatProvider,
    AzureResponsesProvider,
)
from litecursor.protocol.types import (
    ChatRequest,
    Event,
    Finish,
    Message,
    ReasoningDelta,
    TextDelta,
    TextPart,
    Tool,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from tests.fakes import azure_upstream
from tests.fakes.common import FakeUpstream, Reply, ToolCallSpec

CHAT = AzureChatProvider()
RESPONSES = AzureResponsesProvider()
RESOURCE = "https://contoso.openai.azure.com"


def target(**kw: Any) -> Target:
    base: dict[str, Any] = {"provider": "azure", "model": "gpt-4o-prod", "api_base": RESOURCE,
                            "api_key": "azure-key"}  # fmt: skip
    base.update(kw)
    return Target(**base)


def request(**kw: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", (TextPart("hi"),)),), **kw)


# ---------------------------------------------------------------------------------------------
# URLs, headers, bodies
# ---------------------------------------------------------------------------------------------


def test_chat_goes_to_the_deployment_with_the_default_ga_version() -> None:
    http = CHAT.build_request(request(), target())
    assert (
        http.url
        == f"{RESOURCE}/openai/deployments/gpt-4o-prod/chat/completions?api-version={CHAT_API_VERSION}"
    )
    assert CHAT_API_VERSION == "2024-10-21"


def test_chat_uses_the_configured_api_version() -> None:
    http = CHAT.build_request(request(), target(api_version="2025-04-01-preview"))
    assert URL(http.url).query["api-version"] == "2025-04-01-preview"


def test_endpoint_pasted_with_openai_suffix_is_not_doubled() -> None:
    http = CHAT.build_request(request(), target(api_base=RESOURCE + "/openai/"))
    assert URL(http.url).path == "/openai/deployments/gpt-4o-prod/chat/completions"


def test_deployment_name_is_escaped_in_the_path() -> None:
    http = CHAT.build_request(request(), target(model="my dep/1"))
    assert "/openai/deployments/my%20dep%2F1/chat/completions?" in http.url


def test_dated_chat_body_leaves_the_model_to_the_path() -> None:
    assert "model" not in orjson.loads(CHAT.build_request(request(), target()).body)


@pytest.mark.parametrize(("api_base", "api_version", "url"), [
    (RESOURCE, "v1", f"{RESOURCE}/openai/v1/chat/completions"),
    (RESOURCE + "/openai/v1", None, f"{RESOURCE}/openai/v1/chat/completions"),
    (RESOURCE + "/openai/v1/", "2024-10-21", f"{RESOURCE}/openai/v1/chat/completions"),
    (RESOURCE, "preview", f"{RESOURCE}/openai/v1/chat/completions?api-version=preview"),
])  # fmt: skip
def test_v1_chat_path_carries_the_model_in_the_body(
    api_base: str, api_version: str | None, url: str
) -> None:
    http = CHAT.build_request(request(), target(api_base=api_base, api_version=api_version))
    assert http.url == url
    assert orjson.loads(http.body)["model"] == "gpt-4o-prod"


def test_key_goes_in_the_api_key_header_not_authorization() -> None:
    for provider in (CHAT, RESPONSES):
        http = provider.build_request(request(), target(headers={"x-ms-client-request-id": "r1"}))
        assert http.headers["api-key"] == "azure-key"
        assert "authorization" not in http.headers
        assert http.headers["x-ms-client-request-id"] == "r1"


def test_chat_body_keeps_openai_only_fields_for_azure() -> None:
    req = request(max_tokens=50, verbosity="low", service_tier="fast", user="u" * 70, stream=True)
    body = orjson.loads(CHAT.build_request(req, target()).body)
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    assert (body["verbosity"], body["service_tier"], body["user"]) == ("low", "priority", "u" * 64)
    assert body["stream_options"] == {"include_usage": True}


def test_responses_go_to_the_resource_with_the_default_preview_version() -> None:
    http = RESPONSES.build_request(request(), target())
    assert http.url == f"{RESOURCE}/openai/responses?api-version={RESPONSES_API_VERSION}"
    assert orjson.loads(http.body)["model"] == "gpt-4o-prod"


def test_v1_responses_path() -> None:
    http = RESPONSES.build_request(request(), target(api_version="v1"))
    assert http.url == f"{RESOURCE}/openai/v1/responses"
    assert orjson.loads(http.body)["model"] == "gpt-4o-prod"


def test_responses_body_is_openais_with_native_custom_tools() -> None:
    req = request(tools=(Tool("ApplyPatch", kind="custom"),), stream=True, include_usage=True)
    body = orjson.loads(RESPONSES.build_request(req, target()).body)
    assert body["tools"] == [{"type": "custom", "name": "ApplyPatch"}]
    assert "stream_options" not in body
    assert RESPONSES.native_custom_tools and not CHAT.native_custom_tools


def test_azure_model_strings_select_these_adapters() -> None:
    spec, deployment = resolve_model("azure/responses/gpt-5-prod")
    assert (spec.adapter, deployment) == ("azure_responses", "gpt-5-prod")
    assert isinstance(get_provider(spec.adapter), AzureResponsesProvider)
    spec, deployment = resolve_model("azure/gpt-4o-prod")
    assert isinstance(get_provider(spec.adapter), AzureChatProvider) and deployment == "gpt-4o-prod"
    assert CHAT.name == RESPONSES.name == "azure"


def test_azure_auth_error_never_blames_the_client() -> None:
    body = b'{"error":{"code":"401","message":"Access denied due to invalid subscription key."}}'
    assert isinstance(CHAT.decode_error(401, {}, body), UpstreamAuthError)


# ---------------------------------------------------------------------------------------------
# through the fake Azure resource
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def azure(aiohttp_client: Any) -> tuple[FakeUpstream, Any]:
    fake = FakeUpstream()
    client = await aiohttp_client(azure_upstream.make_app(fake))
    return fake, client


def at(client: Any, **kw: Any) -> Target:
    return target(api_base=str(client.make_url("")).rstrip("/"), **kw)


async def send(client: Any, http: HttpRequest) -> tuple[int, bytes]:
    resp = await client.post(URL(http.url).path_qs, data=http.body, headers=dict(http.headers))
    return resp.status, await resp.read()


def stream_events(provider: Any, req: ChatRequest, tgt: Target, data: bytes) -> list[Event]:
    dec = provider.open_decoder(req, tgt)
    return dec.feed(data) + dec.close()


REPLY = Reply(
    reasoning="hmm",
    text="Hello from Azure.",
    tool_calls=[ToolCallSpec("call_1", "Shell", '{"c":1}')],
)


@pytest.mark.parametrize("api_version", [None, "v1"])
async def test_chat_stream_end_to_end(azure: Any, api_version: str | None) -> None:
    fake, client = azure
    fake.replies.append(REPLY)
    tgt = at(client, api_version=api_version)
    req = request(stream=True, include_usage=True, tools=(Tool("Shell"),))
    status, data = await send(client, CHAT.build_request(req, tgt))
    assert status == 200, data
    assert data.startswith(azure_upstream.PROMPT_FILTER_CHUNK)
    events = stream_events(CHAT, req, tgt, data)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello from Azure."
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "hmm"
    assert ToolCallStart(0, "call_1", "Shell") in events
    assert events[-2:] == [Finish("tool_calls"), Usage(11, 7, cached_tokens=0, reasoning_tokens=0)]
    expected_path = (
        "/openai/v1/chat/completions"
        if api_version
        else "/openai/deployments/gpt-4o-prod/chat/completions"
    )
    assert fake.last.path == expected_path
    assert fake.last.headers["api-key"] == "azure-key"


async def test_chat_custom_tool_comes_back_as_raw_text(azure: Any) -> None:
    fake, client = azure
    fake.replies.append(
        Reply(tool_calls=[ToolCallSpec("c1", "ApplyPatch", '{"input": "*** Begin Patch\\n"}')])
    )
    tgt = at(client)
    req = request(stream=True, tools=(Tool("ApplyPatch", kind="custom"),))
    status, data = await send(client, CHAT.build_request(req, tgt))
    assert status == 200, data
    events = stream_events(CHAT, req, tgt, data)
    assert ToolCallStart(0, "c1", "ApplyPatch", "custom") in events
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta)] == ["*** Begin Patch\n"]


async def test_chat_non_streaming_end_to_end(azure: Any) -> None:
    fake, client = azure
    fake.replies.append(Reply(text="Plain."))
    tgt = at(client)
    status, data = await send(client, CHAT.build_request(request(), tgt))
    assert status == 200, data
    assert CHAT.decode_response(data, request(), tgt)[:2] == [TextDelta("Plain."), Finish("stop")]


@pytest.mark.parametrize(("api_version", "path"), [
    (None, "/openai/responses"), ("v1", "/openai/v1/responses")])  # fmt: skip
async def test_responses_stream_end_to_end(azure: Any, api_version: str | None, path: str) -> None:
    fake, client = azure
    fake.replies.append(REPLY)
    tgt = at(client, api_version=api_version)
    req = request(stream=True, tools=(Tool("Shell"),), reasoning_effort="low")
    status, data = await send(client, RESPONSES.build_request(req, tgt))
    assert status == 200, data
    events = stream_events(RESPONSES, req, tgt, data)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello from Azure."
    assert ToolCallStart(2, "call_1", "Shell") in events
    assert events[-2] == Finish("tool_calls")
    assert fake.last.path == path
    assert fake.last.body["model"] == "gpt-4o-prod"


async def test_responses_non_streaming_end_to_end(azure: Any) -> None:
    fake, client = azure
    fake.replies.append(Reply(text="Done."))
    tgt = at(client)
    status, data = await send(client, RESPONSES.build_request(request(), tgt))
    assert status == 200, data
    assert RESPONSES.decode_response(data, request(), tgt)[:2] == [
        TextDelta("Done."),
        Finish("stop"),
    ]


async def test_fake_refuses_a_request_without_api_key_and_records_it(azure: Any) -> None:
    fake, client = azure
    http = CHAT.build_request(request(), at(client, api_key=None))
    status, data = await send(client, http)
    assert status == 401
    assert orjson.loads(data)["error"]["code"] == "401"
    assert isinstance(CHAT.decode_error(status, {}, data), UpstreamAuthError)
    assert fake.last.body["messages"][0]["content"] == "hi"


async def test_fake_refuses_a_bearer_token_in_place_of_the_key(azure: Any) -> None:
    _, client = azure
    resp = await client.post("/openai/responses?api-version=2025-04-01-preview",
                             json={"model": "d", "input": "x"}, headers={"authorization": "Bearer k"})  # fmt: skip
    assert resp.status == 401


async def test_fake_dated_paths_need_an_api_version(azure: Any) -> None:
    _, client = azure
    for path in ("/openai/deployments/d/chat/completions", "/openai/responses"):
        resp = await client.post(path, json={"model": "d", "input": "x"}, headers={"api-key": "k"})
        assert resp.status == 404
        assert (await resp.json())["error"]["message"] == "Resource not found"


async def test_fake_v1_paths_refuse_a_dated_api_version(azure: Any) -> None:
    _, client = azure
    resp = await client.post("/openai/v1/responses?api-version=2024-10-21", json={"model": "d", "input": "x"},
                             headers={"api-key": "k"})  # fmt: skip
    assert resp.status == 400


async def test_fake_rejects_unknown_chat_parameters(azure: Any) -> None:
    _, client = azure
    body = {"messages": [{"role": "user", "content": "x"}], "input": "x"}
    resp = await client.post(f"/openai/deployments/d/chat/completions?api-version={CHAT_API_VERSION}",
                             json=body, headers={"api-key": "k"})  # fmt: skip
    assert resp.status == 400
    err = CHAT.decode_error(resp.status, {}, await resp.read())
    assert isinstance(err, UpstreamBadRequestError) and "input" in err.message


async def test_fake_rejects_chat_options_on_responses(azure: Any) -> None:
    _, client = azure
    body = {"model": "d", "input": "x", "stream": True, "stream_options": {"include_usage": True}}
    resp = await client.post(f"/openai/responses?api-version={RESPONSES_API_VERSION}", json=body,
                             headers={"api-key": "k"})  # fmt: skip
    assert resp.status == 400
    assert (await resp.json())["error"][
        "message"
    ] == "Unknown parameter: 'stream_options.include_usage'."
