"""Database work as sans-IO transaction scripts: generators that yield queries and get rows back.

One script is one transaction. The SQLite driver runs it on its own thread in one hop, the
PostgreSQL driver awaits each query on one pooled connection; the SQL and the logic are written
once. Queries use PostgreSQL's `$1` placeholders (SQLite reads them as `?1`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

T = TypeVar("T")
Row = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Q:
    """One statement; `many` runs it once per argument tuple (no rows come back)."""

    sql: str
    args: tuple[Any, ...] = ()
    many: Sequence[tuple[Any, ...]] | None = None


#: a transaction script: yields `Q`s, is sent each one's rows, returns its result
Op = Generator[Q, list[Row], T]


def drive(op: Op[T], execute: Callable[[Q], list[Row]]) -> T:
    """Run a script against a synchronous `execute` (SQLite's thread)."""
    try:
        q = next(op)
        while True:
            q = op.send(execute(q))
    except StopIteration as stop:
        return stop.value


#: rows per multi-row statement (`rows_in`); shorter statements for the rest
CHUNK = 64


def rows_in(
    head: str, rows: Sequence[tuple[Any, ...]], tail: str = "", row: str = ""
) -> Generator[Q, list[Row], None]:
    """`head` VALUES-list `tail` statements carrying `rows`, up to `CHUNK` rows each.

    Why not `many`: SQLite's driver lets go of the GIL for every row `executemany` runs and
    must take it back from the event loop thread after each, a handoff that costs both threads;
    a statement of 64 rows runs as one step. Chunks are `CHUNK` rows, then powers of two for
    the rest, so that a few statement texts serve every batch (each is compiled once and
    cached, by SQLite's driver and by asyncpg). `row`: one row's text with `{}` for each
    value (`(CAST({} AS TEXT), {})`), when a value needs a type PostgreSQL cannot infer."""
    if not rows:
        return
    width = len(rows[0])
    row = row or "(" + ", ".join(["{}"] * width) + ")"
    i, n = 0, len(rows)
    while i < n:
        size = CHUNK if n - i >= CHUNK else 1 << ((n - i).bit_length() - 1)
        part = rows[i : i + size]
        yield Q(_rows_sql(head, tail, row, width, size), tuple(v for r in part for v in r))
        i += size


@lru_cache(maxsize=256)
def _rows_sql(head: str, tail: str, row: str, width: int, size: int) -> str:
    marks = ", ".join(
        row.format(*(f"${k * width + j + 1}" for j in range(width))) for k in range(size)
    )
    return f"{head}{marks}{tail}"


def one(rows: list[Row]) -> Row | None:
    return rows[0] if rows else None


class Where:
    """A WHERE clause built from optional filters, numbering placeholders as it goes."""

    __slots__ = ("args", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, template: str, *values: Any) -> None:
        """`template` with `{}` where each value's placeholder goes."""
        self.parts.append(template.format(*(self.arg(v) for v in values)))

    def eq(self, column: str, value: Any) -> None:
        if value is not None:
            self.add(f"{column} = {{}}", value)

    @property
    def sql(self) -> str:
        return f" WHERE {' AND '.join(self.parts)}" if self.parts else ""
