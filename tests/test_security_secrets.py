"""Provider keys never leave the gateway: not in error bodies, stream chunks, the access log or the health endpoint.

Each fake echoes the key it was sent, as providers do ("Incorrect API key provided: sk-proj-
****abcd"), whole and in part, in error bodies of every status and in error events inside a
stream; the gateway must strip every form of it from all it writes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

import orjson
import pytest

from litecursor.config import parse
from litecursor.redaction import LEARNT, REDACTED, Redactor
from litecursor.tls import DevCerts

from . import (
    test_clouds as cloud_tests,
)  # its helpers (a module: its tests are not collected twice)
from .clouds import bedrock, bedrock_params, service_account
from .fakes.common import Faults, Reply
from .harness import MASTER_KEY, Gateway, make_config, run_gateway
from .upstreams import AWS_KEY_ID, AWS_SECRET, MODEL, start_upstream

KEY = "sk-proj-Vq3XkT9mLr2WbN8cYz4HdJ6pGf1sAe7u"
#: an Azure-style key in a deployment's extra headers, and a bearer token for a proxy in front
HEADER_KEY = "f3c9a1d27be84e6c9a0d55e1b7c2a9e4"
PROXY_TOKEN = "prx-7Hd93kLq0Zm2Wv8Ty5Rb"
ECHOES = (
    "Incorrect API key provided: {api_key_masked}. You can find your API key at "
    "https://platform.openai.com/account/api-keys. (sent: {api_key}; sk-…"
    + KEY[-4:]
    + "; "
    + KEY[:10]
    + "...; proxy "
    + PROXY_TOKEN
    + "; azure "
    + HEADER_KEY
    + ")"
)
USER = [{"role": "user", "content": "hi"}]
KINDS = ("openai", "anthropic", "gemini")


def leaks(text: str) -> list[str]:
    """The forms of a credential found in `text`: whole, its first or last characters."""
    found = []
    for secret in (KEY, HEADER_KEY, PROXY_TOKEN):
        for form in (secret, secret[:12], secret[-6:], secret[-4:]):
            if form in text:
                found.append(form)
    return found


def error_body(kind: str, status: int, message: str) -> bytes:
    """An error body in `kind`'s own shape."""
    if kind == "anthropic":
        types = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}
        body: Any = {
            "type": "error",
            "error": {"type": types.get(status, "api_error"), "message": message},
        }
    elif kind == "gemini":
        names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED"}
        body = {
            "error": {"code": status, "message": message, "status": names.get(status, "INTERNAL")}
        }
    else:
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "code": None,
                "param": None,
            }
        }
    return orjson.dumps(body)


async def start(
    aiohttp_server: Any,
    dev_certs: DevCerts,
    kind: str,
    stack: Any,
    general: dict[str, Any] | None = None,
    litellm: dict[str, Any] | None = None,
    **settings: Any,
) -> tuple[Any, Gateway]:
    fake, params = await start_upstream(aiohttp_server, kind)
    params = {
        **params,
        "api_key": KEY,
        "extra_headers": {"x-proxy-authorization": f"Bearer {PROXY_TOKEN}", "api-key": HEADER_KEY},
    }
    config = make_config(
        [{"model_name": MODEL, "litellm_params": params}],
        router_settings={"num_retries": 0},
        litecursor_settings=settings,
        general_settings={"master_key": MASTER_KEY, **(general or {})},
        litellm_settings=litellm or {},
    )
    gw = await stack.enter_async_context(run_gateway(config, dev_certs))
    return fake, gw


@pytest.fixture
async def stack():
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as s:
        yield s


async def answer(gw: Gateway, stream: bool) -> tuple[int, str]:
    """A chat request's status and raw body, streamed or not."""
    body = {"model": MODEL, "messages": USER, "stream": stream}
    async with await gw.post("/cursor/chat/completions", body) as resp:
        return resp.status, await resp.text()


