"""Transaction scripts for keys, users, teams and end users, their budgets and the change feed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from . import sql_activity as activity
from .ops import Op, Q, Row, Where, one
from .periods import parse_duration
from .records import (
    Budget,
    BudgetKind,
    BudgetRef,
    EndUserRecord,
    KeyRecord,
    Limits,
    TeamRecord,
    UserRecord,
)

_BUDGET_COLS = "b.max_budget, b.budget_duration, b.budget_reset_at, b.spend, b.reserved"
_LIMIT_COLS = "rpm_limit, tpm_limit, max_parallel_requests"
KEY_COLS = (
    "token, key_name, key_alias, user_id, team_id, models, "
    f"{_LIMIT_COLS}, expires_at, blocked, metadata, created_at, updated_at"
)
USER_COLS = (
    f"user_id, user_alias, user_email, team_id, models, {_LIMIT_COLS}, "
    "metadata, created_at, updated_at"
)
TEAM_COLS = f"team_id, team_alias, models, {_LIMIT_COLS}, blocked, metadata, created_at, updated_at"

#: the columns each table lets the admin API set (budget fields live in `budgets`)
SETTABLE: Mapping[str, frozenset[str]] = {
    "keys": frozenset(
        {"key_alias", "user_id", "team_id", "models", "rpm_limit", "tpm_limit"}
        | {"max_parallel_requests", "expires_at", "blocked", "metadata"}
    ),
    "users": frozenset(
        {"user_alias", "user_email", "team_id", "models", "rpm_limit", "tpm_limit"}
        | {"max_parallel_requests", "metadata"}
    ),
    "teams": frozenset(
        {"team_alias", "models", "rpm_limit", "tpm_limit", "max_parallel_requests"}
        | {"blocked", "metadata"}
    ),
}
_ID = {"keys": "token", "users": "user_id", "teams": "team_id"}
_KIND: dict[str, BudgetKind] = {"keys": "key", "users": "user", "teams": "team"}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _db_value(column: str, value: Any) -> Any:
    if column in ("models", "metadata"):
        return _json(list(value) if column == "models" else dict(value))
    if column == "blocked":
        return int(bool(value))
    if column == "expires_at" and value is not None:
        return float(value)
    return value


def budget_of(row: Row, at: int) -> Budget:
    if row[at + 3] is None:  # no budget row (LEFT JOIN): nothing spent
        return Budget()
    return Budget(
        max_budget=row[at],
        duration=row[at + 1],
        reset_at=row[at + 2],
        spend=float(row[at + 3]),
        reserved=float(row[at + 4]),
    )


def _limits(row: Row, at: int) -> Limits:
    return Limits(row[at], row[at + 1], row[at + 2])


def key_of(row: Row) -> KeyRecord:
    return KeyRecord(
        token=row[0],
        key_name=row[1],
        key_alias=row[2],
        user_id=row[3],
        team_id=row[4],
        models=tuple(orjson.loads(row[5])),
        limits=_limits(row, 6),
        expires_at=row[9],
        blocked=bool(row[10]),
        metadata=orjson.loads(row[11]),
        created_at=row[12],
        updated_at=row[13],
        budget=budget_of(row, 14),
    )


def user_of(row: Row) -> UserRecord:
    return UserRecord(
        user_id=row[0],
        user_alias=row[1],
        user_email=row[2],
        team_id=row[3],
        models=tuple(orjson.loads(row[4])),
        limits=_limits(row, 5),
        metadata=orjson.loads(row[8]),
        created_at=row[9],
        updated_at=row[10],
        budget=budget_of(row, 11),
    )


def team_of(row: Row) -> TeamRecord:
    return TeamRecord(
        team_id=row[0],
        team_alias=row[1],
        models=tuple(orjson.loads(row[2])),
        limits=_limits(row, 3),
        blocked=bool(row[6]),
        metadata=orjson.loads(row[7]),
        created_at=row[8],
        updated_at=row[9],
        budget=budget_of(row, 10),
    )


_READERS = {
    "keys": (KEY_COLS, key_of),
    "users": (USER_COLS, user_of),
    "teams": (TEAM_COLS, team_of),
}


def _select(table: str) -> str:
    cols, _ = _READERS[table]
    prefixed = ", ".join(f"t.{c.strip()}" for c in cols.split(","))
    return (
        f"SELECT {prefixed}, {_BUDGET_COLS} FROM {table} t LEFT JOIN budgets b "
        f"ON b.kind = '{_KIND[table]}' AND b.id = t.{_ID[table]}"
    )


def change(kind: str, id: str, now: float) -> Q:
    return Q("INSERT INTO changes (kind, id, at) VALUES ($1, $2, $3)", (kind, id, now))


def set_budget(ref: BudgetRef, fields: Mapping[str, Any], now: float) -> Op[None]:
    """Create the budget row if missing and apply `max_budget` / `budget_duration` when given.
    A new duration starts a new period now (spend from the old period is kept)."""
    yield Q(
        "INSERT INTO budgets (kind, id) VALUES ($1, $2) ON CONFLICT (kind, id) DO NOTHING",
        (ref.kind, ref.id),
    )
    if "max_budget" in fields:
        value = fields["max_budget"]
        yield Q(
            "UPDATE budgets SET max_budget = $3 WHERE kind = $1 AND id = $2",
            (ref.kind, ref.id, None if value is None else float(value)),
        )
    if "budget_duration" in fields:
        text = fields["budget_duration"]
        reset_at = None if text is None else parse_duration(text).after(now)
        yield Q(
            "UPDATE budgets SET budget_duration = $3, budget_reset_at = $4 "
            "WHERE kind = $1 AND id = $2",
            (ref.kind, ref.id, text, reset_at),
        )


def create(
    table: str, id: str, values: Mapping[str, Any], budget: Mapping[str, Any], now: float
) -> Op[Any]:
    """Insert a key, user or team with its budget row; returns the record as stored."""
    cols = [_ID[table], "created_at", "updated_at"]
    args: list[Any] = [id, now, now]
    for column, value in values.items():
        cols.append(column)
        args.append(_db_value(column, value))
    marks = ", ".join(f"${i + 1}" for i in range(len(args)))
    yield Q(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", tuple(args))
    yield from set_budget(BudgetRef(_KIND[table], id), budget, now)
    yield change(_KIND[table], id, now)
    return (yield from get(table, id))


def get(table: str, id: str) -> Op[Any]:
    _, reader = _READERS[table]
    row = one((yield Q(f"{_select(table)} WHERE t.{_ID[table]} = $1", (id,))))
    return None if row is None else reader(row)


def exists(table: str, id: str) -> Op[bool]:
    rows = yield Q(f"SELECT 1 FROM {table} WHERE {_ID[table]} = $1", (id,))
    return bool(rows)


def update(
    table: str, id: str, values: Mapping[str, Any], budget: Mapping[str, Any], now: float
) -> Op[Any]:
    """Apply the given columns and budget fields; None when there is no such record."""
    if not (yield from exists(table, id)):
        return None
    if values:
        w = Where()
        sets = [f"{c} = {w.arg(_db_value(c, v))}" for c, v in values.items()]
        sets.append(f"updated_at = {w.arg(now)}")
        w.eq(_ID[table], id)
        yield Q(f"UPDATE {table} SET {', '.join(sets)}{w.sql}", tuple(w.args))
    if budget:
        yield from set_budget(BudgetRef(_KIND[table], id), budget, now)
    yield change(_KIND[table], id, now)
    return (yield from get(table, id))


def delete(table: str, ids: list[str], now: float) -> Op[list[str]]:
    """Delete records and their budgets; returns the ids that existed."""
    gone: list[str] = []
    for id in ids:
        rows = yield Q(f"DELETE FROM {table} WHERE {_ID[table]} = $1 RETURNING {_ID[table]}", (id,))
        if rows:
            gone.append(id)
            yield Q("DELETE FROM budgets WHERE kind = $1 AND id = $2", (_KIND[table], id))
            yield change(_KIND[table], id, now)
    return gone


def list_keys(
    user_id: str | None, team_id: str | None, key_alias: str | None, offset: int, limit: int
) -> Op[tuple[int, list[KeyRecord]]]:
    w = Where()
    w.eq("t.user_id", user_id)
    w.eq("t.team_id", team_id)
    w.eq("t.key_alias", key_alias)
    total_rows = yield Q(f"SELECT COUNT(*) FROM keys t{w.sql}", tuple(w.args))
    page = f" ORDER BY t.created_at, t.token LIMIT {w.arg(limit)} OFFSET {w.arg(offset)}"
    rows = yield Q(f"{_select('keys')}{w.sql}{page}", tuple(w.args))
    return int(total_rows[0][0]), [key_of(r) for r in rows]


def keys_of(column: str, id: str) -> Op[list[KeyRecord]]:
    rows = yield Q(f"{_select('keys')} WHERE t.{column} = $1 ORDER BY t.created_at", (id,))
    return [key_of(r) for r in rows]


def regenerate(token: str, new_token: str, new_name: str, now: float) -> Op[KeyRecord | None]:
    """The same key record (limits, budget, spend) under a new key; the old one stops working."""
    rows = yield Q(
        "UPDATE keys SET token = $2, key_name = $3, updated_at = $4 WHERE token = $1 RETURNING token",
        (token, new_token, new_name, now),
    )
    if not rows:
        return None
    yield Q("UPDATE budgets SET id = $2 WHERE kind = 'key' AND id = $1", (token, new_token))
    # its history too: the request log and its totals name the record by its current hash,
    # so a developer's page keeps their requests across a regeneration
    yield from activity.rename_key(token, new_token)
    yield change("key", token, now)
    yield change("key", new_token, now)
    return (yield from get("keys", new_token))


def end_user(id: str, default_budget: float | None, now: float) -> Op[EndUserRecord]:
    """An end user, created on first sight; its limit is the proxy's `max_end_user_budget`
    (set again when the config changed it), its spend its own."""
    yield Q(
        "INSERT INTO end_users (end_user_id, created_at) VALUES ($1, $2) "
        "ON CONFLICT (end_user_id) DO NOTHING",
        (id, now),
    )
    ref = BudgetRef("end_user", id)
    found = yield from _budget_limit(ref)
    if found is None or found[0] != default_budget:
        yield from set_budget(ref, {"max_budget": default_budget}, now)
    row = one(
        (
            yield Q(
                f"SELECT e.end_user_id, e.blocked, e.created_at, {_BUDGET_COLS} FROM end_users e "
                "LEFT JOIN budgets b ON b.kind = 'end_user' AND b.id = e.end_user_id "
                "WHERE e.end_user_id = $1",
                (id,),
            )
        )
    )
    assert row is not None
    return EndUserRecord(row[0], budget=budget_of(row, 3), blocked=bool(row[1]), created_at=row[2])


def _budget_limit(ref: BudgetRef) -> Op[tuple[float | None] | None]:
    rows = yield Q("SELECT max_budget FROM budgets WHERE kind = $1 AND id = $2", (ref.kind, ref.id))
    return (rows[0][0],) if rows else None


def changes_since(seq: int) -> Op[tuple[int, list[tuple[str, str]]]]:
    rows = yield Q("SELECT seq, kind, id FROM changes WHERE seq > $1 ORDER BY seq", (seq,))
    if not rows:
        return seq, []
    return int(rows[-1][0]), [(r[1], r[2]) for r in rows]


def last_change() -> Op[int]:
    rows = yield Q("SELECT COALESCE(MAX(seq), 0) FROM changes")
    return int(rows[0][0])


def prune_changes(before: float) -> Op[None]:
    yield Q("DELETE FROM changes WHERE at < $1", (before,))
