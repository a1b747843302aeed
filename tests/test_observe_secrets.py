"""No secret leaves through observability: every export, alert, metric and log line is searched for the keys."""

from __future__ import annotations

import asyncio
import io
import logging

import orjson

from litecursor.observe.logs import handler
from litecursor.server.keys import OBSERVE
from tests.fakes.common import Faults
from tests.fakes.receivers import Receiver, json_app, otlp_app, spans_of
from tests.fakes.routing import UPSTREAM_KEY, ask, openai_model, start_openai
from tests.harness import MASTER_KEY

CLIENT_WRONG_KEY = "sk-client-guess-7f3a9c"


async def test_no_key_or_authorization_header_in_any_export_alert_metric_or_log_line(
    aiohttp_server, gateway_factory, tmp_path
) -> None:
    hook, otlp, alert_hook, slack = Receiver(), Receiver(), Receiver(), Receiver()
    urls = {}
    for name, app in (
        ("hook", json_app(hook)),
        ("otlp", otlp_app(otlp)),
        ("alert", json_app(alert_hook)),
        ("slack", json_app(slack)),
    ):
        server = await aiohttp_server(app)
        urls[name] = str(server.make_url("/v1/traces" if name == "otlp" else "/hook"))
    (fa, ba), (fb, bb) = await start_openai(aiohttp_server), await start_openai(aiohttp_server)
    path = tmp_path / "requests.jsonl"
    fast = {"flush_interval": 0.05}
    gw = await gateway_factory(
        [openai_model("gpt-4o", ba, id="a", order=1), openai_model("gpt-4o", bb, id="b", order=2)],
        router_settings={"num_retries": 1},
        general_settings={
            "master_key": MASTER_KEY,
            "alerting": ["slack", "webhook"],
            "alerting_args": {"slack_webhook_url": urls["slack"], "webhook_url": urls["alert"]},
        },
        litellm_settings={
            "callbacks": ["jsonl", "webhook", "otel"],
            "callback_settings": {
                "jsonl": {"path": str(path), **fast},
                "webhook": {"url": urls["hook"], **fast},
                "otel": {"endpoint": urls["otlp"], **fast},
            },
        },
    )
    json_log, text_log = io.StringIO(), io.StringIO()
    handlers = [handler(json_log, "json"), handler(text_log, "text")]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    for h in handlers:
        root.addHandler(h)
    try:
        # providers echo the key they were sent in their errors
        echo = f"Incorrect API key provided: {UPSTREAM_KEY}. Bearer {UPSTREAM_KEY}"
        fa.faults = Faults(status=429, body=orjson.dumps({"error": {"message": echo}}))
        assert (await ask(gw, "gpt-4o", stream=True)).status == 200  # a cooled down, b answers
        fb.faults = Faults(status=400, body=orjson.dumps({"error": {"message": echo}}))
        assert (await ask(gw, "gpt-4o")).status == 400
        async with gw.session.get(
            gw.base + "/v1/models", headers={"authorization": f"Bearer {CLIENT_WRONG_KEY}"}
        ) as r:
            assert r.status == 401
        gw.app[OBSERVE].alerts.budget_crossed("key", "hash", "alice", 10.0, 10.0, None)
        async with gw.session.get(
            gw.base + "/metrics", headers={"authorization": f"Bearer {MASTER_KEY}"}
        ) as r:
            metrics = await r.text()
        async with asyncio.timeout(10):
            while (
                len(path.read_bytes().splitlines() if path.exists() else []) < 3
                or sum(len(b) for b in hook.received) < 3
                or len(spans_of(otlp.received)) < 2
                or len(alert_hook.received) < 2
                or len(slack.received) < 2
            ):
                await asyncio.sleep(0.05)
    finally:
        for h in handlers:
            root.removeHandler(h)
        root.setLevel(level)
    outputs = {
        "jsonl": path.read_text(),
        "webhook export": orjson.dumps(hook.received).decode(),
        "otel export": b"".join(r.SerializeToString() for r in otlp.received).decode("latin-1")
        + "".join(str(r) for r in otlp.received),
        "webhook alerts": orjson.dumps(alert_hook.received).decode(),
        "slack alerts": orjson.dumps(slack.received).decode(),
        "metrics": metrics,
        "json log": json_log.getvalue(),
        "text log": text_log.getvalue(),
    }
    # the provider's echoed error did reach the outputs (cleaned): the search is not vacuous
    assert "Incorrect API key provided: [redacted]" in outputs["jsonl"]
    assert "Incorrect API key provided: [redacted]" in outputs["json log"]
    assert "cooling down" in outputs["webhook alerts"]
    for where, text in outputs.items():
        for secret in (UPSTREAM_KEY, MASTER_KEY, CLIENT_WRONG_KEY, "Bearer sk-"):
            assert secret not in text, f"{secret!r} found in the {where}"
        assert "authorization" not in text.lower(), where