async def everything_written(gw: Gateway, caplog: pytest.LogCaptureFixture) -> str:
    """What the gateway let out besides the answers: its log lines and its health endpoint."""
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    async with gw.session.get(gw.base + "/health/deployments", headers=headers) as resp:
        health = await resp.text()
    return "\n".join(r.getMessage() for r in caplog.records) + "\n" + health


@pytest.mark.parametrize("kind", KINDS)
async def test_error_bodies_of_every_status_that_echo_the_key_reach_no_client_and_no_log(
    aiohttp_server, dev_certs, stack, caplog, kind: str
) -> None:
    caplog.set_level(logging.INFO, logger="litecursor")
    fake, gw = await start(aiohttp_server, dev_certs, kind, stack)
    for status in (400, 401, 429, 500):
        fake.faults = Faults(status=status, body=error_body(kind, status, ECHOES))
        for stream in (True, False):
            code, text = await answer(gw, stream)
            assert code >= 400, text
            assert not leaks(text), (status, stream, text)
            assert fake.echo("{api_key}") == KEY  # the fake did echo it
    # the message itself still says what went wrong
    fake.faults = Faults(status=400, body=error_body(kind, 400, ECHOES))
    status, body = await gw.chat({"model": MODEL, "messages": USER})
    assert status == 400 and "Incorrect API key provided" in body["error"]["message"]
    assert REDACTED in body["error"]["message"]
    written = await everything_written(gw, caplog)
    assert "error=" in written  # the access lines were written, with the errors
    assert not leaks(written), written


@pytest.mark.parametrize("kind", KINDS)
async def test_an_error_event_inside_a_stream_that_echoes_the_key_is_redacted(
    aiohttp_server, dev_certs, stack, caplog, kind: str
) -> None:
    caplog.set_level(logging.INFO, logger="litecursor")
    fake, gw = await start(aiohttp_server, dev_certs, kind, stack)
    # after some text (an error chunk in the stream), and before any (a status code)
    fake.replies.extend(
        [Reply(text="Partial answer", stream_error=ECHOES), Reply(stream_error=ECHOES)]
    )
    for _ in range(2):
        _, text = await answer(gw, stream=True)
        assert "error" in text
        assert not leaks(text), text
    written = await everything_written(gw, caplog)
    assert "error=" in written
    assert not leaks(written), written


async def test_errors_told_as_an_assistant_message_to_cursor_are_redacted_too(
    aiohttp_server, dev_certs, stack
) -> None:
    """`cursor_errors: message` turns a 429 or 5xx into answer text: the same text, cleaned."""
    fake, gw = await start(aiohttp_server, dev_certs, "openai", stack, cursor_errors="message")
    fake.faults = Faults(status=500, body=error_body("openai", 500, ECHOES), times=1)
    fake.replies.append(Reply(text="Partial answer", stream_error=ECHOES))
    for _ in range(2):  # before the stream started, and inside it
        status, text = await answer(gw, stream=True)
        assert status == 200 and "litecursor:" in text and REDACTED in text
        assert not leaks(text), text


async def test_an_html_error_page_cut_inside_the_key_shows_no_part_of_it(
    aiohttp_server, dev_certs, stack, caplog
) -> None:
    """A proxy's HTML page, kept to its first 500 characters, with the key across the cut."""
    caplog.set_level(logging.INFO, logger="litecursor")
    fake, gw = await start(aiohttp_server, dev_certs, "openai", stack)
    head = "<html><body><h1>502 Bad Gateway</h1><pre>Authorization: Bearer "
    page = head.ljust(500 - 20, "-") + "{api_key}</pre></body></html>"
    fake.faults = Faults(status=502, body=page.encode(), headers={"content-type": "text/html"})
    status, body = await gw.chat({"model": MODEL, "messages": USER})
    assert status == 502 and "502 Bad Gateway" in body["error"]["message"]
    assert KEY[:20] not in body["error"]["message"] and KEY[:8] not in body["error"]["message"]
    assert body["error"]["message"].endswith(REDACTED)
    written = await everything_written(gw, caplog)
    assert KEY[:20] not in written and KEY[:8] not in written


