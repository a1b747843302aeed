"""PostgreSQL through asyncpg: several gateway instances share keys, budgets and spend."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg

from .base import Conflict, Store, StoreError
from .ops import Op, Q, Row, T

#: any fixed number: instances starting together take turns to migrate
_MIGRATION_LOCK = 0x6C69746563


class PostgresStore(Store):
    dialect = "postgres"
    #: budgets are reserved in the database, so instances share them exactly
    shared = True

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        self.where = urlunsplit((parts.scheme, host, parts.path, "", ""))
        self._pool: asyncpg.Pool | None = None
        self._sizes = (min_size, max_size)

    async def _connect(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=self._sizes[0], max_size=self._sizes[1]
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise StoreError(f"{self.where}: cannot connect: {e}") from None

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _lock_schema(self) -> Op[None]:
        yield Q(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")

    async def _run(self, op: Op[T], write: bool) -> T:
        if self._pool is None:
            raise StoreError(f"{self.where}: the store is closed")
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                try:
                    q = next(op)
                    while True:
                        q = op.send(await _execute(conn, q))
                except StopIteration as stop:
                    return stop.value
        except asyncpg.IntegrityConstraintViolationError as e:
            raise Conflict(str(e)) from None
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as e:
            raise StoreError(f"{self.where}: {e}") from None
        except asyncpg.PostgresError as e:
            if e.sqlstate and e.sqlstate[:2] in (
                "08",
                "53",
                "57",
            ):  # connection, resources, shutdown
                raise StoreError(f"{self.where}: {e}") from None
            raise


async def _execute(conn: asyncpg.Connection, q: Q) -> list[Row]:
    if q.many is not None:
        if q.many:
            await conn.executemany(q.sql, q.many)
        return []
    return list(await conn.fetch(q.sql, *q.args))
