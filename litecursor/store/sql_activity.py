"""Transaction scripts for the request log's summaries: hourly totals and when each key was last seen.

The admin page's overview and developer views add up requests, errors, tokens and spend per
key, user, team and model over hours and days. Summing the log itself would read every row of
the period (a million rows take seconds in SQLite); instead each batch of rows written also adds
to one row per (hour, key, user, team, model) in `activity_hourly`, per (UTC day, ...) in
`activity_daily` and per hour in `activity_totals`, in the same transaction, so the totals are
always those of the rows written.
Totals over days read the daily rows for the whole days of the period and the hourly rows only
for its two ends: fifty developers' month is a few thousand rows, not a hundred thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .ops import Op, Q, Row, Where, rows_in
from .records import SpendRow
from .schema import KEY_TAG, KEY_TAG_LENGTH

HOUR = 3600.0
DAY = 86400.0

#: the summaries count chat requests, whatever their outcome (refused ones too): the model
#: list Cursor's Verify asks for, the admin API and the admin page's login are in the log only
CHAT_ROUTE = "/chat/completions"

#: the master key's requests have no key hash and the alias "master"; they are summed under
#: this id, and those made with no key at all (refused: 401) under ''
MASTER = "master"

#: the columns the summaries group by; NULL is kept as '' (the master key, no user, ...) so
#: that the primary key holds (NULLs are all distinct in a UNIQUE constraint)
GROUPS = {"key": "key_hash", "user": "user_id", "team": "team_id", "model": "model_group"}
_SUMS = "requests, errors, streamed, spend, prompt_tokens, completion_tokens, cached_tokens"


@dataclass(slots=True)
class Totals:
    requests: int = 0
    errors: int = 0
    streamed: int = 0
    spend: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    def plus(self, o: Totals) -> Totals:
        return Totals(
            self.requests + o.requests,
            self.errors + o.errors,
            self.streamed + o.streamed,
            self.spend + o.spend,
            self.prompt_tokens + o.prompt_tokens,
            self.completion_tokens + o.completion_tokens,
            self.cached_tokens + o.cached_tokens,
        )

    def sums(self) -> tuple[int, int, int, float, int, int, int]:
        """The values of `_SUMS`, in its order."""
        return (
            self.requests,
            self.errors,
            self.streamed,
            self.spend,
            self.prompt_tokens,
            self.completion_tokens,
            self.cached_tokens,
        )

    def add(self, r: SpendRow) -> None:
        self.requests += 1
        self.errors += r.error_message is not None
        self.streamed += r.stream
        self.spend += r.spend
        self.prompt_tokens += r.prompt_tokens
        self.completion_tokens += r.completion_tokens
        self.cached_tokens += r.cached_tokens


@dataclass(frozen=True, slots=True)
class Bucket:
    """The totals of one hour or day (`start`, epoch seconds)."""

    start: float
    totals: Totals


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """The totals of one key, user, team or model (`id` None: the master key, no user...)."""

    id: str | None
    totals: Totals
    last_seen: float | None = None
    #: (model, requests, spend), most used first (when asked for)
    models: tuple[tuple[str, int, float], ...] = field(default=())


def key_is(w: Where, key_hash: str) -> None:
    """One key's rows of the log, as its per-key index finds them: the key's tag (migration
    3), then the rest of its hash. Not `key_hash = ...` for the rest: SQLite would put the
    value in place of the column in the tag's expression too, and the index would no longer
    match it."""
    n = KEY_TAG_LENGTH
    w.add(f"{KEY_TAG} = {{}} AND substr(key_hash, {n + 1}) = {{}}", key_hash[:n], key_hash[n:])


def _id(value: str | None) -> str:
    return "" if value is None else value


def key_id(r: SpendRow) -> str:
    """Who a row's request came from, as the summaries name it."""
    if r.key_hash is not None:
        return r.key_hash
    return MASTER if r.key_alias == MASTER else ""


def _totals(r: Row, at: int) -> Totals:
    v = r[at : at + 7]
    return Totals(int(v[0]), int(v[1]), int(v[2]), float(v[3]), int(v[4]), int(v[5]), int(v[6]))


def new_rows(rows: Sequence[SpendRow]) -> Op[list[SpendRow]]:
    """The rows of a batch that are not in the log yet: a batch retried after its commit
    was in doubt, or a request id a client sent twice, is counted once."""
    known: set[str] = set()
    ids = list({r.request_id for r in rows})
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        marks = ", ".join(f"${n + 1}" for n in range(len(part)))
        found = yield Q(
            f"SELECT request_id FROM spend_logs WHERE request_id IN ({marks})", tuple(part)
        )
        known.update(r[0] for r in found)
    out = []
    for r in rows:
        if r.request_id not in known:
            known.add(r.request_id)
            out.append(r)
    return out


