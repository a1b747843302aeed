"""The HTTP surface: routes, auth, model list, health, CORS, and every kind of bad input."""

from __future__ import annotations

import re

import pytest

from .harness import MASTER_KEY, make_config, run_gateway, text_of

USER = [{"role": "user", "content": "hello world"}]


@pytest.mark.parametrize(
    "path",
    [
        "/cursor/chat/completions",
        "/cursor/v1/chat/completions",
        "/v1/chat/completions",
        "/chat/completions",
    ],
)
async def test_every_chat_path_serves_the_same_handler(mock_gateway, path: str) -> None:
    status, payloads = await mock_gateway.chat(
        {"model": "mock", "messages": USER, "stream": True}, path=path
    )
    assert status == 200 and text_of(payloads) == "hello world"


@pytest.mark.parametrize("path", ["/models", "/v1/models", "/cursor/models", "/cursor/v1/models"])
async def test_models_list_in_openai_shape(gateway_factory, path: str) -> None:
    gw = await gateway_factory(
        [
            {"model_name": "fast", "litellm_params": {"model": "mock/a"}},
            {"model_name": "smart", "litellm_params": {"model": "mock/b"}},
            {"model_name": "smart", "litellm_params": {"model": "mock/c"}},
        ]
    )
    async with gw.session.get(
        gw.base + path, headers={"Authorization": f"Bearer {MASTER_KEY}"}
    ) as r:
        body = await r.json()
    assert r.status == 200 and body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["fast", "smart"]
    assert all(m["object"] == "model" for m in body["data"])


async def test_sdk_lists_models(mock_gateway) -> None:
    page = await mock_gateway.openai().models.list()
    assert [m.id for m in page.data] == ["mock"]


async def test_health_needs_no_key(mock_gateway) -> None:
    async with mock_gateway.session.get(mock_gateway.base + "/health") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {MASTER_KEY}"},
        {"Authorization": "Bearer "},
        {"x-api-key": MASTER_KEY},
    ],
)
async def test_anything_but_the_master_key_is_401(mock_gateway, headers: dict[str, str]) -> None:
    for method, path in (("POST", "/cursor/chat/completions"), ("GET", "/cursor/models")):
        async with mock_gateway.session.request(
            method,
            mock_gateway.base + path,
            headers=headers,
            json={"model": "mock", "messages": USER},
        ) as r:
            body = await r.json()
        assert r.status == 401
        assert (
            body["error"]["type"] == "authentication_error"
            and body["error"]["code"] == "invalid_api_key"
        )


async def test_wrong_key_from_the_sdk_is_an_authentication_error(mock_gateway) -> None:
    import openai

    client = mock_gateway.openai()
    client.api_key = "sk-nope"
    with pytest.raises(openai.AuthenticationError):
        await client.models.list()


