"""Keys, budgets, spend and request rows: SQLite embedded by default, PostgreSQL for several instances."""

from __future__ import annotations

from pathlib import Path

from .base import Conflict, Store, StoreError
from .records import (
    Budget,
    BudgetRef,
    EndUserRecord,
    KeyRecord,
    Limits,
    SpendQuery,
    SpendRow,
    SpendTotal,
    TeamRecord,
    UserRecord,
)
from .schema import LATEST, SchemaTooNewError
from .sql_spend import BudgetRefused, Charge

#: the SQLite file's name beside the config file when `general_settings.database_url` is unset
DEFAULT_FILE = "litecursor.db"


def open_store(url: str | None, base_dir: str | Path = ".", *, pool_size: int = 10) -> Store:
    """The store for `database_url`: `postgresql://…` (or `postgres://…`) is PostgreSQL (with
    up to `pool_size` connections); `sqlite:///path`, a plain path, or nothing
    (`litecursor.db`) is SQLite, a relative path being relative to `base_dir` (the config
    file's folder); `:memory:` is a database that lives as long as the process. Call
    `await store.open()`."""
    if url and url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url, max_size=max(1, pool_size))
    from .sqlite import SQLiteStore

    path = url or DEFAULT_FILE
    if path in (":memory:", "sqlite://:memory:"):
        return SQLiteStore(":memory:")
    if path.startswith("sqlite:///"):
        path = path[len("sqlite:///") :]
    elif "://" in path:
        raise StoreError(
            f"database_url '{path.split('://')[0]}://…' is neither postgresql:// nor a SQLite path"
        )
    p = Path(path).expanduser()
    return SQLiteStore(p if p.is_absolute() else Path(base_dir) / p)


__all__ = [
    "DEFAULT_FILE",
    "LATEST",
    "Budget",
    "BudgetRef",
    "BudgetRefused",
    "Charge",
    "Conflict",
    "EndUserRecord",
    "KeyRecord",
    "Limits",
    "SchemaTooNewError",
    "SpendQuery",
    "SpendRow",
    "SpendTotal",
    "Store",
    "StoreError",
    "TeamRecord",
    "UserRecord",
    "open_store",
]
