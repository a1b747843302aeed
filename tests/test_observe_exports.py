"""Request exports (`litellm_settings.callbacks`): jsonl, webhook and otel, against real receivers on loopback."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from litecursor.config import ConfigError, parse
from litecursor.config.observability import OTEL_MODULE, JsonlExport
from litecursor.observe.exports.jsonl import JsonlFile
from litecursor.server.keys import OBSERVE
from tests.fakes.common import Faults
from tests.fakes.receivers import Receiver, attrs, json_app, otlp_app, spans_of
from tests.fakes.routing import ask, openai_model, start_openai
from tests.harness import MASTER_KEY, Gateway

#: a record's fields, a stable interface (README "Exports")
RECORD_FIELDS = {
    "request_id",
    "start_time",
    "start_unix",
    "end_time",
    "duration_ms",
    "ttft_ms",
    "method",
    "route",
    "status",
    "success",
    "stream",
    "model",
    "model_group",
    "deployment",
    "provider",
    "upstream_model",
    "upstream_host",
    "response_id",
    "finish_reason",
    "usage",
    "cost",
    "attempts",
    "error",
    "client_gone",
    "key",
    "user_id",
    "team_id",
    "end_user",
    "conversation_id",
    "client_ip",
    "user_agent",
}
FAST = {"flush_interval": 0.05}


async def receivers(aiohttp_server: Any) -> tuple[Receiver, str, Receiver, str]:
    hook, otlp = Receiver(), Receiver()
    hook_server = await aiohttp_server(json_app(hook))
    otlp_server = await aiohttp_server(otlp_app(otlp))
    return hook, str(hook_server.make_url("/hook")), otlp, str(otlp_server.make_url("/v1/traces"))


def jsonl_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


async def wait_lines(path: Path, n: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(10):
        while len(lines := jsonl_lines(path)) < n:
            await asyncio.sleep(0.02)
    return lines


@pytest.fixture
async def exporting(aiohttp_server, gateway_factory, tmp_path):
    """A gateway exporting every request to all three exporters; a streamed, a plain and a
    failed chat request and a model list went through it."""
    fake, base = await start_openai(aiohttp_server)
    hook, hook_url, otlp, otlp_url = await receivers(aiohttp_server)
    path = tmp_path / "requests.jsonl"
    gw = await gateway_factory(
        [openai_model("gpt-4o", base, id="gpt-a")],
        router_settings={"num_retries": 0},
        litellm_settings={
            "callbacks": ["jsonl", "webhook", "otel"],
            "callback_settings": {
                "jsonl": {"path": str(path), **FAST},
                "webhook": {"url": hook_url, "headers": {"X-Receiver-Token": "rt-1"}, **FAST},
                "otel": {"endpoint": otlp_url, **FAST},
            },
        },
    )
    streamed = await ask(gw, "gpt-4o", stream=True, user="dev-hash-1")
    plain = await ask(gw, "gpt-4o")
    fake.faults = Faults(status=400, body=b'{"error": {"message": "bad tool", "type": "x"}}')
    failed = await ask(gw, "gpt-4o")
    assert (streamed.status, plain.status, failed.status) == (200, 200, 400)
    async with gw.session.get(
        gw.base + "/v1/models", headers={"authorization": f"Bearer {MASTER_KEY}"}
    ) as r:
        assert r.status == 200
    ids = [a.headers["x-request-id"] for a in (streamed, plain, failed)]
    return gw, ids, path, hook, otlp


async def test_every_request_is_one_jsonl_line_with_the_documented_fields(exporting) -> None:
    _, (streamed, plain, failed), path, _, _ = exporting
    lines = await wait_lines(path, 4)
    assert [line["request_id"] for line in lines[:3]] == [streamed, plain, failed]
    assert all(line.keys() == RECORD_FIELDS for line in lines)
    s = lines[0]
    assert (s["route"], s["status"], s["success"], s["stream"]) == (
        "/cursor/chat/completions",
        200,
        True,
        True,
    )
    assert (s["model"], s["model_group"], s["deployment"], s["provider"]) == (
        "gpt-4o",
        "gpt-4o",
        "gpt-a",
        "openai",
    )
    assert s["usage"]["prompt_tokens"] == 11 and s["usage"]["completion_tokens"] == 7
    assert s["finish_reason"] == "stop" and s["response_id"].startswith("chatcmpl-")
    assert s["end_user"] == "dev-hash-1" and s["key"] == "master" and s["error"] is None
    assert s["upstream_host"] == "127.0.0.1:" + s["upstream_host"].split(":")[1]
    assert s["duration_ms"] >= s["ttft_ms"] > 0
    (attempt,) = s["attempts"]
    assert attempt["deployment"] == "gpt-a" and attempt["status"] is None
    f = lines[2]
    assert f["status"] == 400 and f["success"] is False
    assert f["error"]["type"] == "invalid_request_error" and "bad tool" in f["error"]["message"]
    assert f["attempts"][0]["status"] == 400
    assert lines[3]["route"] == "/v1/models" and lines[3]["model"] is None


async def test_the_webhook_gets_batches_of_the_same_records(exporting) -> None:
    _, ids, path, hook, _ = exporting
    await hook.wait_for(1)
    async with asyncio.timeout(10):
        while sum(len(batch) for batch in hook.received) < 4:
            await asyncio.sleep(0.02)
    records = [r for batch in hook.received for r in batch]
    assert [r["request_id"] for r in records[:3]] == ids
    assert records == await wait_lines(path, 4)
    assert all(h["X-Receiver-Token"] == "rt-1" for h in hook.headers)


async def test_otel_spans_follow_the_genai_conventions(exporting) -> None:
    _, (streamed, plain, failed), _, _, otlp = exporting
    async with asyncio.timeout(10):
        while len(spans_of(otlp.received)) < 3:
            await asyncio.sleep(0.02)
    spans = spans_of(otlp.received)
    assert len(spans) == 3  # chat requests only: the model list is no GenAI operation
    by_trace = {span.trace_id.hex(): span for span in spans}
    assert set(by_trace) == {streamed, plain, failed}  # the request id is the trace id
    s = by_trace[streamed]
    a = attrs(s)
    assert s.name == "chat gpt-4o" and s.kind == 3  # SPAN_KIND_CLIENT
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o" and a["gen_ai.response.model"] == "gpt-4o"
    assert a["gen_ai.usage.input_tokens"] == 11 and a["gen_ai.usage.output_tokens"] == 7
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["gen_ai.response.id"].startswith("chatcmpl-")
    assert a["server.address"] == "127.0.0.1" and a["http.response.status_code"] == 200
    assert a["litecursor.deployment"] == "gpt-a" and a["litecursor.stream"] is True
    assert s.end_time_unix_nano > s.start_time_unix_nano
    assert [e.name for e in s.events] == ["attempt"]
    f = by_trace[failed]
    assert f.status.code == 2  # STATUS_CODE_ERROR
    assert attrs(f)["error.type"] == "invalid_request_error"
    resource = {
        kv.key: kv.value.string_value
        for kv in otlp.received[0].resource_spans[0].resource.attributes
    }
    assert resource["service.name"] == "litecursor"


async def test_success_and_failure_callbacks_choose_what_is_exported(
    aiohttp_server, gateway_factory, tmp_path
) -> None:
    fake, base = await start_openai(aiohttp_server)
    hook, hook_url, _, _ = await receivers(aiohttp_server)
    path = tmp_path / "failures.jsonl"
    gw = await gateway_factory(
        [openai_model("gpt-4o", base)],
        router_settings={"num_retries": 0},
        litellm_settings={
            "success_callback": ["webhook"],
            "failure_callback": ["jsonl"],
            "callback_settings": {
                "jsonl": {"path": str(path), **FAST},
                "webhook": {"url": hook_url, **FAST},
            },
        },
    )
    ok = await ask(gw, "gpt-4o")
    fake.faults = Faults(status=500)
    bad = await ask(gw, "gpt-4o")
    (failure,) = await wait_lines(path, 1)
    assert failure["request_id"] == bad.headers["x-request-id"] and failure["status"] == 502
    ((success,),) = await hook.wait_for(1)
    assert success["request_id"] == ok.headers["x-request-id"]
    await asyncio.sleep(0.2)
    assert len(jsonl_lines(path)) == 1 and len(hook.received) == 1


def test_the_jsonl_file_is_rotated_by_size(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    f = JsonlFile(JsonlExport(str(path), max_bytes=1000, backups=2))
    for i in range(100):
        f.write([{"request_id": f"{i:04d}", "pad": "x" * 60}])
    f.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]
    kept = [jsonl_lines(tmp_path / n) for n in ("r.jsonl.2", "r.jsonl.1", "r.jsonl")]
    ids = [line["request_id"] for lines in kept for line in lines]
    assert ids == [f"{i:04d}" for i in range(100 - len(ids), 100)]  # the newest, in order
    assert all((tmp_path / n).stat().st_size <= 1000 for n in names)
    assert path.stat().st_mode & 0o777 == 0o600


async def _metric(gw: Gateway, name: str, **labels: str) -> float:
    from tests.test_observe_metrics import scrape, value

    return value(await scrape(gw), name, **labels)


async def test_a_receiver_that_is_down_loses_the_oldest_records_counted(
    aiohttp_server, gateway_factory
) -> None:
    _fake, base = await start_openai(aiohttp_server)
    hook, hook_url, _, _ = await receivers(aiohttp_server)
    hook.failing = True
    gw = await gateway_factory(
        [openai_model("gpt-4o", base)],
        litellm_settings={
            "callbacks": ["webhook"],
            "callback_settings": {"webhook": {"url": hook_url, "queue_size": 5, **FAST}},
        },
    )
    (export,) = gw.app[OBSERVE].exports.exports
    export.delivery.backoff_first = 0.05
    answers = [await ask(gw, "gpt-4o") for _ in range(12)]
    assert all(a.status == 200 for a in answers)
    async with asyncio.timeout(5):
        while hook.posts < 2:  # tried, failed, tried again
            await asyncio.sleep(0.02)
    assert export.delivery.dropped == 7
    assert await _metric(gw, "litecursor_export_dropped_total", exporter="webhook") == 7
    hook.failing = False
    async with asyncio.timeout(10):
        while sum(len(b) for b in hook.received) < 5:
            await asyncio.sleep(0.02)
    delivered = [r["request_id"] for batch in hook.received for r in batch]
    assert delivered == [a.headers["x-request-id"] for a in answers[-5:]]


async def test_a_receiver_that_hangs_never_delays_a_request(
    aiohttp_server, gateway_factory
) -> None:
    _fake, base = await start_openai(aiohttp_server)
    hook, hook_url, otlp, otlp_url = await receivers(aiohttp_server)
    hook.hang = otlp.hang = True
    gw = await gateway_factory(
        [openai_model("gpt-4o", base)],
        litellm_settings={
            "callbacks": ["webhook", "otel"],
            "callback_settings": {
                "webhook": {"url": hook_url, "batch_size": 1, "timeout": 5, **FAST},
                "otel": {"endpoint": otlp_url, "batch_size": 1, "timeout": 5, **FAST},
            },
        },
    )
    await ask(gw, "gpt-4o")  # warm: connections, first span
    async with asyncio.timeout(5):
        while hook.posts < 1 or otlp.posts < 1:
            await asyncio.sleep(0.02)
    started = time.monotonic()
    answers = [await ask(gw, "gpt-4o", stream=i % 2 == 0) for i in range(20)]
    took = time.monotonic() - started
    assert all(a.status == 200 for a in answers)
    # both receivers hold a POST open for 5 s meanwhile; 20 requests take well under 1 s
    # on loopback, generously bounded for a busy machine
    assert took < 5.0, took
    assert hook.posts == 1 and otlp.posts == 1
    hook.release()
    otlp.release()


async def test_an_exporter_that_cannot_write_never_fails_a_request(
    aiohttp_server, gateway_factory, tmp_path
) -> None:
    _fake, base = await start_openai(aiohttp_server)
    (tmp_path / "file").write_text("")
    gw = await gateway_factory(
        [openai_model("gpt-4o", base)],
        litellm_settings={
            "callbacks": ["jsonl"],
            "callback_settings": {"jsonl": {"path": str(tmp_path / "file" / "r.jsonl"), **FAST}},
        },
    )
    (export,) = gw.app[OBSERVE].exports.exports
    for _ in range(3):
        assert (await ask(gw, "gpt-4o")).status == 200
    async with asyncio.timeout(5):
        while export.delivery.failures < 1:
            await asyncio.sleep(0.02)


def _config(**litellm: Any) -> Any:
    return parse(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/x"}}],
            "general_settings": {"master_key": "k"},
            "litellm_settings": litellm,
        },
        environ={},
    )


def test_otel_without_its_extra_is_a_startup_error_naming_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, OTEL_MODULE, None)  # as if not installed
    with pytest.raises(ConfigError) as e:
        _config(callbacks=["otel"])
    assert "pip install 'litecursor[otel]'" in str(e.value)
    assert str(e.value).startswith("litellm_settings.callbacks:")


def test_the_webhook_exporter_needs_its_url() -> None:
    with pytest.raises(ConfigError, match=r"callback_settings\.webhook\.url: missing"):
        _config(callbacks=["webhook"])


def test_the_otel_endpoint_and_headers_come_from_opentelemetry_variables() -> None:
    c = parse(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/x"}}],
            "general_settings": {"master_key": "k"},
            "litellm_settings": {"callbacks": ["otel"]},
        },
        environ={
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318/",
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20abc,x-team=a",
            "OTEL_SERVICE_NAME": "gw-eu",
        },
    )
    (e,) = c.observability.exports
    assert e.target.endpoint == "https://collector:4318/v1/traces"
    assert e.target.headers == {"Authorization": "Basic abc", "x-team": "a"}
    assert e.target.service_name == "gw-eu"


def test_grpc_is_refused_with_what_is_supported() -> None:
    with pytest.raises(ConfigError, match="http/protobuf"):
        parse(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/x"}}],
                "general_settings": {"master_key": "k"},
                "litellm_settings": {"callbacks": ["otel"]},
            },
            environ={"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        )


def test_prometheus_is_accepted_and_unknown_callbacks_are_warned_about() -> None:
    c = _config(callbacks=["prometheus", "langfuse"])
    assert c.observability.exports == ()
    assert [w for w in c.warnings if "langfuse" in w]
    assert not [w for w in c.warnings if "prometheus" in w]


async def test_records_still_queued_at_shutdown_are_written(
    aiohttp_server, dev_certs, tmp_path
) -> None:
    from tests.harness import make_config, run_gateway

    _fake, base = await start_openai(aiohttp_server)
    path = tmp_path / "r.jsonl"
    config = make_config(
        [openai_model("gpt-4o", base)],
        litellm_settings={
            "callbacks": ["jsonl"],
            # nothing would leave before a minute: only the shutdown flush writes them
            "callback_settings": {"jsonl": {"path": str(path), "flush_interval": 60}},
        },
    )
    async with run_gateway(config, dev_certs) as gw:
        ids = [(await ask(gw, "gpt-4o")).headers["x-request-id"] for _ in range(3)]
        assert not jsonl_lines(path)
    assert [line["request_id"] for line in jsonl_lines(path)] == ids


def test_sigterm_flushes_the_exports(tmp_path) -> None:
    """`litecursor serve` stopped by SIGTERM writes what its exporters still hold."""
    from tests.processes import MOCK_CONFIG, serving
    from tests.test_observe_logs import CHAT, _request

    path = tmp_path / "r.jsonl"
    config = tmp_path / "config.yaml"
    config.write_text(
        MOCK_CONFIG.read_text()
        + "litellm_settings:\n  callbacks: [jsonl]\n  callback_settings:\n"
        + f"    jsonl: {{path: {path}, flush_interval: 60}}\n"
    )
    with serving("--insecure-http", config=config) as (proc, port):
        request_id = _request(port, "POST", "/v1/chat/completions", {**CHAT, "stream": False})
        assert not jsonl_lines(path)
    assert proc.returncode == 0
    assert [line["request_id"] for line in jsonl_lines(path)] == [request_id]
