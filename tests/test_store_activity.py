"""The request log's summaries on both databases: hourly totals, last seen, the failed-rows filters, retention."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from litecursor.store import SpendQuery, SpendRow, Store, open_store
from litecursor.store import sql_activity as activity
from litecursor.store import sql_spend as spend
from litecursor.store.ops import Op, Q
from litecursor.store.tokens import hash_key

HOUR = 3600.0
DAY = 86400.0
#: a database as migration 2 left it: the per-key index on the whole hash
UNDO_3 = (
    "DROP INDEX spend_key_tag",
    "CREATE INDEX spend_key ON spend_logs (key_hash, start_time)",
)
T0 = 1_780_012_800.0  # 2026-05-29 00:00:00 UTC


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = open_store(database_url)
    await s.open()
    yield s
    await s.close()


def row(n: int, at: float, **kw: Any) -> SpendRow:
    base: dict[str, Any] = dict(
        request_id=f"r{n:05d}",
        start_time=at,
        end_time=at + 1,
        key_hash="k-alice",
        key_alias="alice",
        user_id="u-alice",
        model="gpt-4o",
        model_group="gpt-4o",
        prompt_tokens=100,
        completion_tokens=10,
        cached_tokens=40,
        spend=0.01,
        stream=True,
        request_body='{"messages": []}',
        response_body="hello",
    )
    base.update(kw)
    return SpendRow(**base)


async def test_written_rows_add_up_per_hour_and_per_day(store: Store) -> None:
    rows = [
        row(1, T0 + 10),
        row(2, T0 + 20, stream=False),
        row(3, T0 + HOUR + 5, error_message="upstream said 500", status=502, spend=0.0),
        row(4, T0 + DAY + 7, key_hash=None, key_alias="master", user_id=None, model_group="mock"),
    ]
    await store.write_spend(rows[:2])
    await store.write_spend(rows[2:])
    hours = await store.activity_series(T0, T0 + 3 * HOUR, HOUR)
    assert [b.start for b in hours] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    first, second, third = (b.totals for b in hours)
    assert (first.requests, first.errors, first.streamed) == (2, 0, 1)
    assert (first.prompt_tokens, first.completion_tokens, first.cached_tokens) == (200, 20, 80)
    assert first.spend == pytest.approx(0.02)
    assert (second.requests, second.errors) == (1, 1)
    assert third.requests == 0
    days = await store.activity_series(T0, T0 + 2 * DAY, DAY)
    assert [b.totals.requests for b in days] == [3, 1]
    # days of a viewer two hours east of UTC begin at 22:00 UTC
    east = await store.activity_series(T0, T0 + 2 * DAY, DAY, offset=2 * HOUR)
    assert east[0].start == T0 - 2 * HOUR and [b.totals.requests for b in east] == [3, 1, 0]
    only_master = await store.activity_series(T0, T0 + 2 * DAY, DAY, by="key", id="master")
    assert [b.totals.requests for b in only_master] == [0, 1]


async def test_totals_per_key_with_their_models_and_last_seen(store: Store) -> None:
    await store.write_spend(
        [
            row(1, T0, spend=0.5),
            row(2, T0 + 60, model_group="claude", spend=0.25),
            row(3, T0 + 120, model_group="claude"),
            row(4, T0 + 300, key_hash="k-bob", key_alias="bob", user_id="u-bob", spend=2.0),
            row(5, T0 + 400, key_hash=None, key_alias="master", user_id=None, spend=0.0),
            # no key at all (refused): summed apart, never "seen"
            row(
                6,
                T0 + 500,
                key_hash=None,
                key_alias=None,
                user_id=None,
                status=401,
                spend=0.0,
                model_group=None,
            ),
        ]
    )
    keys = await store.activity_totals("key", T0, T0 + DAY, models=True)
    assert [(g.id, g.totals.requests) for g in keys] == [
        ("k-bob", 1),
        ("k-alice", 3),
        (None, 1),  # ties in spend and requests go by id
        ("master", 1),
    ]
    alice = keys[1]
    assert alice.totals.spend == pytest.approx(0.76)
    assert alice.models == (("claude", 2, pytest.approx(0.26)), ("gpt-4o", 1, 0.5))
    assert alice.last_seen == T0 + 120 and keys[3].last_seen == T0 + 400
    assert keys[2].last_seen is None
    top = await store.activity_totals("model", T0, T0 + DAY, limit=1)
    assert [(g.id, g.totals.requests) for g in top] == [("gpt-4o", 3)]
    of_bob = await store.activity_totals("model", None, None, of="key", id="k-bob")
    assert [g.id for g in of_bob] == ["gpt-4o"]
    assert await store.last_seen("user") == {"u-alice": T0 + 120, "u-bob": T0 + 300}
    # nothing in another period
    assert await store.activity_totals("key", T0 + DAY, T0 + 2 * DAY) == []


async def test_totals_over_days_are_the_rows_of_the_period_at_any_edges(store: Store) -> None:
    """Whole days come from the daily rows, the hours at both ends from the hourly ones: the
    sums are those of the rows whatever the period's edges."""
    rnd = random.Random(5)
    keys = ["k-a", "k-b", None]
    rows = [
        row(
            i, T0 + rnd.uniform(0, 5 * DAY), key_hash=rnd.choice(keys), spend=rnd.choice([0.5, 1.0])
        )
        for i in range(400)
    ]
    await store.write_spend(rows)
    for start, end in [
        (T0, T0 + 5 * DAY),
        (T0 + 7 * HOUR + 5, T0 + 3 * DAY + 2 * HOUR),
        (T0 + 10 * HOUR, T0 + 20 * HOUR),
        (T0 + DAY - HOUR, T0 + DAY + HOUR),
        (None, None),
    ]:
        lo = -1.0 if start is None else start // HOUR * HOUR
        hi = 1e18 if end is None else end
        want: dict[str | None, tuple[int, float]] = {}
        for r in rows:
            if lo <= r.start_time < hi:
                n, s = want.get(r.key_hash, (0, 0.0))
                want[r.key_hash] = (n + 1, s + r.spend)
        got = await store.activity_totals("key", start, end)
        assert {g.id: (g.totals.requests, round(g.totals.spend, 6)) for g in got} == {
            k: (n, round(s, 6)) for k, (n, s) in want.items()
        }, (start, end)


