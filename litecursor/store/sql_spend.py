"""Transaction scripts for budgets (reserve, charge, reset) and spend rows (write, query, report)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from . import sql_activity as activity
from .ops import Op, Q, Row, Where, one, rows_in
from .periods import parse_duration
from .records import (
    Attempt,
    Budget,
    BudgetRef,
    GroupBy,
    SpendQuery,
    SpendRow,
    SpendTotal,
)
from .schema import KEY_TAG
from .sql_activity import MASTER, key_is


class BudgetRefused(Exception):
    """A database reservation found a budget spent; the transaction is rolled back."""

    def __init__(self, ref: BudgetRef, budget: Budget) -> None:
        super().__init__(f"{ref.kind} {ref.id}: budget spent")
        self.ref = ref
        self.budget = budget


@dataclass(frozen=True, slots=True)
class Charge:
    ref: BudgetRef
    cost: float


def load_budgets(refs: Iterable[BudgetRef]) -> Op[dict[BudgetRef, Budget]]:
    out: dict[BudgetRef, Budget] = {}
    for ref in refs:
        row = yield Q(
            "SELECT max_budget, budget_duration, budget_reset_at, spend, reserved FROM budgets "
            "WHERE kind = $1 AND id = $2",
            (ref.kind, ref.id),
        )
        if row:
            r = row[0]
            out[ref] = Budget(r[0], r[1], r[2], float(r[3]), float(r[4]))
    return out


def reserve(
    request_id: str, holds: Sequence[tuple[BudgetRef, float]], now: float, expires_at: float
) -> Op[dict[BudgetRef, Budget]]:
    """Reserve `amount` on each budget, all or none: a budget is open while its spend plus what
    running requests reserved is under its limit (or its period is over and it is about to
    reset). The conditional UPDATE is atomic in both databases, so two instances cannot both
    take the last of a budget. Returns each budget as it is after the reservation."""
    out: dict[BudgetRef, Budget] = {}
    for ref, amount in holds:
        rows = yield Q(
            "UPDATE budgets SET reserved = reserved + $3 WHERE kind = $1 AND id = $2 AND "
            "(max_budget IS NULL OR (budget_reset_at IS NOT NULL AND budget_reset_at <= $4) "
            "OR spend + reserved < max_budget) RETURNING max_budget, budget_duration, "
            "budget_reset_at, spend, reserved",
            (ref.kind, ref.id, amount, now),
        )
        if not rows:
            found = yield from load_budgets([ref])
            if ref in found:  # a missing budget row is no limit
                raise BudgetRefused(ref, found[ref])
            continue
        r = rows[0]
        out[ref] = Budget(r[0], r[1], r[2], float(r[3]), float(r[4]))
        yield Q(
            "INSERT INTO holds (request_id, kind, id, amount, expires_at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (request_id, kind, id) DO UPDATE SET amount = holds.amount + excluded.amount",
            (request_id, ref.kind, ref.id, amount, expires_at),
        )
    return out


def _release(request_ids: Iterable[str]) -> Op[None]:
    for request_id in request_ids:
        rows = yield Q(
            "DELETE FROM holds WHERE request_id = $1 RETURNING kind, id, amount", (request_id,)
        )
        for kind, id, amount in rows:
            yield _give_back(kind, id, amount)


def _give_back(kind: str, id: str, amount: float) -> Q:
    return Q(
        "UPDATE budgets SET reserved = CASE WHEN reserved > $3 THEN reserved - $3 ELSE 0 END "
        "WHERE kind = $1 AND id = $2",
        (kind, id, amount),
    )


def release(request_ids: Iterable[str]) -> Op[None]:
    yield from _release(request_ids)


def release_expired(now: float) -> Op[int]:
    """Give back what requests of a crashed instance still hold."""
    rows = yield Q("DELETE FROM holds WHERE expires_at <= $1 RETURNING kind, id, amount", (now,))
    for kind, id, amount in rows:
        yield _give_back(kind, id, amount)
    return len(rows)


_SPEND_COLS = (
    "request_id, start_time, end_time, key_hash, key_alias, user_id, team_id, end_user, "
    "model, model_group, deployment, provider, prompt_tokens, completion_tokens, "
    "cached_tokens, cache_write_tokens, reasoning_tokens, spend, estimated, latency_ms, "
    "ttft_ms, status, error_type, error_message, conversation_id, route, client_ip, "
    "user_agent, stream, upstream_status, attempts, retries, fallbacks, request_body, "
    "response_body, metadata"
)
#: a page of rows leaves the prompts and answers (up to `log_body_max_kb` each) in the table:
#: only one request's detail shows them
_LIST_COLS = _SPEND_COLS.replace("request_body, response_body", "NULL, NULL")
_SPEND_INSERT = f"INSERT INTO spend_logs ({_SPEND_COLS}) VALUES "
_SPEND_CONFLICT = " ON CONFLICT (request_id) DO NOTHING"
#: what each budget's requests of a batch cost it, added in one statement (`rows_in`); typed,
#: as PostgreSQL cannot tell the type of a value in a VALUES list of its own
_CHARGE = (
    "WITH v (kind, id, cost) AS (VALUES ",
    ") UPDATE budgets SET spend = spend + v.cost FROM v "
    "WHERE budgets.kind = v.kind AND budgets.id = v.id",
    "(CAST({} AS TEXT), CAST({} AS TEXT), CAST({} AS DOUBLE PRECISION))",
)


def _attempts_json(attempts: tuple[Attempt, ...]) -> str:
    return orjson.dumps(
        [
            {"deployment": a.deployment, "status": a.status, "latency_ms": a.latency_ms}
            | ({"error": a.error} if a.error else {})
            | ({"offset_ms": a.offset_ms} if a.offset_ms is not None else {})
            for a in attempts
        ]
    ).decode()


def _spend_args(r: SpendRow) -> tuple[object, ...]:
    return (
        r.request_id, r.start_time, r.end_time, r.key_hash, r.key_alias, r.user_id, r.team_id,
        r.end_user, r.model, r.model_group, r.deployment, r.provider, r.prompt_tokens,
        r.completion_tokens, r.cached_tokens, r.cache_write_tokens, r.reasoning_tokens,
        float(r.spend), int(r.estimated), r.latency_ms, r.ttft_ms, r.status, r.error_type,
        r.error_message, r.conversation_id, r.route, r.client_ip, r.user_agent, int(r.stream),
        r.upstream_status, _attempts_json(r.attempts), r.retries, r.fallbacks, r.request_body,
        r.response_body, orjson.dumps(dict(r.metadata)).decode(),
    )  # fmt: skip


def row_of(row: Row) -> SpendRow:
    attempts = tuple(
        Attempt(a["deployment"], a["status"], a["latency_ms"], a.get("error"), a.get("offset_ms"))
        for a in orjson.loads(row[30])
    )
    return SpendRow(
        request_id=row[0], start_time=row[1], end_time=row[2], key_hash=row[3],
        key_alias=row[4], user_id=row[5], team_id=row[6], end_user=row[7], model=row[8],
        model_group=row[9], deployment=row[10], provider=row[11], prompt_tokens=row[12],
        completion_tokens=row[13], cached_tokens=row[14], cache_write_tokens=row[15],
        reasoning_tokens=row[16], spend=row[17], estimated=bool(row[18]), latency_ms=row[19],
        ttft_ms=row[20], status=row[21], error_type=row[22], error_message=row[23],
        conversation_id=row[24], route=row[25], client_ip=row[26], user_agent=row[27],
        stream=bool(row[28]), upstream_status=row[29], attempts=attempts, retries=row[31],
        fallbacks=row[32], request_body=row[33], response_body=row[34],
        metadata=orjson.loads(row[35]),
    )  # fmt: skip


def write(
    rows: Sequence[SpendRow],
    charges: Sequence[Charge],
    released: Sequence[str],
    now: float | None = None,
) -> Op[None]:
    """One batch: the rows, what they cost each budget, and the reservations they settle.
    A row already written (a retried batch) is skipped; its charge is not, so a batch is
    retried only when its transaction did not commit. Budgets whose period ended by `now`
    are reset first: a charge made in the new period must not be wiped by the reset that
    comes after it."""
    if rows:
        fresh = yield from activity.new_rows(rows)
        yield from rows_in(_SPEND_INSERT, [_spend_args(r) for r in rows], _SPEND_CONFLICT)
        yield from activity.record(fresh)
    if charges and now is not None:
        yield from roll(now)
    head, tail, row = _CHARGE
    yield from rows_in(head, [(c.ref.kind, c.ref.id, float(c.cost)) for c in charges], tail, row)
    yield from _release(released)


def roll(now: float) -> Op[list[BudgetRef]]:
    """Start a new period for every budget whose period is over. Each reset is a
    compare-and-set on the old end, so when several instances run this at once each budget is
    reset exactly once."""
    due = yield Q(
        "SELECT kind, id, budget_duration, budget_reset_at FROM budgets "
        "WHERE budget_reset_at IS NOT NULL AND budget_reset_at <= $1",
        (now,),
    )
    done: list[BudgetRef] = []
    for kind, id, duration, end in due:
        following = parse_duration(duration).next_end(end, now) if duration else None
        rows = yield Q(
            "UPDATE budgets SET spend = 0, budget_reset_at = $4 "
            "WHERE kind = $1 AND id = $2 AND budget_reset_at = $3 RETURNING kind",
            (kind, id, end, following),
        )
        if rows:
            done.append(BudgetRef(kind, id))
    return done


def query(q: SpendQuery) -> Op[list[SpendRow]]:
    """Newest first, keyset-paged on (start_time, request_id)."""
    w = Where()
    w.eq("request_id", q.request_id)
    if q.key_hash is not None:
        key_is(w, q.key_hash)
    w.eq("key_alias", q.key_alias)
    w.eq("user_id", q.user_id)
    w.eq("team_id", q.team_id)
    w.eq("end_user", q.end_user)
    w.eq("model_group", q.model)
    w.eq("status", q.status)
    # rows without a key hash have no key tag: the per-key index holds them under NULL
    if q.caller == MASTER:
        w.add(f"{KEY_TAG} IS NULL AND key_alias = {{}}", MASTER)
    elif q.caller is not None:
        w.add(f"{KEY_TAG} IS NULL AND key_alias IS NULL")
    # `error_message IS NOT NULL` as written: it is what the failed rows' index covers
    if q.failed is False:
        w.add("error_message IS NULL")
    elif q.failed or q.error_text:
        w.add("error_message IS NOT NULL")
    if q.error_text:
        w.add("LOWER(error_message) LIKE {} ESCAPE '\\'", f"%{_like(q.error_text.lower())}%")
    if q.start is not None:
        w.add("start_time >= {}", q.start)
    if q.end is not None:
        w.add("start_time < {}", q.end)
    if q.before is not None:
        w.add("(start_time, request_id) < ({}, {})", *q.before)
    order = f" ORDER BY start_time DESC, request_id DESC LIMIT {w.arg(q.limit)}"
    rows = yield Q(f"SELECT {_LIST_COLS} FROM spend_logs{w.sql}{order}", tuple(w.args))
    return [row_of(r) for r in rows]


def _like(text: str) -> str:
    """`text` matched literally by LIKE (with `ESCAPE '\\'`): its % and _ are no wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_GROUP_COLUMN = {
    "key": "key_hash",
    "user": "user_id",
    "team": "team_id",
    "model": "model_group",
    "end_user": "end_user",
}


