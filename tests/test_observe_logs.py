"""The server log: text or JSON lines (`--log-format`), the request id on every line of a request, journald's priorities."""

from __future__ import annotations

import http.client
import io
import logging
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from litecursor.observe.logs import handler
from litecursor.pipeline import Call, Outcome
from litecursor.server.keys import PIPELINE
from tests.fakes.common import Faults
from tests.fakes.routing import ask, openai_model, router_of, start_openai
from tests.processes import CLI, MOCK_CONFIG, serving

DEV_KEY = "sk-litecursor-dev-key"
#: the JSON access line's fields, a stable interface (README "Logs")
ACCESS_FIELDS = {
    "time",
    "level",
    "logger",
    "message",
    "request_id",
    "method",
    "route",
    "status",
    "model",
    "model_group",
    "deployment",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "ttfb_ms",
    "duration_ms",
    "attempts",
    "finish_reason",
    "conversation_id",
    "key",
    "user_id",
    "team_id",
    "end_user",
    "client_ip",
    "user_agent",
    "error",
    "error_type",
    "error_code",
    "client_gone",
}


def _request(port: int, method: str, path: str, body: Any = None, key: str = DEV_KEY) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.request(method, path, body=orjson.dumps(body) if body else None, headers=headers)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.headers["x-request-id"]


CHAT = {"model": "mock", "stream": True, "messages": [{"role": "user", "content": "hi there"}]}


def test_json_lines_parse_one_by_one_with_the_documented_fields() -> None:
    with serving("--insecure-http", "--log-format", "json") as (proc, port):
        chat_id = _request(port, "POST", "/cursor/chat/completions", CHAT)
        models_id = _request(port, "GET", "/v1/models")
        refused_id = _request(port, "GET", "/v1/models", key="wrong")
    assert proc.stderr is not None
    lines = [orjson.loads(line) for line in proc.stderr.read().splitlines()]
    # every line is one object with the common fields; start-up lines too
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert any("serving plain HTTP" in line["message"] for line in lines)
    access = {line["request_id"]: line for line in lines if line["logger"] == "litecursor.access"}
    assert set(access) == {chat_id, models_id, refused_id}
    for line in access.values():
        assert line.keys() == ACCESS_FIELDS
    chat = access[chat_id]
    assert (chat["method"], chat["route"], chat["status"]) == (
        "POST",
        "/cursor/chat/completions",
        200,
    )
    assert chat["model"] == chat["model_group"] == "mock" and chat["deployment"] == "mock#0"
    assert chat["stream"] is True and chat["finish_reason"] == "stop" and chat["key"] == "master"
    assert chat["prompt_tokens"] > 0 and chat["duration_ms"] >= chat["ttfb_ms"] > 0
    assert chat["client_ip"] == "127.0.0.1" and chat["error"] is None
    refused = access[refused_id]
    assert refused["status"] == 401 and refused["error_type"] == "authentication_error"
    assert refused["key"] is None and refused["level"] == "info"


class Chatty:
    """A listener that logs while a request runs, and one that breaks at its finish."""

    async def admit(self, call: Call, req: Any) -> None:
        logging.getLogger("tests.listener").info("admitting %s", req.model)

    def finish(self, call: Call, outcome: Outcome) -> None:
        raise RuntimeError("broken exporter")


@contextmanager
def captured(fmt: str) -> Iterator[io.StringIO]:
    """The root logger writing `fmt` lines to a buffer, as `litecursor serve` sets it up."""
    stream = io.StringIO()
    h = handler(stream, fmt)
    root = logging.getLogger()
    level = root.level
    root.addHandler(h)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(h)
        root.setLevel(level)


async def _noisy_request(aiohttp_server: Any, gateway_factory: Any) -> str:
    """A request during which a listener logs, the router logs (a cooldown callback that
    breaks) and the pipeline logs (a listener that breaks); returns its id."""
    (fa, ba), (_fb, bb) = await start_openai(aiohttp_server), await start_openai(aiohttp_server)
    fa.faults = Faults(status=429)
    gw = await gateway_factory(
        [openai_model("gpt-4o", ba, id="a", order=1), openai_model("gpt-4o", bb, id="b", order=2)]
    )
    gw.app[PIPELINE].add(Chatty())

    def broken(event: Any) -> None:
        raise RuntimeError("cooldown callback broke")

    router_of(gw).on_cooldown.append(broken)
    answer = await ask(gw, "gpt-4o")
    assert answer.status == 200
    return answer.headers["x-request-id"]