async def test_preflight_gets_204_with_cors_headers(mock_gateway) -> None:
    async with mock_gateway.session.options(
        mock_gateway.base + "/cursor/chat/completions",
        headers={
            "Origin": "vscode-file://vscode-app",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    ) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert r.headers["Access-Control-Allow-Headers"] == "authorization,content-type"


async def test_unknown_route_is_openai_json_404(mock_gateway) -> None:
    async with mock_gateway.session.get(
        mock_gateway.base + "/nope", headers={"Authorization": f"Bearer {MASTER_KEY}"}
    ) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


async def test_every_response_has_a_request_id(mock_gateway) -> None:
    async with await mock_gateway.post(
        "/cursor/chat/completions", {"model": "mock", "messages": USER}
    ) as r:
        assert len(r.headers["x-request-id"]) == 32
    async with await mock_gateway.post(
        "/cursor/chat/completions", {"model": "nope", "messages": USER}
    ) as r:
        assert len(r.headers["x-request-id"]) == 32


# --- bad input: 4xx OpenAI error JSON naming the field, never a 500 -----------------------

BAD = [
    (b"{not json", 400, None, "not valid JSON"),
    (b"", 400, None, "empty"),
    (b"[1, 2]", 400, None, "must be a JSON object"),
    (b'"text"', 400, None, "must be a JSON object"),
    ({"messages": USER}, 400, "model", "model"),
    ({"model": 5, "messages": USER}, 400, "model", "non-empty string"),
    ({"model": "", "messages": USER}, 400, "model", "non-empty string"),
    ({"model": "mock"}, 400, "messages", "'messages'"),
    ({"model": "mock", "messages": []}, 400, "messages", "no conversation"),
    ({"model": "mock", "messages": "hi"}, 400, "messages", "must be an array"),
    ({"model": "mock", "input": []}, 400, "input", "no conversation"),
    ({"model": "mock", "input": ""}, 400, "input", "no conversation"),
    ({"model": "mock", "input": 7}, 400, "input", "must be an array"),
    ({"model": "mock", "messages": [{"content": "x"}]}, 400, "messages[0].role", "role"),
    (
        {"model": "mock", "messages": [{"role": "wizard", "content": "x"}]},
        400,
        "messages[0].role",
        "wizard",
    ),
    (
        {"model": "mock", "messages": [{"role": "user", "content": 5}]},
        400,
        "messages[0].content",
        "array",
    ),
    (
        {"model": "mock", "messages": [{"role": "tool", "content": "x"}]},
        400,
        "messages[0].tool_call_id",
        "tool_call_id",
    ),
    ({"model": "mock", "messages": USER, "stream": "yes"}, 400, "stream", "boolean"),
    ({"model": "mock", "messages": USER, "temperature": "hot"}, 400, "temperature", "number"),
    ({"model": "mock", "messages": USER, "max_tokens": 0}, 400, "max_tokens", "at least 1"),
    ({"model": "mock", "messages": USER, "max_tokens": 1.5}, 400, "max_tokens", "integer"),
    ({"model": "mock", "messages": USER, "n": 2}, 400, "n", "n > 1"),
    ({"model": "mock", "messages": USER, "tools": {"a": 1}}, 400, "tools", "array"),
    (
        {"model": "mock", "messages": USER, "tools": [{"type": "function"}]},
        400,
        "tools[0].name",
        "name",
    ),
    (
        {
            "model": "mock",
            "messages": USER,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": []}}],
        },
        400,
        "tools[0].function.parameters",
        "object",
    ),
    ({"model": "mock", "messages": USER, "tools": [{"name": "f"}]}, 400, "tools[0].type", "type"),
    (
        {"model": "mock", "messages": USER, "tools": [{"type": "teleport"}]},
        400,
        "tools[0].type",
        "teleport",
    ),
    (
        {"model": "mock", "messages": USER, "tool_choice": "sometimes"},
        400,
        "tool_choice",
        "sometimes",
    ),
    (
        {"model": "mock", "messages": USER, "reasoning": {"effort": "extreme"}},
        400,
        "reasoning.effort",
        "extreme",
    ),
    ({"model": "mock", "messages": USER, "stream_options": True}, 400, "stream_options", "object"),
    (
        {"model": "mock", "input": [{"type": "function_call", "name": "f"}]},
        400,
        "input[0].call_id",
        "call_id",
    ),
    (
        {"model": "mock", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
        400,
        "input[0].content[0].image_url",
        "image_url",
    ),
    (
        {"model": "mock", "input": [{"type": "item_reference", "id": "x"}]},
        400,
        "input[0].type",
        "item_reference",
    ),
]


@pytest.mark.parametrize(("body", "status", "param", "words"), BAD)
async def test_bad_input_is_a_4xx_naming_the_field(
    mock_gateway, body, status, param, words
) -> None:
    async with await mock_gateway.post("/cursor/chat/completions", body) as r:
        data = await r.json()
    assert r.status == status, data
    err = data["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param
    assert words in err["message"]


async def test_unknown_model_names_it_and_lists_the_available_ones(mock_gateway) -> None:
    async with await mock_gateway.post(
        "/cursor/chat/completions", {"model": "gpt-9", "messages": USER}
    ) as r:
        data = await r.json()
    assert r.status == 404 and data["error"]["code"] == "model_not_found"
    assert "gpt-9" in data["error"]["message"] and "mock" in data["error"]["message"]


async def test_body_over_the_limit_is_413(gateway_factory) -> None:
    gw = await gateway_factory(
        [{"model_name": "mock", "litellm_params": {"model": "mock/x"}}],
        general_settings={"master_key": MASTER_KEY, "max_request_size_mb": 0.01},
    )
    big = {"model": "mock", "messages": [{"role": "user", "content": "x" * 20000}]}
    async with await gw.post("/cursor/chat/completions", big) as r:
        data = await r.json()
    assert r.status == 413 and data["error"]["code"] == "request_too_large"
    assert "0.01 MiB" in data["error"]["message"]
    ok = {"model": "mock", "messages": [{"role": "user", "content": "x" * 100}]}
    async with await gw.post("/cursor/chat/completions", ok) as r:
        assert r.status == 200


async def test_default_limit_accepts_a_large_image(mock_gateway) -> None:
    image = "data:image/png;base64," + "A" * (8 * 1024 * 1024)
    body = {
        "model": "mock",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": image},
                ],
            }
        ],
    }
    status, data = await mock_gateway.chat(body)
    assert status == 200 and data["choices"][0]["message"]["content"] == "look"


