"""Database work as sans-IO transaction scripts: generators that yield queries and get rows back.

One script is one transaction. The SQLite driver runs it on its own thread in one hop, the
PostgreSQL driver awaits each query on one pooled connection; the SQL and the logic are written
once. Queries use PostgreSQL's `$1` placeholders (SQLite reads them as `?1`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
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
