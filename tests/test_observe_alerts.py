"""Alerts (`general_settings.alerting`): received by a local Slack-shaped webhook and a JSON webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from litecursor.config import ConfigError, parse
from litecursor.config.observability import AlertSettings
from litecursor.observe.alerts import Alerts
from litecursor.server.keys import OBSERVE
from tests.fakes.common import Faults
from tests.fakes.receivers import Receiver, json_app
from tests.fakes.routing import ask, openai_model, start_openai

PERIOD_1 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
PERIOD_2 = 1_769_904_000.0  # 2026-02-01T00:00:00Z


async def receiver_pair(aiohttp_server: Any) -> tuple[Receiver, str, Receiver, str]:
    slack, hook = Receiver(), Receiver()
    slack_server = await aiohttp_server(json_app(slack, "/services/T0/B0/secret"))
    hook_server = await aiohttp_server(json_app(hook))
    return (
        slack,
        str(slack_server.make_url("/services/T0/B0/secret")),
        hook,
        str(hook_server.make_url("/hook")),
    )


@pytest.fixture
async def alerts(aiohttp_server: Any) -> AsyncIterator[tuple[Alerts, Receiver, Receiver]]:
    """`Alerts` as the gateway runs it, sending to both receivers."""
    slack, slack_url, hook, hook_url = await receiver_pair(aiohttp_server)
    a = Alerts(
        AlertSettings(receivers={"slack": slack_url, "webhook": hook_url}), backoff_first=0.05
    )
    async with aiohttp.ClientSession() as session:
        a.start(session)
        yield a, slack, hook
        await a.close()


async def settle() -> None:
    """Long enough for anything queued to have been sent."""
    await asyncio.sleep(0.5)


async def test_a_budget_is_alerted_at_80_and_100_percent_once_per_period(alerts) -> None:
    a, slack, hook = alerts
    a.budget_crossed("key", "h4sh", "alice", 5.0, 10.0, PERIOD_1)  # 50%: nothing
    a.budget_crossed("key", "h4sh", "alice", 8.5, 10.0, PERIOD_1)
    a.budget_crossed("key", "h4sh", "alice", 9.0, 10.0, PERIOD_1)  # 80% again: nothing
    a.budget_crossed("key", "h4sh", "alice", 10.25, 10.0, PERIOD_1)
    a.budget_crossed("key", "h4sh", "alice", 12.0, 10.0, PERIOD_1)  # 100% again: nothing
    a.budget_crossed("key", "h4sh", "alice", 8.1, 10.0, PERIOD_2)  # a new period
    await hook.wait_for(3)
    await settle()
    assert [b["event"] for b in hook.received] == [
        "threshold_crossed",
        "budget_crossed",
        "threshold_crossed",
    ]
    first = hook.received[0]
    # LiteLLM's webhook fields, then litecursor's
    assert first["spend"] == 8.5 and first["max_budget"] == 10.0
    assert first["token"] == "h4sh" and first["key_alias"] == "alice"
    assert first["event_group"] == "key" and first["user_id"] is None
    assert first["threshold"] == 0.8 and first["period_start"] == "2026-01-01T00:00:00Z"
    assert first["source"] == "litecursor" and first["time"].endswith("Z")
    assert "alice" in first["event_message"] and "80%" in first["event_message"]
    assert len(slack.received) == 3
    assert all(set(b) == {"text"} for b in slack.received)
    assert "Key 'alice' reached 80% of its budget: $8.50 of $10.00" in slack.received[0]["text"]
    assert "Key 'alice' has spent its budget: $10.25 of $10.00" in slack.received[1]["text"]


async def test_a_jump_past_the_budget_sends_only_the_100_percent_alert(alerts) -> None:
    a, _, hook = alerts
    a.budget_crossed("team", "t-1", "platform", 30.0, 20.0, None)
    a.budget_crossed("team", "t-1", "platform", 31.0, 20.0, None)
    (only,) = await hook.wait_for(1)
    await settle()
    assert len(hook.received) == 1
    assert only["event"] == "budget_crossed" and only["event_group"] == "team"
    assert only["team_id"] == "t-1" and only["period_start"] is None


async def test_budgets_of_different_owners_are_alerted_separately(alerts) -> None:
    a, _, hook = alerts
    for kind in ("key", "user", "team", "end_user", "proxy"):
        a.budget_crossed(kind, "same-id", None, 9.0, 10.0, PERIOD_1)
    await hook.wait_for(5)
    assert sorted(b["event_group"] for b in hook.received) == [
        "end_user",
        "key",
        "proxy",
        "team",
        "user",
    ]


async def test_a_receiver_that_is_down_gets_the_alert_once_it_is_back(alerts) -> None:
    a, slack, hook = alerts
    hook.failing = True
    a.budget_crossed("user", "u-1", "bob", 10.0, 10.0, PERIOD_1)
    (to_slack,) = await slack.wait_for(1)  # the other receiver is not held up
    async with asyncio.timeout(5):
        while hook.posts < 2:  # tried and failed, retried with backoff
            await asyncio.sleep(0.02)
    hook.failing = False
    (to_hook,) = await hook.wait_for(1)
    assert to_hook["event"] == "budget_crossed" and to_hook["user_id"] == "u-1"
    assert "User 'bob' has spent its budget" in to_slack["text"]


def alerting(slack_url: str, hook_url: str, **general: Any) -> dict[str, Any]:
    return {
        "master_key": "sk-test-master",
        "alerting": ["slack", "webhook"],
        "alerting_args": {
            "slack_webhook_url": slack_url,
            "webhook_url": hook_url,
            **general.pop("args", {}),
        },
        **general,
    }


async def test_a_deployment_entering_cooldown_is_alerted(aiohttp_server, gateway_factory):
    slack, slack_url, hook, hook_url = await receiver_pair(aiohttp_server)
    (fa, ba), (_fb, bb) = await start_openai(aiohttp_server), await start_openai(aiohttp_server)
    fa.faults = Faults(status=429)
    gw = await gateway_factory(
        [openai_model("gpt-4o", ba, id="a", order=1), openai_model("gpt-4o", bb, id="b", order=2)],
        general_settings=alerting(slack_url, hook_url),
        router_settings={"cooldown_time": 0.2},
    )
    assert (await ask(gw, "gpt-4o")).deployment == "b"
    (alert,) = await hook.wait_for(1)
    assert alert["event"] == "cooldown_deployment" and alert["event_group"] == "deployment"
    assert alert["deployment"] == "a" and alert["model_group"] == "gpt-4o"
    assert alert["status"] == 429 and alert["cooldown_seconds"] == 0.2
    (to_slack,) = await slack.wait_for(1)
    assert "Deployment a (model gpt-4o) is cooling down" in to_slack["text"]
    # cooling down again within the minute (cooldown_alert_ttl) is not alerted again
    await asyncio.sleep(0.3)
    assert (await ask(gw, "gpt-4o")).deployment == "b"
    assert len(fa.requests) == 2
    await settle()
    assert len(hook.received) == 1


async def test_dropped_exports_and_spend_rows_are_alerted(aiohttp_server, gateway_factory) -> None:
    slack, slack_url, hook, hook_url = await receiver_pair(aiohttp_server)
    down = Receiver(failing=True)
    down_server = await aiohttp_server(json_app(down))
    _fake, base = await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [openai_model("gpt-4o", base)],
        general_settings=alerting(slack_url, hook_url),
        litellm_settings={
            "callbacks": ["webhook"],
            "callback_settings": {
                "webhook": {"url": str(down_server.make_url("/hook")), "queue_size": 2}
            },
        },
    )
    for _ in range(4):
        await ask(gw, "gpt-4o")
    observe = gw.app[OBSERVE]
    observe.spend_rows_dropped(3, 3)  # what the spend writer calls when its queue is full
    observe.spend_rows_dropped(1, 4)  # within drop_alert_ttl: no second alert
    received = await hook.wait_for(2)
    await settle()
    by_event = {b["event"]: b for b in received}
    assert set(by_event) == {"export_dropped", "failed_tracking_spend"}
    assert by_event["export_dropped"]["what"] == "export:webhook"
    assert by_event["export_dropped"]["dropped_total"] == 1  # the first drop alerts
    assert by_event["failed_tracking_spend"]["dropped_total"] == 3
    assert len(slack.received) == 2


async def test_a_slow_request_is_alerted_past_the_alerting_threshold(
    aiohttp_server, gateway_factory
) -> None:
    _slack, slack_url, hook, hook_url = await receiver_pair(aiohttp_server)
    fake, base = await start_openai(aiohttp_server)
    fake.faults = Faults(first_byte_delay=0.3)
    gw = await gateway_factory(
        [openai_model("gpt-4o", base, id="slowpoke")],
        general_settings=alerting(slack_url, hook_url, alerting_threshold=0.2),
    )
    answer = await ask(gw, "gpt-4o")
    (alert,) = await hook.wait_for(1)
    assert alert["event"] == "llm_too_slow" and alert["deployment"] == "slowpoke"
    assert alert["request_id"] == answer.headers["x-request-id"] and alert["duration_s"] >= 0.3


async def test_alert_types_choose_what_is_sent(aiohttp_server, gateway_factory) -> None:
    _slack, slack_url, hook, hook_url = await receiver_pair(aiohttp_server)
    gw = await gateway_factory(
        [{"model_name": "m", "litellm_params": {"model": "mock/x"}}],
        general_settings=alerting(slack_url, hook_url, alert_types=["budget_alerts"]),
    )
    observe = gw.app[OBSERVE]
    observe.spend_rows_dropped(1, 1)
    observe.alerts.budget_crossed("key", "k", None, 1.0, 1.0, None)
    (only,) = await hook.wait_for(1)
    await settle()
    assert only["event"] == "budget_crossed" and len(hook.received) == 1


def _cfg(general: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return parse(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/x"}}],
            "general_settings": {"master_key": "k", **general},
        },
        environ=env or {},
    )


@pytest.mark.parametrize(
    ("kind", "variable"), [("slack", "SLACK_WEBHOOK_URL"), ("webhook", "WEBHOOK_URL")]
)
def test_an_alert_kind_without_a_receiver_is_a_startup_error(kind: str, variable: str) -> None:
    with pytest.raises(ConfigError) as e:
        _cfg({"alerting": [kind]})
    message = str(e.value)
    assert message.startswith("general_settings.alerting[0]:") and variable in message


def test_receivers_come_from_litellms_variables() -> None:
    c = _cfg(
        {"alerting": ["slack", "webhook"]},
        {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/x", "WEBHOOK_URL": "https://h/"},
    )
    assert dict(c.observability.alerts.receivers) == {
        "slack": "https://hooks.slack.com/services/x",
        "webhook": "https://h/",
    }


def test_alerting_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"alerting\[0\]: 'pager' is not one of slack, webhook"):
        _cfg({"alerting": ["pager"]})
    with pytest.raises(ConfigError, match=r"alert_types\[0\]: 'everything' is not one of"):
        _cfg({"alerting": [], "alert_types": ["everything"]})
    with pytest.raises(ConfigError, match="budget_alert_thresholds"):
        _cfg({"alerting_args": {"budget_alert_thresholds": [150]}})
    c = _cfg(
        {
            "alerting": ["email"],
            "alert_types": ["budget_alerts", "daily_reports"],
            "alerting_threshold": 120,
            "alerting_args": {"budget_alert_thresholds": [50, 100], "daily_report_frequency": 1},
        }
    )
    a = c.observability.alerts
    assert not a.enabled and a.slow_seconds == 120 and a.budget_thresholds == (0.5, 1.0)
    assert {w.split(" ")[0] for w in c.warnings} == {
        "general_settings.alerting[0]",
        "general_settings.alert_types[1]",
        "general_settings.alerting_args.daily_report_frequency",
    }
