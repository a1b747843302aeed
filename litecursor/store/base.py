"""The store's one interface: keys, users, teams, end users, budgets and spend rows.

`Store` holds every operation; a database implementation (`sqlite.py`, `postgres.py`) only says
how a transaction script runs (`_run`). Nothing here is on the request path: the gateway keeps
keys and budgets in memory and writes spend rows in batches (`litecursor.accounting`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from . import sql_activity as activity
from . import sql_identity as ident
from . import sql_sessions as sessions
from . import sql_spend as spend
from . import tokens
from .ops import Op, Q, T
from .records import (
    PROXY_ID,
    Budget,
    BudgetRef,
    EndUserRecord,
    GroupBy,
    KeyRecord,
    SpendQuery,
    SpendRow,
    SpendTotal,
    TeamRecord,
    UserRecord,
)
from .schema import LATEST, SchemaTooNewError, pending, statements


class StoreError(Exception):
    """The database cannot be used (unreachable, unreadable, refused)."""


class Conflict(StoreError):
    """A write would break a uniqueness rule (a key alias already in use)."""


class Store(ABC):
    #: `sqlite` or `postgres`: the spelling of the few statements that differ
    dialect: str
    #: where it is, for messages (never with a password)
    where: str
    #: whether several instances may share it: then budgets are reserved in the database
    shared: bool = False

    # -- the one thing an implementation provides ------------------------------------------

    @abstractmethod
    async def _run(self, op: Op[T], write: bool) -> T:
        """Run a transaction script; `write` takes the write lock up front (SQLite)."""

    @abstractmethod
    async def _connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def _read(self, op: Op[T]) -> T:
        return await self._run(op, False)

    async def _write(self, op: Op[T]) -> T:
        return await self._run(op, True)

    # -- schema -----------------------------------------------------------------------------

    async def open(self, *, migrate: bool = True) -> list[int]:
        """Connect, and bring the schema up to date (or only check it); returns the versions
        applied. A schema newer than this code raises `SchemaTooNewError`."""
        await self._connect()
        try:
            if migrate:
                return list(await self._write(self._migrate()))
            version = await self.schema_version()
            pending(version)  # raises when too new
            return []
        except BaseException:
            await self.close()
            raise

    async def upgrade(self) -> list[int]:
        """Apply the pending migrations (the store must be open); returns their versions."""
        return await self._write(self._migrate())

    def _lock_schema(self) -> Op[None]:
        """Serialise migrations of instances starting together (PostgreSQL overrides)."""
        return
        yield

    def _migrate(self) -> Op[list[int]]:
        yield Q(
            "CREATE TABLE IF NOT EXISTS litecursor_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        yield from self._lock_schema()
        current = yield from _version()
        applied = []
        for m in pending(current):
            for sql in statements(m, self.dialect):
                yield Q(sql)
            applied.append(m.version)
        if applied:
            yield Q(
                "INSERT INTO litecursor_meta (name, value) VALUES ('schema_version', $1) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (str(applied[-1]),),
            )
        return applied

    async def schema_version(self) -> int:
        def op() -> Op[int]:
            yield Q(
                "CREATE TABLE IF NOT EXISTS litecursor_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            return (yield from _version())

        return int(await self._write(op()))

    # -- keys -------------------------------------------------------------------------------

    async def create_key(
        self,
        values: Mapping[str, Any],
        budget: Mapping[str, Any],
        now: float,
        key: str | None = None,
    ) -> tuple[str, KeyRecord]:
        """A new key; returns it (shown once, never stored) and its record."""
        key = key or tokens.generate()
        values = {"key_name": tokens.display_name(key), **values}
        record = await self._write(ident.create("keys", tokens.hash_key(key), values, budget, now))
        return key, record

    async def get_key(self, token: str) -> KeyRecord | None:
        return await self._read(ident.get("keys", token))

    async def list_keys(
        self,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        key_alias: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[int, list[KeyRecord]]:
        return await self._read(ident.list_keys(user_id, team_id, key_alias, offset, limit))

    async def keys_of(
        self, *, user_id: str | None = None, team_id: str | None = None
    ) -> list[KeyRecord]:
        column, id = ("user_id", user_id) if user_id is not None else ("team_id", team_id)
        assert id is not None
        return await self._read(ident.keys_of(column, id))

    async def update_key(
        self, token: str, values: Mapping[str, Any], budget: Mapping[str, Any], now: float
    ) -> KeyRecord | None:
        return await self._write(ident.update("keys", token, values, budget, now))

    async def delete_keys(self, token_list: Sequence[str], now: float) -> list[str]:
        return await self._write(ident.delete("keys", list(token_list), now))

    async def regenerate_key(
        self, token: str, now: float, key: str | None = None
    ) -> tuple[str, KeyRecord] | None:
        key = key or tokens.generate()
        op = ident.regenerate(token, tokens.hash_key(key), tokens.display_name(key), now)
        record = await self._write(op)
        return None if record is None else (key, record)

    # -- users, teams, end users ------------------------------------------------------------

    async def create_user(
        self, user_id: str, values: Mapping[str, Any], budget: Mapping[str, Any], now: float
    ) -> UserRecord:
        return await self._write(ident.create("users", user_id, values, budget, now))

    async def get_user(self, user_id: str) -> UserRecord | None:
        return await self._read(ident.get("users", user_id))

    async def update_user(
        self, user_id: str, values: Mapping[str, Any], budget: Mapping[str, Any], now: float
    ) -> UserRecord | None:
        return await self._write(ident.update("users", user_id, values, budget, now))

    async def create_team(
        self, team_id: str, values: Mapping[str, Any], budget: Mapping[str, Any], now: float
    ) -> TeamRecord:
        return await self._write(ident.create("teams", team_id, values, budget, now))

    async def get_team(self, team_id: str) -> TeamRecord | None:
        return await self._read(ident.get("teams", team_id))

    async def update_team(
        self, team_id: str, values: Mapping[str, Any], budget: Mapping[str, Any], now: float
    ) -> TeamRecord | None:
        return await self._write(ident.update("teams", team_id, values, budget, now))

    async def end_user(
        self, end_user_id: str, default_budget: float | None, now: float
    ) -> EndUserRecord:
        """The end user, created on first sight with `default_budget`."""
        return await self._write(ident.end_user(end_user_id, default_budget, now))

    # -- change feed ------------------------------------------------------------------------

    async def changes_since(self, seq: int) -> tuple[int, list[tuple[str, str]]]:
        return await self._read(ident.changes_since(seq))

    async def last_change(self) -> int:
        return await self._read(ident.last_change())

    async def prune_changes(self, before: float) -> None:
        await self._write(ident.prune_changes(before))

    # -- budgets ----------------------------------------------------------------------------

    async def budgets(self, refs: Iterable[BudgetRef]) -> dict[BudgetRef, Budget]:
        return await self._read(spend.load_budgets(list(refs)))

    async def set_proxy_budget(
        self, max_budget: float | None, duration: str | None, now: float
    ) -> Budget:
        """The proxy-wide budget from the config; a changed duration starts a new period."""
        ref = BudgetRef("proxy", PROXY_ID)

        def op() -> Op[Budget]:
            found = yield from spend.load_budgets([ref])
            old = found.get(ref)
            fields: dict[str, Any] = {"max_budget": max_budget}
            if old is None or old.duration != duration:
                fields["budget_duration"] = duration
            yield from ident.set_budget(ref, fields, now)
            return (yield from spend.load_budgets([ref]))[ref]

        return await self._write(op())

    async def reserve(
        self,
        request_id: str,
        holds: Sequence[tuple[BudgetRef, float]],
        now: float,
        expires_at: float,
    ) -> dict[BudgetRef, Budget]:
        """Reserve on every budget or none; raises `BudgetRefused` naming the spent one.
        Returns each budget's figures after the reservation."""
        return await self._write(spend.reserve(request_id, holds, now, expires_at))

    async def release(self, request_ids: Iterable[str]) -> None:
        await self._write(spend.release(list(request_ids)))

    async def release_expired(self, now: float) -> int:
        return await self._write(spend.release_expired(now))

    async def roll_budgets(self, now: float) -> list[BudgetRef]:
        return await self._write(spend.roll(now))

    # -- prices ---------------------------------------------------------------------------

    async def import_prices(self, entries: Mapping[str, Mapping[str, float]], now: float) -> int:
        """Store imported prices (model -> LiteLLM-format entry), replacing earlier imports of
        the same models; running servers reload them through the change feed."""

        def op() -> Op[int]:
            yield Q(
                "INSERT INTO prices (model, entry, imported_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (model) DO UPDATE SET entry = excluded.entry, "
                "imported_at = excluded.imported_at",
                many=[(m, orjson.dumps(dict(e)).decode(), now) for m, e in entries.items()],
            )
            yield ident.change("prices", "*", now)
            return len(entries)

        return await self._write(op())

    async def imported_prices(self) -> dict[str, dict[str, float]]:
        def op() -> Op[dict[str, dict[str, float]]]:
            rows = yield Q("SELECT model, entry FROM prices")
            return {r[0]: orjson.loads(r[1]) for r in rows}

        return await self._read(op())

    # -- spend ------------------------------------------------------------------------------

    async def write_spend(
        self,
        rows: Sequence[SpendRow],
        charges: Sequence[spend.Charge] = (),
        released: Sequence[str] = (),
        now: float | None = None,
    ) -> None:
        """Rows, charges and given-back reservations in one transaction; with `now`, budget
        periods over by then are reset before the charges are added."""
        await self._write(spend.write(rows, charges, released, now))

    async def spend_logs(self, query: SpendQuery) -> list[SpendRow]:
        return await self._read(spend.query(query))

    async def spend_row(self, request_id: str) -> SpendRow | None:
        return await self._read(spend.get_row(request_id))

    async def spend_report(
        self, group_by: GroupBy, start: float | None = None, end: float | None = None
    ) -> list[SpendTotal]:
        return await self._read(spend.report(group_by, start, end))

    async def delete_spend_before(self, t: float, limit: int = 1000) -> int:
        return await self._write(spend.delete_before(t, limit))

    # -- the request log's summaries (sql_activity.py) ----------------------------------------

    async def activity_series(
        self,
        start: float,
        end: float,
        step: float,
        offset: float = 0.0,
        *,
        by: str | None = None,
        id: str | None = None,
    ) -> list[activity.Bucket]:
        """Totals per hour or day (`step`), of everything or of one key/user/team/model."""
        return await self._read(activity.series(start, end, step, offset, by, id))

    async def activity_totals(
        self,
        by: str,
        start: float | None = None,
        end: float | None = None,
        *,
        limit: int | None = None,
        models: bool = False,
        of: str | None = None,
        id: str | None = None,
    ) -> list[activity.GroupTotals]:
        """Totals per key, user, team or model (`by`), biggest spend first."""
        return await self._read(
            activity.totals(by, start, end, limit=limit, models=models, of=of, id=id)
        )

    async def last_seen(self, kind: str) -> dict[str, float]:
        """When each key (`''`: the master key), user or team last made a request."""
        return await self._read(activity.last_seen(kind))

    async def logged_aliases(self, key_hashes: Sequence[str]) -> dict[str, str]:
        """The alias each key had in its latest logged request (keys deleted since)."""
        return await self._read(activity.aliases(list(key_hashes)))

    async def delete_activity_before(self, t: float) -> int:
        return await self._write(activity.delete_before(t))

    # -- the admin page's sessions (sql_sessions.py) --------------------------------------------

    async def end_ui_session(self, sid: str, expires_at: float, now: float) -> None:
        await self._write(sessions.end(sid, expires_at, now))

    async def ui_session_ended(self, sid: str) -> bool:
        return await self._read(sessions.ended(sid))


def _version() -> Op[int]:
    rows = yield Q("SELECT value FROM litecursor_meta WHERE name = 'schema_version'")
    return int(rows[0][0]) if rows else 0


__all__ = ["LATEST", "Conflict", "SchemaTooNewError", "Store", "StoreError"]
