"""What a client without a key can make the gateway hold: header blocks, slow and silent connections, malformed requests.

Raw clients over real sockets against the gateway over TLS, with short configured timeouts so
the suite stays fast; the defaults (15 s for a request head, 75 s idle) are the same code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
import pytest

from .harness import MASTER_KEY, Gateway

MOCK = [{"model_name": "mock", "litellm_params": {"model": "mock/echo"}}]


async def start(gateway_factory: Any, **limits: Any) -> Gateway:
    gw: Gateway = await gateway_factory(MOCK, litecursor_settings=limits)
    return gw


def port_of(gw: Gateway) -> int:
    return int(gw.base.rsplit(":", 1)[1])


async def connect(
    gw: Gateway, tls: bool = True
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if tls:
        return await asyncio.open_connection(
            "127.0.0.1", port_of(gw), ssl=gw.ssl, server_hostname="localhost"
        )
    return await asyncio.open_connection("127.0.0.1", port_of(gw))


async def read_until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection; fails if it stays open."""
    data = b""
    async with asyncio.timeout(within):
        while True:
            try:
                chunk = await reader.read(65536)
            except (ConnectionResetError, OSError):
                return data
            if not chunk:
                return data
            data += chunk


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def json_body(answer: bytes) -> Any:
    return orjson.loads(answer.split(b"\r\n\r\n", 1)[1])


HEAD = b"GET /health HTTP/1.1\r\nHost: localhost\r\n"


# --- the header block (point 2) ------------------------------------------------------------


async def test_a_header_block_over_max_header_kb_is_refused_with_431_and_closed(
    gateway_factory,
) -> None:
    """40 KB of headers in 1 KB fields (each within any per-field limit) and no final CRLF:
    refused once past 32 KiB, not held until a timer an hour away."""
    gw = await start(gateway_factory)
    reader, writer = await connect(gw)
    writer.write(HEAD + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(40)))
    answer = await read_until_closed(reader, within=5)
    writer.close()
    assert status_of(answer) == 431, answer[:200]
    assert b"\r\nServer: litecursor\r\n" in answer
    error = json_body(answer)["error"]
    assert error["code"] == "request_header_too_large" and "max_header_kb" in error["message"]


async def test_one_header_longer_than_the_cap_is_refused_with_431(gateway_factory) -> None:
    gw = await start(gateway_factory, max_header_kb=8)
    reader, writer = await connect(gw)
    writer.write(HEAD + b"Cookie: " + b"c" * 9000 + b"\r\n\r\n")
    answer = await read_until_closed(reader, within=5)
    writer.close()
    assert status_of(answer) == 431 and b"Server: litecursor" in answer


async def test_headers_within_the_cap_are_served(gateway_factory) -> None:
    gw = await start(gateway_factory)
    pad = {f"x-pad-{i}": "a" * 1000 for i in range(20)}  # 20 KB: a large cookie's worth
    async with gw.session.get(gw.base + "/health", headers=pad) as resp:
        assert resp.status == 200


async def test_the_header_cap_counts_only_the_head_not_the_body(gateway_factory) -> None:
    gw = await start(gateway_factory, max_header_kb=4)
    body = {"model": "mock", "messages": [{"role": "user", "content": "x" * 200_000}]}
    status, _ = await gw.chat(body)
    assert status == 200


# --- slow and silent connections (points 3 and 14) -----------------------------------------


async def test_a_request_head_dripped_slowly_is_answered_408_at_request_head_timeout(
    gateway_factory,
) -> None:
    gw = await start(gateway_factory, request_head_timeout=1)
    reader, writer = await connect(gw)
    writer.write(HEAD)

    async def drip() -> None:
        for _ in range(100):
            await asyncio.sleep(0.2)
            writer.write(b"X")

    dripping = asyncio.create_task(drip())
    t0 = time.monotonic()
    try:
        answer = await read_until_closed(reader, within=6)
    finally:
        dripping.cancel()
    assert 0.9 < time.monotonic() - t0 < 5
    assert status_of(answer) == 408
    assert json_body(answer)["error"]["code"] == "request_timeout"
    writer.close()


