"""The request log over HTTP: `GET /logs` (filtered, newest first, cursor-paged) and `GET /logs/{request_id}`.

Admin only (the master key, an admin key, or the admin page's session). A page lists each
request without its prompt and answer; one request's detail has them when they were kept.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from ..accounting.reports import parse_time
from ..errors import InvalidRequestError, NotFoundError
from ..store import SpendQuery, SpendRow, Store, periods
from ..store.tokens import PREFIX, hash_key, looks_hashed
from .keys import STORE
from .ui.state import require_admin

MAX_PAGE = 500
DEFAULT_PAGE = 50
#: `status=` words and what they select
STATUS_WORDS = {"error": True, "failed": True, "ok": False, "success": False}
#: `key=` words: the master key's requests, and those made with no key (refused)
MASTER = "master"
NONE = "none"


def iso(t: float | None) -> str | None:
    """A request's time, to the millisecond."""
    return periods.iso(t, "milliseconds")


def encode_cursor(row: SpendRow) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([row.start_time, row.request_id])).decode()


def decode_cursor(value: str) -> tuple[float, str]:
    try:
        t, rid = orjson.loads(base64.urlsafe_b64decode(value))
        return float(t), str(rid)
    except (ValueError, TypeError):
        raise InvalidRequestError("cursor is not one this server gave", param="cursor") from None


async def key_filter(store: Store, value: str) -> dict[str, Any]:
    """`key=`: a key (`sk-...`), its hash, the alias of an existing key, `master`, or `none`
    (requests made with no valid key)."""
    if value in (MASTER, NONE):
        return {"caller": value}
    if value.startswith(PREFIX):
        return {"key_hash": hash_key(value)}
    if looks_hashed(value):
        return {"key_hash": value}
    _, found = await store.list_keys(key_alias=value, limit=1)
    if not found:
        raise NotFoundError(f"no key has the alias '{value}'", code="key_not_found")
    return {"key_hash": found[0].token}


async def log_query(store: Store, q: Mapping[str, str]) -> SpendQuery:
    """The query `GET /logs` parameters ask for; 400 naming a bad one."""
    known = {"key", "user", "team", "model", "status", "start", "end", "q", "cursor", "limit"}
    unknown = sorted(set(q) - known)
    if unknown:
        raise InvalidRequestError(
            f"unknown parameter '{unknown[0]}'; supported: {', '.join(sorted(known))}",
            param=unknown[0],
        )
    limit_raw = q.get("limit") or str(DEFAULT_PAGE)
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= MAX_PAGE:
        raise InvalidRequestError(
            f"limit must be a whole number from 1 to {MAX_PAGE}", param="limit"
        )
    fields: dict[str, Any] = {"limit": int(limit_raw)}
    if q.get("key"):
        fields |= await key_filter(store, q["key"])
    for name, field in (("user", "user_id"), ("team", "team_id"), ("model", "model")):
        if q.get(name):
            fields[field] = q[name]
    status = (q.get("status") or "").lower()
    if status in STATUS_WORDS:
        fields["failed"] = STATUS_WORDS[status]
    elif status:
        if not status.isdigit() or not 100 <= int(status) <= 599:
            raise InvalidRequestError(
                "status must be an HTTP status (429), 'error' or 'ok'", param="status"
            )
        fields["status"] = int(status)
    if q.get("q"):
        fields["error_text"] = q["q"]
    if q.get("start"):
        fields["start"] = parse_time(q["start"], "start")
    if q.get("end"):
        fields["end"] = parse_time(q["end"], "end")
    if q.get("cursor"):
        fields["before"] = decode_cursor(q["cursor"])
    return SpendQuery(**fields)


def log_row(r: SpendRow, detail: bool = False) -> dict[str, Any]:
    """A request as the log shows it. `detail` adds the prompt and the answer."""
    out: dict[str, Any] = {
        "request_id": r.request_id,
        "start_time": iso(r.start_time),
        "end_time": iso(r.end_time),
        "status": r.status,
        "route": r.route,
        "stream": r.stream,
        "client_ip": r.client_ip,
        "user_agent": r.user_agent,
        "key_hash": r.key_hash,
        "key_alias": r.key_alias,
        "user_id": r.user_id,
        "team_id": r.team_id,
        "end_user": r.end_user,
        "model": r.model,
        "model_group": r.model_group,
        "deployment": r.deployment,
        "provider": r.provider,
        "upstream_status": r.upstream_status,
        "attempts": [
            {
                "deployment": a.deployment,
                "status": a.status,
                "latency_ms": a.latency_ms,
                "start_ms": a.offset_ms,
                "error": a.error,
            }
            for a in r.attempts
        ],
        "retries": r.retries,
        "fallbacks": r.fallbacks,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "total_tokens": r.total_tokens,
        "cached_tokens": r.cached_tokens,
        "cache_write_tokens": r.cache_write_tokens,
        "reasoning_tokens": r.reasoning_tokens,
        "spend": r.spend,
        "estimated": r.estimated,
        "latency_ms": r.latency_ms,
        "ttft_ms": r.ttft_ms,
        "error_type": r.error_type,
        "error_message": r.error_message,
        "conversation_id": r.conversation_id,
    }
    if detail:
        out |= {"request_body": r.request_body, "response_body": r.response_body}
    return out


def _json(data: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def list_logs(request: web.Request) -> web.Response:
    """`{"data": [...], "next_cursor": ...}`: pass `next_cursor` back as `cursor` for the
    next (older) page; it is null on the last one."""
    require_admin(request)
    store = request.app[STORE]
    query = await log_query(store, request.query)
    rows = await store.spend_logs(query)
    cursor = encode_cursor(rows[-1]) if len(rows) == query.limit else None
    return _json({"data": [log_row(r) for r in rows], "next_cursor": cursor})


async def get_log(request: web.Request) -> web.Response:
    require_admin(request)
    request_id = request.match_info["request_id"]
    row = await request.app[STORE].spend_row(request_id)
    if row is None:
        raise NotFoundError(
            f"no request '{request_id}' in the log (older than the retention period, or not "
            "written yet: rows are written within a second)",
            code="request_not_found",
        )
    return _json(log_row(row, detail=True))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/logs", list_logs)
    app.router.add_get("/logs/{request_id}", get_log)