async def test_a_row_written_twice_is_counted_once(store: Store) -> None:
    first = [row(1, T0), row(2, T0 + 1)]
    await store.write_spend(first)
    await store.write_spend([*first, row(3, T0 + 2), row(3, T0 + 2)])
    [hour] = await store.activity_series(T0, T0 + HOUR, HOUR)
    assert hour.totals.requests == 3
    assert len(await store.spend_logs(SpendQuery())) == 3


async def test_the_log_filters_failed_rows_master_key_rows_and_error_text(store: Store) -> None:
    await store.write_spend(
        [
            row(1, T0 + 1),
            row(2, T0 + 2, status=429, error_message="rate limited: 100% of 5 rpm used"),
            row(3, T0 + 3, status=200, error_message="stream cut after the first byte"),
            row(4, T0 + 4, key_hash=None, key_alias="master"),
            row(6, T0 + 6, key_hash=None, key_alias=None, status=401, error_message="invalid key"),
            row(5, T0 + 5, status=499),
        ]
    )

    async def ids(**kw: Any) -> list[str]:
        return [r.request_id for r in await store.spend_logs(SpendQuery(**kw))]

    assert await ids(failed=True) == ["r00006", "r00003", "r00002"]
    assert await ids(failed=False) == ["r00005", "r00004", "r00001"]
    assert await ids(caller="master") == ["r00004"]
    assert await ids(caller="none") == ["r00006"]
    assert await ids(error_text="STREAM") == ["r00003"]
    # % and _ are the text itself, not wildcards
    assert await ids(error_text="100%") == ["r00002"]
    assert await ids(error_text="1_0") == []
    assert await ids(failed=True, before=(T0 + 3, "r00003")) == ["r00002"]


