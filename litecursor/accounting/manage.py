"""The admin operations on keys, users and teams, shared by the HTTP API and the CLI.

Bodies use LiteLLM's field names (`/key/generate`, `/user/new`, `/team/new`); each is checked
here into the store's columns and budget fields, and every record is shown in LiteLLM's shape.
A key itself appears only in the answer that created it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequestError, NotFoundError
from ..store import Conflict, KeyRecord, Store, TeamRecord, UserRecord
from ..store.periods import DurationError, iso, parse_duration
from ..store.records import Budget, Limits
from ..store.tokens import MIN_CUSTOM_LENGTH, PREFIX, token_of

_LIMIT_FIELDS = ("rpm_limit", "tpm_limit", "max_parallel_requests")
_BUDGET_FIELDS = ("max_budget", "budget_duration")
KEY_FIELDS = frozenset(
    {"key_alias", "models", "user_id", "team_id", "metadata", "duration", "blocked", "key"}
    | set(_LIMIT_FIELDS)
    | set(_BUDGET_FIELDS)
)
USER_FIELDS = frozenset(
    {"user_id", "user_alias", "user_email", "team_id", "models", "metadata", "auto_create_key"}
    | set(_LIMIT_FIELDS)
    | set(_BUDGET_FIELDS)
)
TEAM_FIELDS = frozenset(
    {"team_id", "team_alias", "models", "metadata", "blocked"}
    | set(_LIMIT_FIELDS)
    | set(_BUDGET_FIELDS)
)


@dataclass(frozen=True, slots=True)
class Changes:
    """A checked body: the record's columns, its budget fields, and the rest (ids, options)."""

    values: dict[str, Any]
    budget: dict[str, Any]


def check(
    body: Any, allowed: frozenset[str], *, now: float, ignore: frozenset[str] = frozenset()
) -> Changes:
    """`body` checked against LiteLLM's field names and types; 400 naming the field otherwise."""
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    values: dict[str, Any] = {}
    budget: dict[str, Any] = {}
    for name, value in body.items():
        if name in ignore:
            continue
        if name not in allowed:
            raise InvalidRequestError(
                f"unknown field '{name}'; supported: {', '.join(sorted(allowed | ignore))}",
                param=name,
            )
        if name == "models":
            if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
                raise InvalidRequestError("models must be a list of model names", param=name)
            values[name] = value
        elif name == "max_budget":
            budget[name] = _number(name, value)
        elif name == "budget_duration":
            budget[name] = None if value is None else _duration(name, value).text
        elif name == "duration":
            values["expires_at"] = None if value is None else _duration(name, value).expiry(now)
        elif name in _LIMIT_FIELDS:
            n = _number(name, value)
            if n is not None and n != int(n):
                raise InvalidRequestError(f"{name} must be a whole number", param=name)
            values[name] = None if n is None else int(n)
        elif name == "metadata":
            if value is not None and not isinstance(value, dict):
                raise InvalidRequestError("metadata must be a JSON object", param=name)
            values[name] = value or {}
        elif name in ("blocked", "auto_create_key"):
            if not isinstance(value, bool):
                raise InvalidRequestError(f"{name} must be true or false", param=name)
            values[name] = value
        else:  # ids, aliases, e-mail, the custom key
            if value is not None and not isinstance(value, str):
                raise InvalidRequestError(f"{name} must be a string", param=name)
            values[name] = value
    return Changes(values, budget)


def _number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidRequestError(f"{name} must be a number, 0 or more", param=name)
    return float(value)


def _duration(name: str, value: Any) -> Any:
    try:
        return parse_duration(value)
    except DurationError as e:
        raise InvalidRequestError(f"{name}: {e}", param=name) from None


async def _team_exists(store: Store, team_id: str | None) -> None:
    if team_id is not None and await store.get_team(team_id) is None:
        raise InvalidRequestError(
            f"team '{team_id}' does not exist: create it with /team/new", param="team_id"
        )