def report(group_by: GroupBy, start: float | None, end: float | None) -> Op[list[SpendTotal]]:
    col = _GROUP_COLUMN[group_by]
    w = Where()
    if start is not None:
        w.add("start_time >= {}", start)
    if end is not None:
        w.add("start_time < {}", end)
    alias = "MAX(key_alias)" if group_by == "key" else "NULL"
    rows = yield Q(
        f"SELECT {col}, {alias}, COUNT(*), COALESCE(SUM(spend), 0), "
        "COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
        f"COALESCE(SUM(cached_tokens), 0) FROM spend_logs{w.sql} GROUP BY {col} "
        "ORDER BY 4 DESC",
        tuple(w.args),
    )
    return [
        SpendTotal(r[0], r[1], int(r[2]), float(r[3]), int(r[4]), int(r[5]), int(r[6]))
        for r in rows
    ]


def delete_before(t: float, limit: int) -> Op[int]:
    """Retention: at most `limit` of the oldest rows older than `t` (small batches keep each
    transaction short)."""
    rows = yield Q(
        "DELETE FROM spend_logs WHERE request_id IN (SELECT request_id FROM spend_logs "
        "WHERE start_time < $1 ORDER BY start_time LIMIT $2) RETURNING request_id",
        (t, limit),
    )
    return len(rows)


def get_row(request_id: str) -> Op[SpendRow | None]:
    row = one(
        (yield Q(f"SELECT {_SPEND_COLS} FROM spend_logs WHERE request_id = $1", (request_id,)))
    )
    return None if row is None else row_of(row)