def record(rows: Sequence[SpendRow]) -> Op[None]:
    """Add rows just written to the hourly totals and the last-seen times."""
    hourly: dict[tuple[float, str, str, str, str], Totals] = {}
    seen: dict[tuple[str, str], float] = {}
    for r in rows:
        if r.route is not None and not r.route.endswith(CHAT_ROUTE):
            continue
        hour = r.start_time // HOUR * HOUR
        key = (hour, key_id(r), _id(r.user_id), _id(r.team_id), _id(r.model_group))
        totals = hourly.get(key)
        if totals is None:
            totals = hourly[key] = Totals()
        totals.add(r)
        for kind, value in (("key", key_id(r)), ("user", r.user_id), ("team", r.team_id)):
            if value:
                ref = (kind, value)
                seen[ref] = max(seen.get(ref, 0.0), r.start_time)
    daily: dict[tuple[float, str, str, str, str], Totals] = {}
    for (hour, key_hash, user, team, model), t in hourly.items():
        day = (hour // DAY * DAY, key_hash, user, team, model)
        daily[day] = daily[day].plus(t) if day in daily else t
    # each statement below names a group at most once: PostgreSQL refuses to update one row
    # twice in one statement
    for table, part in (("activity_hourly", hourly), ("activity_daily", daily)):
        time_col = "hour" if table == "activity_hourly" else "day"
        yield from rows_in(
            f"INSERT INTO {table} ({time_col}, key_hash, user_id, team_id, model_group, "
            f"{_SUMS}) VALUES ",
            [(*key, *t.sums()) for key, t in part.items()],
            f" ON CONFLICT ({time_col}, key_hash, user_id, team_id, model_group) DO UPDATE SET "
            + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in _SUMS.split(", ")),
        )
    whole: dict[float, Totals] = {}
    for (hour, *_), t in hourly.items():
        whole[hour] = whole[hour].plus(t) if hour in whole else t
    yield from rows_in(
        f"INSERT INTO activity_totals (hour, {_SUMS}) VALUES ",
        [(hour, *t.sums()) for hour, t in whole.items()],
        " ON CONFLICT (hour) DO UPDATE SET "
        + ", ".join(f"{c} = activity_totals.{c} + excluded.{c}" for c in _SUMS.split(", ")),
    )
    # portable MAX of two values: GREATEST in PostgreSQL is MAX in SQLite
    yield from rows_in(
        "INSERT INTO last_seen (kind, id, at) VALUES ",
        [(kind, id, at) for (kind, id), at in seen.items()],
        " ON CONFLICT (kind, id) DO UPDATE SET at = CASE WHEN excluded.at > last_seen.at "
        "THEN excluded.at ELSE last_seen.at END",
    )