async def test_the_master_key_in_an_upstream_echo_is_redacted_too(
    aiohttp_server, dev_certs, stack
) -> None:
    fake, gw = await start(aiohttp_server, dev_certs, "openai", stack)
    fake.faults = Faults(status=400, body=error_body("openai", 400, f"you said {MASTER_KEY}"))
    status, body = await gw.chat({"model": MODEL, "messages": USER})
    assert status == 400 and MASTER_KEY not in json.dumps(body)


@pytest.mark.parametrize("stream", [False, True])
async def test_stored_rows_and_exports_of_a_failed_request_hold_no_key(
    aiohttp_server, dev_certs, stack, tmp_path, stream: bool
) -> None:
    """The request log's row (its error, the answer it keeps) and the jsonl export."""
    exported = tmp_path / "requests.jsonl"
    fake, gw = await start(
        aiohttp_server,
        dev_certs,
        "openai",
        stack,
        general={"database_url": str(tmp_path / "lc.db"), "store_prompts_in_spend_logs": True},
        litellm={
            "callbacks": ["jsonl"],
            "callback_settings": {"jsonl": {"path": str(exported), "flush_interval": 0.05}},
        },
    )
    fake.faults = Faults(status=400, body=error_body("openai", 400, ECHOES))
    request_id = f"req-echo-{stream}"
    body = {"model": MODEL, "messages": USER, "stream": stream}
    async with await gw.post(
        "/cursor/chat/completions", body, headers={"x-request-id": request_id}
    ) as resp:
        assert resp.status == 400, await resp.text()
    row = without_ids(json.dumps(row := await stored_row(gw, request_id)))
    assert "Incorrect API key provided" in row  # the error was kept
    assert not leaks(row), row
    deadline = time.monotonic() + 10
    while not exported.exists() or request_id not in exported.read_text():
        assert time.monotonic() < deadline, "nothing exported"
        await asyncio.sleep(0.05)
    (line,) = [
        x for x in exported.read_text().splitlines() if orjson.loads(x)["request_id"] == request_id
    ]
    assert "Incorrect API key provided" in line
    assert not leaks(without_ids(line)), line


def without_ids(text: str) -> str:
    """`text` without its random ids (a hex id may hold a key's last four characters by
    chance)."""
    return re.sub(r'"(request_id|response_id|id)": ?"[^"]*"', "", text)


async def stored_row(gw: Gateway, request_id: str) -> dict[str, Any]:
    """The request's row in the request log, once the writer has stored it."""
    deadline = time.monotonic() + 10
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    while True:
        async with gw.session.get(f"{gw.base}/logs/{request_id}", headers=headers) as r:
            if r.status == 200:
                return dict(await r.json())
        assert time.monotonic() < deadline, f"no row for {request_id}"
        await asyncio.sleep(0.05)


# --- the redactor itself -------------------------------------------------------------------


def test_every_form_a_provider_prints_is_redacted() -> None:
    r = Redactor([KEY])
    for text in (
        f"key {KEY} is wrong",
        f"Incorrect API key provided: {KEY[:8]}{'*' * 20}{KEY[-4:]}.",
        f"Incorrect API key provided: sk-proj-****{KEY[-4:]}",
        f"key sk-…{KEY[-4:]}",
        f"key sk-...{KEY[-6:]}",
        f"key {KEY[:12]}...",
        f"cut off at the end: {KEY[:15]}",
        f"key={KEY}&x=1",
    ):
        assert not leaks(r(text)), (text, r(text))
        assert REDACTED in r(text)


def test_ordinary_text_is_left_alone() -> None:
    r = Redactor([KEY, "short"])
    text = "max_tokens must be at most 4096... see https://example.com/docs?x=1 *** note"
    assert r(text) == text
    assert r("a short word") == "a short word"  # under MIN_SECRET: not a secret