async def test_pages_leave_the_bodies_out_and_one_request_has_them(store: Store) -> None:
    await store.write_spend([row(1, T0)])
    [listed] = await store.spend_logs(SpendQuery())
    assert listed.request_body is None and listed.response_body is None
    one = await store.spend_row("r00001")
    assert one is not None and one.request_body == '{"messages": []}'
    assert replace(one, request_body=None, response_body=None) == listed


async def test_retention_deletes_the_hours_before_the_cut(store: Store) -> None:
    await store.write_spend([row(1, T0), row(2, T0 + HOUR), row(3, T0 + 2 * HOUR)])
    assert await store.delete_activity_before(T0 + HOUR + 30) == 1
    hours = await store.activity_series(T0, T0 + 3 * HOUR, HOUR)
    assert [b.totals.requests for b in hours] == [0, 1, 1]


async def test_upgrading_a_log_written_before_the_summaries_adds_it_up(database_url: str) -> None:
    """A database at schema 1 with rows in its log gets their totals from migration 2."""
    s = open_store(database_url)
    await s.open()
    await s.write_spend(
        [
            row(1, T0 + 5),
            row(2, T0 + 6, error_message="boom", status=500),
            row(3, T0 + HOUR),
            row(4, T0 + HOUR + 1, route="/v1/models"),  # in the log, not in the totals
        ]
    )

    def back_to_1():
        for sql in (
            "DROP TABLE activity_hourly",
            "DROP TABLE activity_daily",
            "DROP TABLE activity_totals",
            "DROP TABLE last_seen",
            "DROP TABLE ui_sessions_ended",
            "DROP INDEX spend_failed",
            *UNDO_3,
            "UPDATE litecursor_meta SET value = '1' WHERE name = 'schema_version'",
        ):
            yield Q(sql)

    await s._write(back_to_1())
    await s.close()
    s = open_store(database_url)
    assert await s.open() == [2, 3]
    try:
        hours = await s.activity_series(T0, T0 + 2 * HOUR, HOUR)
        assert [(b.totals.requests, b.totals.errors) for b in hours] == [(2, 1), (1, 0)]
        assert hours[0].totals.spend == pytest.approx(0.02)
        assert await s.last_seen("key") == {"k-alice": T0 + HOUR}
        days = await s.activity_series(T0, T0 + DAY, DAY)  # the hourly totals too
        assert [b.totals.requests for b in days] == [3]
        [alice] = await s.activity_totals("key", T0 - 2 * DAY, T0 + 2 * DAY)  # daily rows too
        assert (alice.totals.requests, alice.totals.errors) == (3, 1)
        assert [r.request_id for r in await s.spend_logs(SpendQuery(failed=True))] == ["r00002"]
    finally:
        await s.close()


async def test_a_regenerated_key_keeps_its_history(store: Store) -> None:
    """The developer's page follows the key record, not one value of it."""
    _, rec = await store.create_key({"key_alias": "alice"}, {}, T0)
    await store.write_spend(
        [row(1, T0 + 5, key_hash=rec.token), row(2, T0 + 6, key_hash=rec.token)]
    )
    done = await store.regenerate_key(rec.token, T0 + 10)
    assert done is not None
    new = done[1].token
    assert [r.request_id for r in await store.spend_logs(SpendQuery(key_hash=new))] == [
        "r00002",
        "r00001",
    ]
    assert await store.spend_logs(SpendQuery(key_hash=rec.token)) == []
    [totals] = await store.activity_totals("key", T0, T0 + DAY)
    assert (totals.id, totals.totals.requests, totals.last_seen) == (new, 2, T0 + 6)
    [day] = await store.activity_series(T0, T0 + DAY, DAY, by="key", id=new)
    assert day.totals.requests == 2


async def test_a_logged_out_session_is_kept_until_it_would_have_expired(store: Store) -> None:
    await store.end_ui_session("sid-1", expires_at=T0 + 100, now=T0)
    await store.end_ui_session("sid-1", expires_at=T0 + 100, now=T0 + 1)  # twice: no error
    assert await store.ui_session_ended("sid-1") and not await store.ui_session_ended("sid-2")
    # the next logout after its expiry takes the old row away
    await store.end_ui_session("sid-2", expires_at=T0 + 300, now=T0 + 200)
    assert not await store.ui_session_ended("sid-1") and await store.ui_session_ended("sid-2")