async def test_every_json_line_a_request_logs_carries_its_id(aiohttp_server, gateway_factory):
    with captured("json") as stream:
        request_id = await _noisy_request(aiohttp_server, gateway_factory)
        logging.getLogger("tests").info("after the request")
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    by_logger = {line["logger"]: line for line in lines}
    for name in ("tests.listener", "litecursor.router", "litecursor.pipeline", "litecursor.access"):
        assert by_logger[name]["request_id"] == request_id, name
    assert "cooldown callback broke" in by_logger["litecursor.router"]["exception"]
    assert "\n" not in stream.getvalue().strip().splitlines()[0]  # a traceback stays one line
    assert "request_id" not in by_logger["tests"]


async def test_every_text_line_a_request_logs_carries_its_id(aiohttp_server, gateway_factory):
    with captured("text") as stream:
        request_id = await _noisy_request(aiohttp_server, gateway_factory)
    text = stream.getvalue()
    for name in ("tests.listener", "litecursor.router", "litecursor.pipeline"):
        (line,) = [line for line in text.splitlines() if f" {name}: " in line]
        assert line.endswith(f" request_id={request_id}"), line


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_under_journald_each_line_starts_with_its_syslog_priority(fmt: str) -> None:
    """systemd names the stream it gave the service in JOURNAL_STREAM; journald reads the
    `<N>` prefix as the entry's priority (6 info, 4 warning, 3 error)."""
    read, write = os.pipe()
    st = os.fstat(write)
    env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    with serving("--insecure-http", "--log-format", fmt, env=env, stderr=write) as (_, port):
        os.close(write)
        _request(port, "GET", "/v1/models")
    with os.fdopen(read) as f:
        lines = f.read().splitlines()
    logged = [line for line in lines if line.startswith("<")]
    assert any(line.startswith("<4>") and "plain HTTP" in line for line in logged)
    (access,) = [line for line in logged if "litecursor.access" in line]
    assert access.startswith("<6>")
    if fmt == "json":
        assert orjson.loads(access[3:])["route"] == "/v1/models"


def test_without_journald_no_line_has_a_priority_prefix() -> None:
    with serving("--insecure-http", "--log-format", "json", env={"JOURNAL_STREAM": "1:2"}) as (
        proc,
        port,
    ):
        _request(port, "GET", "/v1/models")
    assert proc.stderr is not None
    assert all(line.startswith("{") for line in proc.stderr.read().splitlines())


def test_the_log_format_can_come_from_the_environment() -> None:
    with serving("--insecure-http", env={"LITECURSOR_LOG_FORMAT": "json"}) as (proc, port):
        _request(port, "GET", "/v1/models")
    assert proc.stderr is not None
    assert [orjson.loads(line) for line in proc.stderr.read().splitlines()]


def test_an_unknown_log_format_is_refused() -> None:
    r = subprocess.run(
        [*CLI, "serve", "--log-format", "xml"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "invalid choice: 'xml'" in r.stderr


def test_litellms_json_logs_setting_chooses_json_lines(tmp_path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(MOCK_CONFIG.read_text() + "litellm_settings:\n  json_logs: true\n")
    with serving("--insecure-http", config=config) as (proc, port):
        _request(port, "GET", "/v1/models")
    assert proc.stderr is not None
    lines = [orjson.loads(line) for line in proc.stderr.read().splitlines()]
    assert any(line["logger"] == "litecursor.access" for line in lines)


def test_an_unknown_log_format_in_the_environment_is_refused() -> None:
    r = subprocess.run(
        [*CLI, "serve", "--insecure-http", "--config", str(MOCK_CONFIG)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "LITECURSOR_LOG_FORMAT": "xml"},
    )
    assert r.returncode == 2 and "LITECURSOR_LOG_FORMAT='xml'" in r.stderr