def test_credentials_come_from_the_key_secret_headers_and_the_url() -> None:
    config = make_config(
        [
            {
                "model_name": "m",
                "litellm_params": {
                    "model": "openai/x",
                    "api_key": KEY,
                    "api_base": "https://user:hunter22pw@proxy.example/v1?api-version=2024-10-21&sig=abcdef123456",
                    "extra_headers": {
                        "Authorization": f"Bearer {PROXY_TOKEN}",
                        "X-Title": "my-app-name",
                    },
                },
            }
        ]
    )
    r = Redactor.for_deployments(config.deployments, config.master_key)
    assert set(r.secrets) >= {
        KEY,
        PROXY_TOKEN,
        f"Bearer {PROXY_TOKEN}",
        "hunter22pw",
        "abcdef123456",
        MASTER_KEY,
    }
    assert "my-app-name" not in r.secrets and "2024-10-21" not in r.secrets


def test_a_secret_learnt_at_run_time_is_redacted_from_then_on() -> None:
    r = Redactor([KEY])
    token = "ya29.a0AfB_byC3dEf4GhI5jKl6"
    assert r(f"token {token}") == f"token {token}"
    r.learn(token)
    assert r(f"token {token}") == f"token {REDACTED}"
    for i in range(LEARNT):  # tokens expire: only the newest are kept, the config's always
        r.learn(f"ya29.token-number-{i:06d}")
    assert r(f"token {token}") == f"token {token}"
    assert r(f"key {KEY}") == f"key {REDACTED}"


# --- cloud credentials: configured, and minted at run time ---------------------------------


async def cloud_gateway(stack: Any, dev_certs: DevCerts, params: dict[str, Any]) -> Gateway:
    data = {
        "model_list": [{"model_name": MODEL, "litellm_params": params}],
        "general_settings": {"master_key": MASTER_KEY},
        "router_settings": {"num_retries": 0},
    }
    gw: Gateway = await stack.enter_async_context(run_gateway(parse(data, environ={}), dev_certs))
    return gw


async def test_a_google_token_minted_at_run_time_is_redacted_when_echoed(
    aiohttp_server, dev_certs, stack, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="litecursor")
    fake, tokens, base = await cloud_tests.vertex(aiohttp_server)
    creds = orjson.dumps(service_account(tokens)).decode()
    gw = await cloud_gateway(
        stack, dev_certs, cloud_tests.vertex_params(base, vertex_credentials=creds)
    )
    assert (await gw.chat({"model": MODEL, "messages": USER}))[0] == 200
    token = fake.echo("{api_key}")
    assert token.startswith("ya29.")  # the fake's access token, which the gateway fetched
    fake.faults = Faults(status=400, body=error_body("gemini", 400, "bad token {api_key}"))
    for stream in (True, False):
        status, text = await answer(gw, stream)
        assert status == 400 and REDACTED in text and token not in text
    assert token not in await everything_written(gw, caplog)


async def test_configured_aws_secrets_are_redacted_when_echoed(
    aiohttp_server, dev_certs, stack
) -> None:
    fake, _, endpoint = await bedrock(aiohttp_server)
    session = "FwoGZXIvYXdzEXAMPLEsessionTOKEN0123456789"
    params = bedrock_params(
        endpoint, aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET,
        aws_session_token=session,
    )  # fmt: skip
    gw = await cloud_gateway(stack, dev_certs, params)
    message = f"signature mismatch for {AWS_SECRET} / {session}"
    fake.faults = Faults(
        status=400, body=orjson.dumps({"message": message}),
        headers={"x-amzn-errortype": "ValidationException"},
    )  # fmt: skip
    status, body = await gw.chat({"model": MODEL, "messages": USER})
    text = json.dumps(body)
    assert status == 400 and AWS_SECRET not in text and session not in text, text