@pytest.mark.parametrize("tls", [True, False], ids=["after-handshake", "no-handshake"])
async def test_a_connection_that_sends_nothing_is_closed_at_request_head_timeout(
    gateway_factory, tls: bool
) -> None:
    """A TLS connection that never sends a request, and a TCP connection that never even
    starts the TLS handshake."""
    gw = await start(gateway_factory, request_head_timeout=1)
    t0 = time.monotonic()
    reader, writer = await connect(gw, tls=tls)
    answer = await read_until_closed(reader, within=6)
    assert answer == b""
    assert 0.9 < time.monotonic() - t0 < 5
    writer.close()


async def test_an_idle_kept_alive_connection_is_closed_at_keepalive_timeout(
    gateway_factory,
) -> None:
    gw = await start(gateway_factory, keepalive_timeout=1, request_head_timeout=10)
    reader, writer = await connect(gw)
    for _ in range(2):  # kept alive between requests
        writer.write(HEAD + b"\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        assert status_of(head) == 200
    t0 = time.monotonic()
    assert await read_until_closed(reader, within=6) == b""
    assert 0.8 < time.monotonic() - t0 < 5
    writer.close()


async def test_a_request_head_on_a_kept_alive_connection_has_its_own_deadline(
    gateway_factory,
) -> None:
    """Idle for longer than a head may take, then a head in time: served."""
    gw = await start(gateway_factory, keepalive_timeout=5, request_head_timeout=0.5)
    reader, writer = await connect(gw)
    writer.write(HEAD + b"\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
    await asyncio.sleep(1)
    writer.write(HEAD + b"Connection: close\r\n\r\n")
    answer = await read_until_closed(reader, within=3)
    assert status_of(answer) == 200
    writer.close()


# --- malformed requests (point 8) and the Server header (point 13) -------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"\x00\x01garbage that is not HTTP at all\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer " + MASTER_KEY.encode() + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n",
    ],
    ids=["garbage", "space-before-colon", "control-character"],
)
async def test_a_malformed_request_gets_json_and_one_short_log_line(
    gateway_factory, caplog, request_bytes: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    gw = await start(gateway_factory)
    reader, writer = await connect(gw)
    writer.write(request_bytes)
    answer = await read_until_closed(reader, within=5)
    writer.close()
    assert status_of(answer) == 400 and b"Server: litecursor" in answer
    error = json_body(answer)["error"]
    assert error["code"] == "malformed_request"
    assert MASTER_KEY not in error["message"]
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(records) == 1, [r.getMessage() for r in records]
    line = records[0].getMessage()
    assert "\n" not in line and len(line) < 200 and not records[0].exc_info
    assert MASTER_KEY not in line and "400" in line
    assert all(MASTER_KEY not in r.getMessage() and not r.exc_info for r in caplog.records)


@pytest.mark.parametrize(
    ("path", "key", "status"),
    [("/health", None, 200), ("/v1/models", None, 401), ("/nowhere", MASTER_KEY, 404)],
)
async def test_responses_name_litecursor_not_the_python_and_aiohttp_versions(
    mock_gateway, path: str, key: str | None, status: int
) -> None:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with mock_gateway.session.get(mock_gateway.base + path, headers=headers) as resp:
        assert resp.status == status
        assert resp.headers["Server"] == "litecursor"


# --- log injection (point 4) ---------------------------------------------------------------


async def test_a_client_cannot_forge_a_log_line(gateway_factory, caplog) -> None:
    """A path with an encoded CRLF (no key needed), and a model name and a conversation id
    with control characters: each request is one access line, its fields escaped."""
    caplog.set_level(logging.INFO, logger="litecursor.access")
    gw = await start(gateway_factory)
    forged = "2026-01-01 00:00:00,000 INFO litecursor.access: 0 GET /admin 200"
    reader, writer = await connect(gw)
    writer.write(b"GET /lc%0d%0a" + forged.replace(" ", "%20").encode() + b" HTTP/1.1\r\n"
                 b"Host: x\r\nConnection: close\r\n\r\n")  # fmt: skip
    assert status_of(await read_until_closed(reader, within=5)) == 401
    writer.close()
    body = {
        "model": f"m\r\n{forged}\x1b[2J",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"cursorConversationId": f"c\n{forged}"},
    }
    assert (await gw.chat(body))[0] == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "litecursor.access"]
    assert len(lines) == 2, lines
    for line in lines:
        assert not any(c in line for c in "\r\n\x1b"), line
    assert "/lc\\x0d\\x0a2026-01-01" in lines[0]
    assert "model=m\\x0d\\x0a2026" in lines[1] and "\\x1b[2J" in lines[1]
    assert "conversation=c\\x0a2026" in lines[1]