async def test_one_access_log_line_per_request_with_the_conversation(mock_gateway, caplog) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="litecursor.access")
    body = {
        "model": "mock",
        "stream": True,
        "input": "hi",
        "metadata": {"cursorConversationId": "conv-42"},
    }
    status, _ = await mock_gateway.chat(body)
    assert status == 200
    (line,) = [r.getMessage() for r in caplog.records if r.name == "litecursor.access"]
    assert (
        " 200 model=mock deployment=mock#0 tokens=2/1 " in line and "conversation=conv-42" in line
    )


async def test_chunked_body_over_the_limit_is_413(gateway_factory) -> None:
    gw = await gateway_factory(
        [{"model_name": "mock", "litellm_params": {"model": "mock/x"}}],
        general_settings={"master_key": MASTER_KEY, "max_request_size_mb": 0.01},
    )

    async def body():  # no Content-Length: sent chunked
        yield b'{"model": "mock", "messages": [{"role": "user", "content": "'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"}]}'

    headers = {"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"}
    async with gw.session.post(
        gw.base + "/cursor/chat/completions", data=body(), headers=headers
    ) as r:
        assert r.status == 413
        assert (await r.json())["error"]["code"] == "request_too_large"


def test_access_lines_written_directly_match_the_logging_format() -> None:
    """`litecursor serve` writes access lines itself; each must read as the same line sent
    through `logging` with the CLI's format would: local time to the second, milliseconds,
    level, logger name, message."""
    import io
    import logging
    import time

    from litecursor.server.access import LOG_FORMAT, AccessLog

    formatter = logging.Formatter(LOG_FORMAT)
    for _ in range(3):  # again if the clock ticked over to the next second meanwhile
        stream = io.StringIO()
        now = time.time()
        AccessLog(stream).write("abc GET /v1/models 200")
        if int(time.time()) == int(now):
            break
    record = logging.LogRecord(
        "litecursor.access", logging.INFO, "", 0, "abc GET /v1/models 200", None, None
    )
    record.created, record.msecs = now, 0
    expected = formatter.format(record)  # "... HH:MM:SS,000 INFO ..."
    written = stream.getvalue()
    assert written.count("\n") == 1 and written.endswith("\n")
    assert written[:19] == expected[:19]
    assert re.fullmatch(r",\d{3}", written[19:23])
    assert written[23:-1] == expected[23:]


async def test_an_access_line_to_a_broken_stream_does_not_fail_the_request(
    dev_certs, caplog
) -> None:
    """Like `logging`, a log line never costs a request: the gateway writing its access lines
    to a closed pipe still answers, and did try to write each line."""
    import io
    import logging

    class Broken(io.StringIO):
        writes = 0

        def write(self, s: str) -> int:
            Broken.writes += 1
            raise BrokenPipeError(32, "Broken pipe")

    caplog.set_level(logging.INFO, logger="litecursor.access")
    config = make_config([{"model_name": "mock", "litellm_params": {"model": "mock/x"}}])
    async with run_gateway(config, dev_certs, access_stream=Broken()) as gw:
        status, payloads = await gw.chat({"model": "mock", "stream": True, "messages": USER})
        assert status == 200 and payloads[-1] == "[DONE]"
        status, _ = await gw.chat({"model": "nope", "messages": USER})
        assert status == 404
    assert Broken.writes == 2