# -- keys --------------------------------------------------------------------------------


async def generate_key(store: Store, body: Any) -> dict[str, Any]:
    now = time.time()
    c = check(body or {}, KEY_FIELDS, now=now)
    custom = c.values.pop("key", None)
    if custom is not None and (not custom.startswith(PREFIX) or len(custom) < MIN_CUSTOM_LENGTH):
        raise InvalidRequestError(
            f"key must start with '{PREFIX}' and be at least {MIN_CUSTOM_LENGTH} characters "
            "(leave it out to get a generated one)",
            param="key",
        )
    await _team_exists(store, c.values.get("team_id"))
    try:
        key, record = await store.create_key(c.values, c.budget, now, key=custom)
    except Conflict:
        raise _taken(c.values) from None
    return {"key": key, **key_info(record)}


async def find_key(store: Store, key: Any) -> KeyRecord:
    """A key named by itself or by its hash; 404 when there is none."""
    if not isinstance(key, str) or not key:
        raise InvalidRequestError("name the key: 'key' (the key or its hash)", param="key")
    record = await store.get_key(token_of(key))
    if record is None:
        raise NotFoundError("no such key")
    return record


async def update_key(store: Store, body: Any) -> dict[str, Any]:
    now = time.time()
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    record = await find_key(store, body.get("key"))
    c = check(body, KEY_FIELDS - {"key"}, now=now, ignore=frozenset({"key"}))
    if "team_id" in c.values:
        await _team_exists(store, c.values["team_id"])
    try:
        updated = await store.update_key(record.token, c.values, c.budget, now)
    except Conflict:
        raise _taken(c.values) from None
    if updated is None:
        raise NotFoundError("no such key")
    return key_info(updated)


def _taken(values: Mapping[str, Any]) -> InvalidRequestError:
    if values.get("key_alias"):
        return InvalidRequestError(
            f"key_alias '{values['key_alias']}' is already used by another key", param="key_alias"
        )
    return InvalidRequestError("that key already exists", param="key")


async def set_blocked(store: Store, key: Any, blocked: bool) -> dict[str, Any]:
    record = await find_key(store, key)
    updated = await store.update_key(record.token, {"blocked": blocked}, {}, time.time())
    if updated is None:
        raise NotFoundError("no such key")
    return key_info(updated)


