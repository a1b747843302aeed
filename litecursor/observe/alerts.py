"""Alerts to Slack and to a webhook: budgets crossed, deployments cooling down, spend rows or exports dropped, slow requests.

Each kind is sent once per what it is about: a budget's threshold once per budget period, a
deployment's cooldown, a drop or a slow deployment at most once per their `*_ttl`. Alerts
queue per receiver and leave from a background task (`delivery.Delivery`): retried with
backoff, bounded, never on a request's path.

Slack receives its incoming-webhook JSON (`{"text": ...}`). The webhook receives one JSON
object per alert, documented in the README ("Alerts"); budget alerts carry LiteLLM's fields
(`spend`, `max_budget`, `token`, `user_id`, `team_id`, `key_alias`, `event`, `event_group`,
`event_message`) so a receiver written for LiteLLM reads them as they are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from ..config.observability import AlertSettings
from ..pipeline import Call, Outcome
from .delivery import Delivery, post_json

if TYPE_CHECKING:
    from ..router import Cooldown

log = logging.getLogger("litecursor.alerts")

#: who a budget belongs to, as the keys feature names them
BUDGET_KINDS = ("key", "user", "team", "end_user", "proxy")
_BUDGET_NAMES = {
    "key": "Key",
    "user": "User",
    "team": "Team",
    "end_user": "End user",
    "proxy": "Proxy",
}


@dataclass(frozen=True, slots=True)
class Alert:
    #: `threshold_crossed`, `budget_crossed`, `cooldown_deployment`,
    #: `failed_tracking_spend`, `export_dropped`, `llm_too_slow`
    event: str
    #: what it is about: key, user, team, end_user, proxy, deployment
    group: str
    message: str
    at: float
    fields: Mapping[str, Any] = field(default_factory=dict)

    def webhook_body(self) -> bytes:
        body: dict[str, Any] = {
            "source": "litecursor",
            "event": self.event,
            "event_group": self.group,
            "event_message": self.message,
            "time": _iso(self.at),
        }
        body.update(self.fields)
        return orjson.dumps(body)

    def slack_body(self) -> bytes:
        icon = ":rotating_light:" if self.event in _URGENT else ":warning:"
        return orjson.dumps({"text": f"{icon} *litecursor*: {self.message}"})


_URGENT = frozenset({"budget_crossed", "failed_tracking_spend", "export_dropped"})


def _bind(
    on_drop: Callable[[str, int], None] | None, receiver: str
) -> Callable[[int], None] | None:
    if on_drop is None:
        return None
    return lambda n: on_drop(receiver, n)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _money(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else f"${x:.4f}"


@dataclass(slots=True)
class AlertMemory:
    """What has been alerted: kept for the process's life, whatever config it serves."""

    #: (kind, id) -> (period_start, highest fraction alerted in that period)
    budgets: dict[tuple[str, str], tuple[float | None, float]] = field(default_factory=dict)
    #: (event, subject) -> when it was last sent (monotonic)
    recent: dict[tuple[str, str], float] = field(default_factory=dict)