async def test_the_summaries_count_chat_requests_only(store: Store) -> None:
    """Cursor's Verify, the admin API and the page's login are in the log, not in the totals."""
    await store.write_spend(
        [
            row(1, T0, route="/cursor/chat/completions"),
            row(2, T0 + 1, route="/v1/chat/completions", status=401, error_message="invalid key"),
            row(3, T0 + 2, route="/cursor/models", key_hash="k-bob"),
            row(4, T0 + 3, route="/key/generate", key_hash=None),
        ]
    )
    [hour] = await store.activity_series(T0, T0 + HOUR, HOUR)
    assert (hour.totals.requests, hour.totals.errors) == (2, 1)
    assert await store.last_seen("key") == {"k-alice": T0 + 1}
    assert len(await store.spend_logs(SpendQuery())) == 4


def _indexes(store: Store) -> Op[set[str]]:
    if store.dialect == "sqlite":
        rows = yield Q("SELECT name FROM sqlite_master WHERE type = 'index'")
    else:
        rows = yield Q("SELECT indexname FROM pg_indexes WHERE tablename = 'spend_logs'")
    return {r[0] for r in rows}


def _plan(store: Store, q: Q) -> Op[str]:
    """How the database would run `q`; PostgreSQL told to avoid a whole-table scan, which
    it prefers for a table this small."""
    if store.dialect == "sqlite":
        rows = yield Q("EXPLAIN QUERY PLAN " + q.sql, q.args)
        return "\n".join(str(r[-1]) for r in rows)
    yield Q("SET LOCAL enable_seqscan = off")
    rows = yield Q("EXPLAIN " + q.sql, q.args)
    return "\n".join(str(r[0]) for r in rows)


def _first(op: Op[Any]) -> Q:
    return next(op)


async def test_each_query_for_one_keys_rows_uses_the_per_key_index(store: Store) -> None:
    keys = [hash_key(f"sk-test-{i:040d}") for i in range(20)]
    rows = [
        row(i, T0 + i, key_hash=keys[i % 20], key_alias=f"k{i % 20}", user_id=None)
        for i in range(400)
    ]
    await store.write_spend(rows)
    for q in (
        _first(spend.query(SpendQuery(key_hash=keys[3]))),
        _first(spend.query(SpendQuery(key_hash=keys[3], before=(T0 + 300, "r00300")))),
        _first(spend.query(SpendQuery(caller="master"))),
        _first(activity.aliases([keys[3]])),
        _first(activity.rename_key(keys[3], keys[4])),
    ):
        assert "spend_key_tag" in await store._read(_plan(store, q)), q.sql
    assert [r.request_id for r in await store.spend_logs(SpendQuery(key_hash=keys[3]))] == [
        f"r{i:05d}" for i in range(383, 0, -20)
    ]


async def test_upgrading_to_schema_3_moves_the_per_key_index_to_the_key_tag(
    database_url: str,
) -> None:
    """A database at schema 2 is upgraded in place, its rows found by key as before."""
    s = open_store(database_url)
    await s.open()
    alice, bob = hash_key("sk-alice-" + "a" * 40), hash_key("sk-bob-" + "b" * 40)
    await s.write_spend(
        [row(1, T0, key_hash=alice), row(2, T0 + 1, key_hash=bob), row(3, T0 + 2, key_hash=alice)]
    )

    def back_to_2() -> Op[None]:
        for sql in (
            *UNDO_3,
            "UPDATE litecursor_meta SET value = '2' WHERE name = 'schema_version'",
        ):
            yield Q(sql)

    await s._write(back_to_2())
    assert "spend_key" in await s._read(_indexes(s))
    await s.close()
    s = open_store(database_url)
    try:
        assert await s.open() == [3]
        indexes = await s._read(_indexes(s))
        assert "spend_key_tag" in indexes and "spend_key" not in indexes
        found = await s.spend_logs(SpendQuery(key_hash=alice))
        assert [r.request_id for r in found] == ["r00003", "r00001"]
        assert await s.logged_aliases([alice, bob]) == {alice: "alice", bob: "alice"}
    finally:
        await s.close()
