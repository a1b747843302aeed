"""Vertex AI: the model URLs (regional, global, private endpoints), the Claude envelope, recorded Vertex streams."""

from __future__ import annotations

import orjson
import pytest

from litecursor.config import parse
from litecursor.protocol.providers import Target, get_provider, resolve_model
from litecursor.protocol.providers.gemini import GeminiStreamDecoder
from litecursor.protocol.providers.vertex import vertex_model_url
from litecursor.protocol.types import ChatRequest, Message, TextPart

from .paths import WIRE
from .wire import assert_split_invariant, summarise

DIR = WIRE / "vertex"
HI = ChatRequest("m", (Message("user", (TextPart("hi"),)),), stream=True)


@pytest.mark.parametrize(
    ("location", "api_base", "url"),
    [
        ("us-east5", None, "https://us-east5-aiplatform.googleapis.com/v1/projects/p/locations/us-east5/publishers/google/models/gemini-2.5-pro"),
        ("global", None, "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google/models/gemini-2.5-pro"),
        # a bare host (a Private Service Connect endpoint) gets the standard path
        ("europe-west4", "https://vertex.corp.internal/", "https://vertex.corp.internal/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.5-pro"),
        # a whole model URL (up to `:method`) is used as written, the method appended
        ("us-central1", "https://proxy.corp/vertex/models/gemini-2.5-pro", "https://proxy.corp/vertex/models/gemini-2.5-pro"),
        ("us-central1", "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro/", "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro"),
        # a deployed (tuned) model's endpoint too
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/endpoints/1234567890", "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/endpoints/1234567890"),
        # a host with a path prefix (a reverse proxy) gets the standard path after it
        ("global", "https://gw.corp/google-vertex/", "https://gw.corp/google-vertex/v1/projects/p/locations/global/publishers/google/models/gemini-2.5-pro"),
    ],
)  # fmt: skip
def test_model_url(location: str, api_base: str | None, url: str) -> None:
    assert vertex_model_url("p", location, "google", "gemini-2.5-pro", api_base) == url


def test_prefixes_choose_the_adapter() -> None:
    assert resolve_model("vertex_ai/gemini-2.5-pro")[0].adapter == "vertex_gemini"
    assert resolve_model("vertex_ai/gemini/gemini-2.5-pro") == (
        resolve_model("vertex_ai/gemini-2.5-pro")[0],
        "gemini-2.5-pro",
    )
    spec, model = resolve_model("vertex_ai/claude-sonnet-4-5@20250929")
    assert spec.adapter == "vertex_anthropic" and model == "claude-sonnet-4-5@20250929"


@pytest.mark.parametrize(
    ("location", "host"),
    [("us-east5", "us-east5-aiplatform.googleapis.com"), ("global", "aiplatform.googleapis.com")],
)
def test_config_builds_the_url_from_project_and_location(location: str, host: str) -> None:
    params = {"model": "vertex_ai/claude-opus-4-1@20250805", "vertex_project": "acme",
              "vertex_location": location}  # fmt: skip
    config = parse({"model_list": [{"model_name": "m", "litellm_params": params}],
                    "general_settings": {"master_key": "k"}}, environ={})  # fmt: skip
    (d,) = config.deployments
    assert d.target.api_base == (
        f"https://{host}/v1/projects/acme/locations/{location}"
        "/publishers/anthropic/models/claude-opus-4-1@20250805"
    )
    assert d.auth is not None and d.target.api_key is None


def test_claude_on_vertex_names_no_model_and_carries_the_vertex_version() -> None:
    target = Target("vertex_ai", "claude-sonnet-4-5@20250929", "https://h/v1/m/claude")
    provider = get_provider("vertex_anthropic")
    http = provider.build_request(HI, target)
    body = orjson.loads(http.body)
    assert http.url == "https://h/v1/m/claude:streamRawPredict"
    assert body["anthropic_version"] == "vertex-2023-10-16" and "model" not in body
    assert body["stream"] is True and "authorization" not in http.headers
    plain = provider.build_request(ChatRequest("m", HI.messages), target)
    assert plain.url.endswith(":rawPredict") and "stream" not in orjson.loads(plain.body)


def test_gemini_on_vertex_streams_with_alt_sse() -> None:
    target = Target("vertex_ai", "gemini-2.5-pro", "https://h/v1/m/gemini-2.5-pro")
    http = get_provider("vertex_gemini").build_request(HI, target)
    assert http.url == "https://h/v1/m/gemini-2.5-pro:streamGenerateContent?alt=sse"


def test_recorded_vertex_stream_decodes_the_same_at_every_split() -> None:
    s = summarise(
        assert_split_invariant(GeminiStreamDecoder, (DIR / "gemini-text-global.sse").read_bytes())
    )
    assert s.text.startswith("OK") and s.finish == "stop" and s.usage is not None and not s.errors


def test_recorded_vertex_body_decodes() -> None:
    events = get_provider("vertex_gemini").decode_response(
        (DIR / "gemini-text-global.json").read_bytes(), HI, Target("vertex_ai", "g", "https://h")
    )
    s = summarise(events)
    assert s.text == "The capital of France is Paris.\n" and s.finish == "stop"
    assert s.usage is not None and (s.usage.prompt_tokens, s.usage.completion_tokens) == (13, 8)