async def delete_keys(store: Store, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    keys, aliases = body.get("keys") or [], body.get("key_aliases") or []
    if not keys and not aliases:
        raise InvalidRequestError("name the keys to delete: 'keys' or 'key_aliases'", param="keys")
    tokens: list[str] = []
    for value in keys:
        tokens.append((await find_key(store, value)).token)
    for alias in aliases:
        _, found = await store.list_keys(key_alias=alias, limit=1)
        if not found:
            raise NotFoundError(f"no key has the alias '{alias}'")
        tokens.append(found[0].token)
    deleted = await store.delete_keys(tokens, time.time())
    return {"deleted_keys": deleted}


async def regenerate_key(store: Store, key: Any) -> dict[str, Any]:
    record = await find_key(store, key)
    done = await store.regenerate_key(record.token, time.time())
    if done is None:
        raise NotFoundError("no such key")
    new_key, updated = done
    return {"key": new_key, **key_info(updated)}


def _budget(b: Budget) -> dict[str, Any]:
    return {
        "spend": round(b.spend, 10),
        "max_budget": b.max_budget,
        "budget_duration": b.duration,
        "budget_reset_at": iso(b.reset_at),
    }


def _limits(limits: Limits) -> dict[str, Any]:
    return {name: getattr(limits, name) for name in _LIMIT_FIELDS}


def key_info(k: KeyRecord) -> dict[str, Any]:
    """A key's record as LiteLLM shows it: `token` is the hash, never the key."""
    return {
        "token": k.token,
        "key_name": k.key_name,
        "key_alias": k.key_alias,
        "user_id": k.user_id,
        "team_id": k.team_id,
        "models": list(k.models),
        **_budget(k.budget),
        **_limits(k.limits),
        "expires": iso(k.expires_at),
        "blocked": k.blocked,
        "metadata": dict(k.metadata),
        "created_at": iso(k.created_at),
        "updated_at": iso(k.updated_at),
    }


async def list_keys(store: Store, query: Mapping[str, str]) -> dict[str, Any]:
    page = _int_query(query, "page", 1)
    size = min(_int_query(query, "size", 100), 1000)
    total, records = await store.list_keys(
        user_id=query.get("user_id"),
        team_id=query.get("team_id"),
        key_alias=query.get("key_alias"),
        offset=(page - 1) * size,
        limit=size,
    )
    full = query.get("return_full_object", "false").lower() == "true"
    return {
        "keys": [key_info(r) if full else r.token for r in records],
        "total_count": total,
        "current_page": page,
        "total_pages": max(1, -(-total // size)),
    }


def _int_query(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidRequestError(f"{name} must be a whole number, 1 or more", param=name)
    return int(raw)


# -- users and teams ----------------------------------------------------------------------


def user_info(u: UserRecord) -> dict[str, Any]:
    return {
        "user_id": u.user_id,
        "user_alias": u.user_alias,
        "user_email": u.user_email,
        "team_id": u.team_id,
        "models": list(u.models),
        **_budget(u.budget),
        **_limits(u.limits),
        "metadata": dict(u.metadata),
        "created_at": iso(u.created_at),
        "updated_at": iso(u.updated_at),
    }


def team_info(t: TeamRecord) -> dict[str, Any]:
    return {
        "team_id": t.team_id,
        "team_alias": t.team_alias,
        "models": list(t.models),
        **_budget(t.budget),
        **_limits(t.limits),
        "blocked": t.blocked,
        "metadata": dict(t.metadata),
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
    }


async def new_user(store: Store, body: Any) -> dict[str, Any]:
    """A user, and (as LiteLLM does, unless `auto_create_key: false`) a key for them."""
    now = time.time()
    c = check(body or {}, USER_FIELDS, now=now)
    user_id = c.values.pop("user_id", None) or str(uuid.uuid4())
    make_key = c.values.pop("auto_create_key", True)
    await _team_exists(store, c.values.get("team_id"))
    if await store.get_user(user_id) is not None:
        raise InvalidRequestError(f"user '{user_id}' already exists", param="user_id")
    user = await store.create_user(user_id, c.values, c.budget, now)
    out = user_info(user)
    if make_key:
        key, _ = await store.create_key({"user_id": user_id, "team_id": user.team_id}, {}, now)
        out["key"] = key
    return out


async def new_team(store: Store, body: Any) -> dict[str, Any]:
    now = time.time()
    c = check(body or {}, TEAM_FIELDS, now=now)
    team_id = c.values.pop("team_id", None) or str(uuid.uuid4())
    if await store.get_team(team_id) is not None:
        raise InvalidRequestError(f"team '{team_id}' already exists", param="team_id")
    return team_info(await store.create_team(team_id, c.values, c.budget, now))


async def get_user_info(store: Store, user_id: str | None) -> dict[str, Any]:
    if not user_id:
        raise InvalidRequestError("name the user: ?user_id=", param="user_id")
    user = await store.get_user(user_id)
    if user is None:
        raise NotFoundError(f"no user '{user_id}'")
    keys = await store.keys_of(user_id=user_id)
    return {"user_id": user_id, "user_info": user_info(user), "keys": [key_info(k) for k in keys]}


async def get_team_info(store: Store, team_id: str | None) -> dict[str, Any]:
    if not team_id:
        raise InvalidRequestError("name the team: ?team_id=", param="team_id")
    team = await store.get_team(team_id)
    if team is None:
        raise NotFoundError(f"no team '{team_id}'")
    keys = await store.keys_of(team_id=team_id)
    return {"team_id": team_id, "team_info": team_info(team), "keys": [key_info(k) for k in keys]}
