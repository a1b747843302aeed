"""LiteLLM's key, user, team and spend endpoints (`/key/generate`, `/spend/logs`, ...): master key only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from ..accounting import manage, reports
from ..errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from ..store import Store
from .keys import ACCOUNTING, CALL, STORE


def _json(data: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json", headers=headers)


def _store(request: web.Request) -> Store:
    identity = request[CALL].identity
    if identity is None or not identity.is_admin:
        raise PermissionDeniedError(f"{request.path} needs the master key or an admin key")
    return request.app[STORE]


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidRequestError(f"the request body is not valid JSON: {e}") from None


async def _key_named(request: web.Request) -> Any:
    """The key an endpoint acts on: `{"key": ...}` in the body (LiteLLM) or `/key/{key}/...`."""
    if "key" in request.match_info:
        return request.match_info["key"]
    body = await _body(request)
    return body.get("key") if isinstance(body, dict) else None


async def key_generate(request: web.Request) -> web.Response:
    store = _store(request)
    return _json(await manage.generate_key(store, await _body(request)))


async def key_info(request: web.Request) -> web.Response:
    store = _store(request)
    key = request.query.get("key")
    record = await manage.find_key(store, key)
    return _json({"key": record.token, "info": manage.key_info(record)})


async def key_list(request: web.Request) -> web.Response:
    return _json(await manage.list_keys(_store(request), request.query))


async def key_update(request: web.Request) -> web.Response:
    store = _store(request)
    return _json(await manage.update_key(store, await _body(request)))


async def key_delete(request: web.Request) -> web.Response:
    store = _store(request)
    return _json(await manage.delete_keys(store, await _body(request)))


async def key_block(request: web.Request) -> web.Response:
    store = _store(request)
    return _json(await manage.set_blocked(store, await _key_named(request), True))


async def key_unblock(request: web.Request) -> web.Response:
    store = _store(request)
    return _json(await manage.set_blocked(store, await _key_named(request), False))


async def key_regenerate(request: web.Request) -> web.Response:
    store = _store(request)
    return _json(await manage.regenerate_key(store, await _key_named(request)))


async def user_new(request: web.Request) -> web.Response:
    store = _store(request)
    return _json(await manage.new_user(store, await _body(request)))


async def user_info(request: web.Request) -> web.Response:
    return _json(await manage.get_user_info(_store(request), request.query.get("user_id")))


async def team_new(request: web.Request) -> web.Response:
    store = _store(request)
    return _json(await manage.new_team(store, await _body(request)))


async def team_info(request: web.Request) -> web.Response:
    return _json(await manage.get_team_info(_store(request), request.query.get("team_id")))


async def spend_logs(request: web.Request) -> web.Response:
    """LiteLLM's shape: a JSON list of rows, newest first. The next page's cursor is in the
    `x-litecursor-next-cursor` header (pass it back as `?cursor=`)."""
    store = _store(request)
    query = reports.spend_query(request.query)
    rows = await store.spend_logs(query)
    if query.request_id and not rows:
        raise NotFoundError(f"no spend row for request '{query.request_id}'")
    headers = {}
    if len(rows) == query.limit:
        headers["x-litecursor-next-cursor"] = reports.encode_cursor(rows[-1])
    return _json([reports.spend_row(r) for r in rows], headers)


async def global_spend_report(request: web.Request) -> web.Response:
    store = _store(request)
    q = request.query
    by = reports.group_by(q.get("group_by"))
    start = reports.parse_time(q["start_date"], "start_date") if q.get("start_date") else None
    end = reports.parse_time(q["end_date"], "end_date", end=True) if q.get("end_date") else None
    return _json(reports.report_rows(by, await store.spend_report(by, start, end)))


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _applied(handler: Handler) -> Handler:
    """A change takes effect on this instance before its answer is sent (others see it
    through the change feed within a second)."""

    async def changed(request: web.Request) -> web.Response:
        resp = await handler(request)
        await request.app[ACCOUNTING].changed()
        return resp

    return changed


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/key/generate", _applied(key_generate))
    r.add_get("/key/info", key_info)
    r.add_get("/key/list", key_list)
    r.add_post("/key/update", _applied(key_update))
    r.add_post("/key/delete", _applied(key_delete))
    r.add_post("/key/block", _applied(key_block))
    r.add_post("/key/unblock", _applied(key_unblock))
    r.add_post("/key/regenerate", _applied(key_regenerate))
    r.add_post("/key/{key}/regenerate", _applied(key_regenerate))
    r.add_post("/user/new", _applied(user_new))
    r.add_get("/user/info", user_info)
    r.add_post("/team/new", _applied(team_new))
    r.add_get("/team/info", team_info)
    r.add_get("/spend/logs", spend_logs)
    r.add_get("/global/spend/report", global_spend_report)