class Alerts:
    """Decides what is worth an alert and queues it for every receiver.

    `budget_crossed` is the interface the keys feature calls after it settles a request's
    cost; `cooldown` is a router `on_cooldown` callback; `dropped` is called by whatever
    drops (the spend writer, the exporters); `finish` (a pipeline listener) sees slow
    requests.
    """

    def __init__(
        self,
        settings: AlertSettings,
        session: aiohttp.ClientSession | None = None,
        *,
        on_drop: Callable[[str, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        backoff_first: float = 1.0,
        memory: AlertMemory | None = None,
    ) -> None:
        """`memory`: what was already alerted, kept by the process across reloads (a new
        config must not alert a budget or a cooldown again)."""
        self.settings = settings
        self._session = session
        self._clock = clock
        self._wall = wall
        memory = memory if memory is not None else AlertMemory()
        self._budgets = memory.budgets
        self._recent = memory.recent
        self.receivers: dict[str, Delivery[Alert]] = {}
        for name, url in settings.receivers.items():
            self.receivers[name] = Delivery(
                f"alerts-{name}",
                self._sender(name, url),
                batch_size=1,
                flush_interval=0.2,
                queue_size=settings.queue_size,
                on_drop=_bind(on_drop, name),
                backoff_first=backoff_first,
            )

    def _sender(self, receiver: str, url: str) -> Any:
        async def send(batch: list[Alert]) -> None:
            assert self._session is not None, "Alerts.start() was not given a session"
            for alert in batch:
                body = alert.slack_body() if receiver == "slack" else alert.webhook_body()
                await post_json(self._session, url, body)

        return send

    @property
    def enabled(self) -> bool:
        return bool(self.receivers)

    def start(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        for d in self.receivers.values():
            d.start()

    async def close(self, timeout: float = 5.0) -> None:
        await asyncio.gather(*(d.close(timeout) for d in self.receivers.values()))

    def send(self, alert: Alert) -> None:
        for d in self.receivers.values():
            d.put(alert)

    def _wants(self, kind: str) -> bool:
        return bool(self.receivers) and kind in self.settings.types

    def _first_in(self, event: str, subject: str, ttl: float) -> bool:
        """Whether this (event, subject) was not alerted within `ttl` seconds; records it."""
        now = self._clock()
        last = self._recent.get((event, subject))
        if last is not None and now - last < ttl:
            return False
        self._recent[(event, subject)] = now
        return True

    # -- budgets -------------------------------------------------------------------------

    def budget_crossed(
        self,
        kind: str,
        id: str,
        alias: str | None,
        spend: float,
        limit: float,
        period_start: float | None,
    ) -> None:
        """A budget's spend is now `spend` of `limit` in the period that began at
        `period_start` (epoch seconds; None: a budget that never resets). Sends the highest
        threshold (80%, 100% by default) it reached and has not been alerted for in this
        period. Cheap when nothing is crossed: call it after every settled request."""
        if not self._wants("budget_alerts"):
            return
        share = spend / limit if limit > 0 else float("inf")
        crossed = [t for t in self.settings.budget_thresholds if share >= t]
        if not crossed:
            return
        top = crossed[-1]
        key = (kind, id)
        seen = self._budgets.get(key)
        if seen is not None and seen[0] == period_start and seen[1] >= top:
            return
        self._budgets[key] = (period_start, top)
        full = top >= 1.0
        name = _BUDGET_NAMES.get(kind, kind)
        who = f"{name} '{alias}'" if alias else f"{name} {id}" if kind != "proxy" else "The proxy"
        message = (
            f"{who} {'has spent its budget' if full else f'reached {top:.0%} of its budget'}: "
            f"{_money(spend)} of {_money(limit)}"
            + (f" (period since {_iso(period_start)})" if period_start is not None else "")
        )
        self.send(
            Alert(
                event="budget_crossed" if full else "threshold_crossed",
                group=kind,
                message=message,
                at=self._wall(),
                fields={
                    # LiteLLM's webhook fields
                    "spend": spend,
                    "max_budget": limit,
                    "token": id if kind == "key" else None,
                    "user_id": id if kind == "user" else None,
                    "team_id": id if kind == "team" else None,
                    "user_email": None,
                    "key_alias": alias if kind == "key" else None,
                    "projected_exceeded_data": None,
                    "projected_spend": None,
                    # litecursor's
                    "id": id,
                    "alias": alias,
                    "threshold": top,
                    "period_start": _iso(period_start) if period_start is not None else None,
                },
            )
        )

    # -- the router ----------------------------------------------------------------------

    def cooldown(self, event: Cooldown) -> None:
        """A router `on_cooldown` callback."""
        d = event.deployment
        if not self._wants("cooldown_deployment") or not self._first_in(
            "cooldown_deployment", d.id, self.settings.cooldown_ttl
        ):
            return
        why = f"HTTP {event.status}" if event.status is not None else "no answer"
        self.send(
            Alert(
                event="cooldown_deployment",
                group="deployment",
                message=(
                    f"Deployment {d.id} (model {d.model_name}) is cooling down for "
                    f"{event.seconds:.0f} s after {why}: {event.message}"
                ),
                at=self._wall(),
                fields={
                    "deployment": d.id,
                    "model_group": d.model_name,
                    "cooldown_seconds": event.seconds,
                    "status": event.status,
                    "error": event.message,
                },
            )
        )

    # -- drops ---------------------------------------------------------------------------

    def dropped(self, what: str, total: int) -> None:
        """Something is being dropped: `spend_rows` (the spend queue is full) or
        `export:<exporter>`; `total` is how many since start."""
        event = "failed_tracking_spend" if what == "spend_rows" else "export_dropped"
        if not self._wants(event) or not self._first_in(event, what, self.settings.drop_ttl):
            return
        if what == "spend_rows":
            message = (
                f"Spend rows are being dropped: the database is unreachable and the spend "
                f"queue is full ({total} dropped since start; budgets still count them)"
            )
        else:
            message = (
                f"The {what.partition(':')[2]} exporter is dropping request records: its "
                f"receiver is down or too slow ({total} dropped since start)"
            )
        self.send(
            Alert(
                event=event,
                group="proxy",
                message=message,
                at=self._wall(),
                fields={"what": what, "dropped_total": total},
            )
        )

    # -- slow requests (a finish listener) -----------------------------------------------

    def finish(self, call: Call, outcome: Outcome) -> None:
        took = outcome.ended_at - call.started
        if took < self.settings.slow_seconds or outcome.model_group is None:
            return
        d = outcome.deployment
        subject = d.id if d is not None else outcome.model_group
        if not self._wants("llm_too_slow") or not self._first_in(
            "llm_too_slow", subject, self.settings.slow_ttl
        ):
            return
        self.send(
            Alert(
                event="llm_too_slow",
                group="deployment",
                message=(
                    f"A request to {outcome.model_group} took {took:.0f} s on "
                    f"{subject} (alerting_threshold {self.settings.slow_seconds:g} s; "
                    f"request {call.request_id})"
                ),
                at=self._wall(),
                fields={
                    "deployment": d.id if d is not None else None,
                    "model_group": outcome.model_group,
                    "duration_s": round(took, 3),
                    "request_id": call.request_id,
                },
            )
        )