def _spans(
    w: Where, start: float | None, end: float | None, cols: str, of: str | None, id: str | None
) -> str:
    """The rows of [start, end) as one UNION ALL: the daily rows of the whole UTC days inside,
    the hourly rows of the hours before the first and after the last of them."""
    lo = 0.0 if start is None else start // HOUR * HOUR
    hi = 1e15 if end is None else end
    first_day = -(-lo // DAY) * DAY  # the first midnight at or after lo
    last_day = hi // DAY * DAY

    def where(col: str, a: float, b: float) -> str:
        sql = f"{col} >= {w.arg(a)} AND {col} < {w.arg(b)}"
        return sql + (f" AND {GROUPS[of]} = {w.arg(_id(id))}" if of is not None else "")

    parts = []
    if first_day < last_day:
        parts.append(f"SELECT {cols} FROM activity_daily WHERE {where('day', first_day, last_day)}")
        edges = [(lo, first_day), (last_day, hi)]
    else:
        edges = [(lo, hi)]
    parts += [
        f"SELECT {cols} FROM activity_hourly WHERE {where('hour', a, b)}" for a, b in edges if a < b
    ]
    return " UNION ALL ".join(parts)


def _where(start: float | None, end: float | None, by: str | None, id: str | None) -> Where:
    w = Where()
    if start is not None:
        w.add("hour >= {}", start // HOUR * HOUR)
    if end is not None:
        w.add("hour < {}", end)
    if by is not None:
        w.add(f"{GROUPS[by]} = {{}}", _id(id))
    return w


def series(
    start: float, end: float, step: float, offset: float = 0.0, by: str | None = None,
    id: str | None = None,
) -> Op[list[Bucket]]:  # fmt: skip
    """Totals per `step` seconds (3600 or 86400) from `start`, of one key, user, team or model
    when `by` is given. Days begin at midnight `offset` seconds east of UTC (the viewer's
    time zone). Buckets without traffic are there, with zeros."""
    w = _where(start, end, by, id)
    # everything: one row per hour already; one key, user, ...: its rows of each hour
    table = "activity_totals" if by is None else "activity_hourly"
    rows = yield Q(
        "SELECT hour, "
        + ", ".join(f"SUM({c})" for c in _SUMS.split(", "))
        + f" FROM {table}{w.sql} GROUP BY hour",
        tuple(w.args),
    )
    # at most one row per hour of the period: days are added up here, the same way on both
    # databases (SQLite may be built without FLOOR)
    found: dict[int, Totals] = {}
    for r in rows:
        b = int((float(r[0]) + offset) // step)
        t, into = _totals(r, 1), found.get(b)
        found[b] = t if into is None else into.plus(t)
    first = int((start // HOUR * HOUR + offset) // step)
    last = int((end - 1 + offset) // step)
    return [Bucket(b * step - offset, found.get(b, Totals())) for b in range(first, last + 1)]


def totals(
    by: str, start: float | None, end: float | None, *, limit: int | None = None,
    models: bool = False, of: str | None = None, id: str | None = None,
) -> Op[list[GroupTotals]]:  # fmt: skip
    """Totals per key, user, team or model, by spend (then requests), optionally only of one
    key/user/... (`of`, `id`) and with each one's models. A key's id is its hash, "master",
    or None for requests made with no key."""
    col = GROUPS[by]
    w = Where()
    source = _spans(w, start, end, f"{col} AS g, {_SUMS}", of, id)
    lim = f" LIMIT {w.arg(limit)}" if limit is not None else ""
    rows = yield Q(
        "SELECT g, "
        + ", ".join(f"SUM({c})" for c in _SUMS.split(", "))
        + f" FROM ({source}) AS t GROUP BY g ORDER BY 5 DESC, 2 DESC, 1{lim}",
        tuple(w.args),
    )
    groups = [(r[0] or None, _totals(r, 1)) for r in rows]
    per_model: dict[str, list[tuple[str, int, float]]] = {}
    if models and by != "model" and groups:
        w = Where()
        source = _spans(w, start, end, f"{col} AS g, model_group, requests, spend", of, id)
        rows = yield Q(
            f"SELECT g, model_group, SUM(requests), SUM(spend) FROM ({source}) AS t "
            "GROUP BY g, model_group ORDER BY 3 DESC, 2",
            tuple(w.args),
        )
        for r in rows:
            if r[1]:
                per_model.setdefault(r[0], []).append((r[1], int(r[2]), float(r[3])))
    seen: dict[str, float] = {}
    if by != "model":
        seen = yield from last_seen(by)
    return [
        GroupTotals(g, t, seen.get(_id(g)), tuple(per_model.get(_id(g), ()))) for g, t in groups
    ]


def last_seen(kind: str) -> Op[dict[str, float]]:
    """When each key (user, team) last made a request: one row each, read whole."""
    rows = yield Q("SELECT id, at FROM last_seen WHERE kind = $1", (kind,))
    return {r[0]: float(r[1]) for r in rows}


def delete_before(t: float) -> Op[int]:
    """Retention: the hours and days that end before `t` (a few rows per hour each: one
    statement each); returns the hourly rows deleted."""
    rows = yield Q(
        "DELETE FROM activity_hourly WHERE hour + 3600 <= $1 RETURNING hour", (float(t),)
    )
    yield Q("DELETE FROM activity_daily WHERE day + 86400 <= $1", (float(t),))
    yield Q("DELETE FROM activity_totals WHERE hour + 3600 <= $1", (float(t),))
    return len(rows)


def aliases(key_hashes: Sequence[str]) -> Op[dict[str, str]]:
    """The alias each key last had in the log (for keys deleted since): one index lookup each."""
    out: dict[str, str] = {}
    for h in key_hashes:
        w = Where()
        key_is(w, h)
        rows = yield Q(
            f"SELECT key_alias FROM spend_logs{w.sql} AND key_alias IS NOT NULL "
            "ORDER BY start_time DESC LIMIT 1",
            tuple(w.args),
        )
        if rows:
            out[h] = rows[0][0]
    return out


def rename_key(old: str, new: str) -> Op[None]:
    """A regenerated key's requests and totals, under its new hash (`spend_key_tag` finds them)."""
    w = Where()
    key_is(w, old)
    yield Q(f"UPDATE spend_logs SET key_hash = {w.arg(new)}{w.sql}", tuple(w.args))
    for table in ("activity_hourly", "activity_daily"):
        yield Q(f"UPDATE {table} SET key_hash = $2 WHERE key_hash = $1", (old, new))
    yield Q("UPDATE last_seen SET id = $2 WHERE kind = 'key' AND id = $1", (old, new))
