"""The admin page's own JSON: the overview, the developers (per key or per user), one developer.

Everything adds up `activity_hourly` (a few rows per hour, written with the log), never the
log itself, so each answer costs the same with a thousand rows or a million. Admin only, with
the session or a bearer key, like the rest of the admin API.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson
from aiohttp import web

from ...errors import InvalidRequestError, NotFoundError
from ...requestlog.live import OpenStreams
from ...store import KeyRecord, Store
from ...store.sql_activity import GroupTotals, Totals
from ...store.tokens import looks_hashed
from ..keys import PIPELINE, ROUTER, STORE
from ..logs_api import MASTER, NONE, iso
from .state import require_admin

HOUR, DAY = 3600.0, 86400.0
#: period name -> (length, bucket)
RANGES = {"24h": (DAY, HOUR), "7d": (7 * DAY, HOUR), "30d": (30 * DAY, DAY)}
TOP = 10


@dataclass(frozen=True, slots=True)
class Period:
    name: str
    start: float
    end: float
    step: float
    #: the viewer's offset east of UTC, in seconds: days start at their midnight
    offset: float

    @property
    def bucket(self) -> str:
        return "day" if self.step == DAY else "hour"


def period_of(q: Any, default: str, now: float | None = None) -> Period:
    """`range=24h|7d|30d` (hours up to 7 days, days for 30) ending with the current hour or
    day; `tz=` the viewer's minutes east of UTC."""
    name = q.get("range") or default
    if name not in RANGES:
        raise InvalidRequestError(f"range must be one of {', '.join(RANGES)}", param="range")
    tz = q.get("tz") or "0"
    try:
        offset = float(int(tz)) * 60
    except ValueError:
        raise InvalidRequestError("tz must be whole minutes east of UTC", param="tz") from None
    if abs(offset) > 14 * HOUR:
        raise InvalidRequestError("tz must be between -840 and 840 minutes", param="tz")
    now = time.time() if now is None else now
    span, step = RANGES[name]
    # the period ends with the current hour, or the viewer's current day
    hour_end = (now // HOUR + 1) * HOUR
    end = hour_end if step == HOUR else ((now + offset) // DAY + 1) * DAY - offset
    return Period(name, end - span, end, step, offset)


def totals_json(t: Totals) -> dict[str, Any]:
    return {
        "requests": t.requests,
        "ok": t.requests - t.errors,
        "errors": t.errors,
        "streamed": t.streamed,
        "spend": round(t.spend, 10),
        "prompt_tokens": t.prompt_tokens,
        "cached_tokens": t.cached_tokens,
        "uncached_tokens": t.prompt_tokens - t.cached_tokens,
        "completion_tokens": t.completion_tokens,
        "tokens": t.prompt_tokens + t.completion_tokens,
    }


def _models(g: GroupTotals) -> list[dict[str, Any]]:
    return [{"model": m, "requests": n, "spend": round(s, 10)} for m, n, s in g.models[:5]]


def key_json(id: str | None, record: KeyRecord | None, alias: str | None) -> dict[str, Any]:
    """Who a key is: its record when it exists, else what the log remembers of it. `id` is
    a key's hash, "master", or None: requests made with no key (all refused)."""
    if id is None or id == MASTER:
        kind = "none" if id is None else "master"
        return {
            "id": id or NONE,
            "kind": kind,
            "key_hash": None,
            "key_alias": None,
            "key_name": None,
        }
    hash = id
    if record is None:
        return {
            "id": hash, "kind": "key", "key_hash": hash, "key_alias": alias, "key_name": None,
            "deleted": True,
        }  # fmt: skip
    b = record.budget
    return {
        "id": hash,
        "kind": "key",
        "key_hash": hash,
        "key_alias": record.key_alias,
        "key_name": record.key_name,
        "user_id": record.user_id,
        "team_id": record.team_id,
        "blocked": record.blocked,
        "deleted": False,
        "expires_at": iso(record.expires_at),
        "created_at": iso(record.created_at),
        "models": list(record.models),
        "limits": {
            "rpm_limit": record.limits.rpm_limit,
            "tpm_limit": record.limits.tpm_limit,
            "max_parallel_requests": record.limits.max_parallel_requests,
        },
        "budget": {
            "spend": round(b.spend, 10),
            "max_budget": b.max_budget,
            "budget_duration": b.duration,
            "budget_reset_at": iso(b.reset_at),
        },
    }


async def _all_keys(store: Store) -> dict[str, KeyRecord]:
    out: dict[str, KeyRecord] = {}
    offset = 0
    while True:
        total, page = await store.list_keys(offset=offset, limit=1000)
        out.update((k.token, k) for k in page)
        offset += len(page)
        if not page or offset >= total:
            return out


async def _keys(store: Store, hashes: list[str]) -> tuple[dict[str, KeyRecord], dict[str, str]]:
    """The records of these keys, and the logged alias of those deleted since."""
    records: dict[str, KeyRecord] = {}
    for h in hashes:
        rec = await store.get_key(h)
        if rec is not None:
            records[h] = rec
    gone = [h for h in hashes if h not in records]
    return records, (await store.logged_aliases(gone) if gone else {})


def _is_hash(id: str | None) -> TypeGuard[str]:
    """A key's hash, not "master" nor None (no key)."""
    return id is not None and id != MASTER


def _json(data: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def overview(request: web.Request) -> web.Response:
    require_admin(request)
    app = request.app
    store = app[STORE]
    p = period_of(request.query, "24h")
    series = await store.activity_series(p.start, p.end, p.step, p.offset)
    total = Totals()
    for b in series:
        total = total.plus(b.totals)
    top_keys = await store.activity_totals("key", p.start, p.end, limit=TOP)
    top_models = await store.activity_totals("model", p.start, p.end, limit=TOP)
    records, aliases = await _keys(store, [g.id for g in top_keys if _is_hash(g.id)])
    health = app[ROUTER].health()
    cooling = sum(1 for h in health if h.cooldown_remaining > 0)
    streams = app[PIPELINE].find(OpenStreams)
    return _json(
        {
            "range": p.name,
            "bucket": p.bucket,
            "start": iso(p.start),
            "end": iso(p.end),
            "series": [{"t": b.start, **totals_json(b.totals)} for b in series],
            "totals": totals_json(total),
            "top_keys": [
                key_json(g.id, records.get(g.id or ""), aliases.get(g.id or ""))
                | totals_json(g.totals)
                for g in top_keys
            ],
            # requests refused before their model was read have none
            "top_models": [
                {"model": g.id, **totals_json(g.totals)} for g in top_models if g.id is not None
            ],
            "open_streams": streams.count if streams is not None else 0,
            "in_flight": sum(h.state.in_flight for h in health),
            "deployments": {"healthy": len(health) - cooling, "cooling_down": cooling},
        }
    )


async def developers(request: web.Request) -> web.Response:
    """Every key (or user), with its use in the period: idle keys too, so that the admin
    sees who has a key and never used it."""
    require_admin(request)
    store = request.app[STORE]
    p = period_of(request.query, "30d")
    by = request.query.get("by") or "key"
    if by not in ("key", "user"):
        raise InvalidRequestError("by must be 'key' or 'user'", param="by")
    groups = await store.activity_totals(by, p.start, p.end, models=True)
    seen = await store.last_seen(by)
    keys = await _all_keys(store)
    rows: list[dict[str, Any]] = []
    if by == "key":
        active = {g.id: g for g in groups}
        gone = [g.id for g in groups if _is_hash(g.id) and g.id not in keys]
        aliases = await store.logged_aliases(gone) if gone else {}
        ids: list[str | None] = [*keys, *(i for i in active if i is None or i not in keys)]
        for id in ids:
            g = active.get(id)
            who = key_json(id, keys.get(id or ""), aliases.get(id or ""))
            rows.append(_activity(who, g, seen.get(id or "")))
    else:
        per_user: dict[str | None, int] = {}
        for k in keys.values():
            per_user[k.user_id] = per_user.get(k.user_id, 0) + 1
        active = {g.id: g for g in groups}
        for id in [*active, *(u for u in per_user if u not in active and u is not None)]:
            user = await store.get_user(id) if id is not None else None
            row: dict[str, Any] = {
                "id": id,
                "kind": "user",
                "user_alias": user.user_alias if user else None,
                "keys": per_user.get(id, 0),
                "budget": None
                if user is None
                else {"spend": round(user.budget.spend, 10), "max_budget": user.budget.max_budget},
            }
            rows.append(_activity(row, active.get(id), seen.get(id or "")))
    rows.sort(key=lambda r: (-r["spend"], -r["requests"], str(r.get("key_alias") or r["id"] or "")))
    return _json({"range": p.name, "by": by, "developers": rows})


def _activity(row: dict[str, Any], g: GroupTotals | None, seen: float | None) -> dict[str, Any]:
    row |= totals_json(g.totals if g else Totals())
    row["last_seen"] = iso(seen)
    row["top_models"] = _models(g) if g else []
    return row


async def developer(request: web.Request) -> web.Response:
    """One key (`master`: the master key; `none`: requests made with no key): who it is, its
    use in the period, hour by hour or day by day, and its models."""
    require_admin(request)
    store = request.app[STORE]
    p = period_of(request.query, "30d")
    raw = request.match_info["id"]
    # the summaries' id: a key's hash, "master", or '' (no key)
    id: str | None = None if raw == NONE else raw
    if id is not None and id != MASTER and not looks_hashed(id):
        raise InvalidRequestError("name a key by its hash, 'master' or 'none'", param="id")
    hash = id if _is_hash(id) else None
    record = await store.get_key(hash) if hash is not None else None
    aliases = await store.logged_aliases([hash]) if hash is not None and record is None else {}
    seen = (await store.last_seen("key")).get(id or "")
    if hash is not None and record is None and seen is None:
        raise NotFoundError("no such key, and none in the log", code="key_not_found")
    groups = await store.activity_totals("key", p.start, p.end, models=True, of="key", id=id)
    series = await store.activity_series(p.start, p.end, p.step, p.offset, by="key", id=id)
    row = _activity(
        key_json(id, record, aliases.get(hash or "")), groups[0] if groups else None, seen
    )
    return _json(
        {
            "range": p.name,
            "bucket": p.bucket,
            "developer": row,
            "series": [{"t": b.start, **totals_json(b.totals)} for b in series],
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ui/api/overview", overview)
    app.router.add_get("/ui/api/developers", developers)
    app.router.add_get("/ui/api/developers/{id}", developer)
