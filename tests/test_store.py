"""The store on both databases: schema, keys, identities, budgets, reservations, spend rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from litecursor.store import (
    LATEST,
    BudgetRef,
    BudgetRefused,
    Charge,
    SchemaTooNewError,
    SpendQuery,
    SpendRow,
    Store,
    open_store,
)
from litecursor.store.ops import Q, rows_in
from litecursor.store.records import Attempt
from litecursor.store.tokens import hash_key

NOW = 1_780_000_000.0  # 2026-05-28


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = open_store(database_url)
    await s.open()
    yield s
    await s.close()


async def test_first_start_creates_the_schema_and_a_second_applies_nothing(
    database_url: str,
) -> None:
    s = open_store(database_url)
    assert await s.open() == list(range(1, LATEST + 1))
    await s.close()
    s = open_store(database_url)
    assert await s.open() == []
    assert await s.schema_version() == LATEST
    await s.close()


async def test_a_schema_newer_than_the_code_refuses_to_open(
    store: Store, database_url: str
) -> None:
    def bump():
        yield Q(
            "UPDATE litecursor_meta SET value = $1 WHERE name = 'schema_version'",
            (str(LATEST + 1),),
        )

    await store._write(bump())
    await store.close()
    again = open_store(database_url)
    with pytest.raises(SchemaTooNewError, match=f"version {LATEST + 1}, newer than"):
        await again.open()
    with pytest.raises(SchemaTooNewError):
        await open_store(database_url).open(migrate=False)


def test_sqlite_is_created_beside_the_config_in_wal_mode(tmp_path: Path) -> None:
    async def run() -> str:
        s = open_store(None, tmp_path / "conf")
        await s.open()
        mode = await s._read(_pragma())
        await s.close()
        return mode

    def _pragma():
        rows = yield Q("PRAGMA journal_mode")
        return rows[0][0]

    assert asyncio.run(run()) == "wal"
    assert (tmp_path / "conf" / "litecursor.db").exists()


async def test_a_key_is_stored_only_as_its_hash(store: Store, database_url: str) -> None:
    key, rec = await store.create_key({"key_alias": "alice"}, {"max_budget": 5.0}, NOW)
    assert key.startswith("sk-") and len(key) >= 40
    assert rec.token == hash_key(key) and rec.key_name == f"sk-...{key[-4:]}"
    assert (await store.get_key(hash_key(key))) == rec
    assert rec.budget.max_budget == 5.0 and rec.budget.spend == 0
    rows = await store._read(_all_text())
    assert key not in rows and key[3:] not in rows
    if not database_url.startswith("postgres"):
        await store.close()
        data = b"".join(p.read_bytes() for p in Path(database_url).parent.glob("litecursor.db*"))
        assert key.encode() not in data and key[3:].encode() not in data


def _all_text():
    out = []
    for table in ("keys", "budgets", "changes", "litecursor_meta"):
        rows = yield Q(f"SELECT * FROM {table}")
        out.extend(str(v) for r in rows for v in r)
    return " ".join(out)


async def test_keys_update_block_regenerate_delete(store: Store) -> None:
    _, rec = await store.create_key({"models": ["gpt-4o"], "rpm_limit": 10}, {}, NOW)
    upd = await store.update_key(
        rec.token, {"blocked": True, "models": ["a", "b"]}, {"budget_duration": "1d"}, NOW + 1
    )
    assert upd is not None and upd.blocked and upd.models == ("a", "b")
    assert upd.limits.rpm_limit == 10 and upd.budget.duration == "1d"
    assert upd.budget.reset_at == (NOW // 86400 + 1) * 86400  # the next midnight UTC
    again = await store.regenerate_key(rec.token, NOW + 2)
    assert again is not None
    new_key, new_rec = again
    assert await store.get_key(rec.token) is None
    assert new_rec.token == hash_key(new_key) and new_rec.models == ("a", "b")
    assert new_rec.budget.duration == "1d"
    assert await store.delete_keys([new_rec.token, "nope"], NOW + 3) == [new_rec.token]
    assert await store.get_key(new_rec.token) is None
    assert await store.update_key("nope", {"blocked": True}, {}, NOW) is None


async def test_keys_are_listed_by_user_and_in_pages(store: Store) -> None:
    await store.create_user("u1", {"user_email": "u1@example.com"}, {"max_budget": 10}, NOW)
    for i in range(5):
        await store.create_key({"user_id": "u1", "key_alias": f"k{i}"}, {}, NOW + i)
    await store.create_key({"user_id": "u2"}, {}, NOW)
    total, page = await store.list_keys(user_id="u1", offset=2, limit=2)
    assert total == 5 and [k.key_alias for k in page] == ["k2", "k3"]
    user = await store.get_user("u1")
    assert user is not None and user.budget.max_budget == 10 and user.user_email == "u1@example.com"
    assert len(await store.keys_of(user_id="u1")) == 5


async def test_teams_and_end_users_have_their_own_budgets(store: Store) -> None:
    team = await store.create_team(
        "t1",
        {"team_alias": "core", "models": ["m"]},
        {"max_budget": 3, "budget_duration": "1mo"},
        NOW,
    )
    assert team.models == ("m",) and team.budget.max_budget == 3
    assert team.budget.reset_at == 1_780_272_000.0  # 2026-06-01T00:00:00Z
    eu = await store.end_user("cursor-hash-1", 2.5, NOW)
    assert eu.budget.max_budget == 2.5
    await store.write_spend([], [Charge(BudgetRef("end_user", "cursor-hash-1"), 1.0)], [])
    # the config's max_end_user_budget is every end user's limit, also when it changes
    again = await store.end_user("cursor-hash-1", 9.0, NOW)
    assert (again.budget.max_budget, again.budget.spend) == (9.0, 1.0)


async def test_reservation_is_all_or_nothing_and_released(store: Store) -> None:
    _, rec = await store.create_key({}, {"max_budget": 1.0}, NOW)
    await store.create_team("t", {}, {"max_budget": 10.0}, NOW)
    key_ref, team_ref = BudgetRef("key", rec.token), BudgetRef("team", "t")
    await store.write_spend([], [Charge(key_ref, 1.0)], [])
    with pytest.raises(BudgetRefused) as refused:
        await store.reserve("r1", [(team_ref, 0.5), (key_ref, 0.5)], NOW, NOW + 600)
    assert refused.value.ref == key_ref and refused.value.budget.spend == 1.0
    budgets = await store.budgets([team_ref])
    assert budgets[team_ref].reserved == 0  # the team's part was rolled back
    await store.reserve("r2", [(team_ref, 0.5)], NOW, NOW + 600)
    assert (await store.budgets([team_ref]))[team_ref].reserved == 0.5
    await store.write_spend([], [Charge(team_ref, 0.25)], ["r2"])
    b = (await store.budgets([team_ref]))[team_ref]
    assert (b.reserved, b.spend) == (0, 0.25)


async def test_expired_holds_are_given_back(store: Store) -> None:
    await store.create_team("t", {}, {"max_budget": 1.0}, NOW)
    ref = BudgetRef("team", "t")
    await store.reserve("r1", [(ref, 0.7)], NOW, NOW + 10)
    assert await store.release_expired(NOW + 5) == 0
    assert await store.release_expired(NOW + 10) == 1
    assert (await store.budgets([ref]))[ref].reserved == 0


async def test_two_instances_reserving_at_once_never_overrun_a_budget(database_url: str) -> None:
    """50 requests at once from two store instances against a budget that fits 5."""
    a, b = open_store(database_url), open_store(database_url)
    await a.open()
    await b.open()
    try:
        _, rec = await a.create_key({}, {"max_budget": 5.0}, NOW)
        ref = BudgetRef("key", rec.token)

        async def one(i: int) -> bool:
            try:
                await (a if i % 2 else b).reserve(f"r{i}", [(ref, 1.0)], NOW, NOW + 600)
            except BudgetRefused:
                return False
            return True

        results = await asyncio.gather(*(one(i) for i in range(50)))
        assert sum(results) == 5
        assert (await a.budgets([ref]))[ref].reserved == 5.0
    finally:
        await a.close()
        await b.close()


async def test_budgets_reset_once_per_period_and_the_reset_survives_a_restart(
    database_url: str,
) -> None:
    s = open_store(database_url)
    await s.open()
    _, rec = await s.create_key({}, {"max_budget": 1.0, "budget_duration": "30s"}, NOW)
    ref = BudgetRef("key", rec.token)
    await s.write_spend([], [Charge(ref, 0.8)], [])
    assert await s.roll_budgets(NOW + 29) == []
    # three instances notice the end of the period at once: one reset
    others = [open_store(database_url) for _ in range(2)]
    for o in others:
        await o.open()
    done = await asyncio.gather(*(x.roll_budgets(NOW + 31) for x in (s, *others)))
    assert sorted(len(d) for d in done) == [0, 0, 1]
    await s.write_spend([], [Charge(ref, 0.1)], [])
    for x in (s, *others):
        await x.close()
    s = open_store(database_url)
    await s.open()
    b = (await s.budgets([ref]))[ref]
    assert b.spend == pytest.approx(0.1) and b.reset_at == NOW + 60
    # a server down for several periods resets on the same boundaries
    assert await s.roll_budgets(NOW + 200) == [ref]
    assert (await s.budgets([ref]))[ref].reset_at == NOW + 210
    await s.close()


async def test_a_charge_of_the_new_period_is_not_wiped_by_the_reset_that_follows(
    store: Store,
) -> None:
    """The writer's batch resets a budget whose period is over before it adds the charge,
    so a request made after the boundary counts in the new period, whenever the periodic
    reset runs."""
    _, rec = await store.create_key({}, {"max_budget": 1.0, "budget_duration": "30s"}, NOW)
    ref = BudgetRef("key", rec.token)
    await store.write_spend([], [Charge(ref, 0.8)], [], NOW + 10)
    await store.write_spend([], [Charge(ref, 0.1)], [], NOW + 31)  # after the boundary
    assert await store.roll_budgets(NOW + 32) == []  # already done, by the batch
    b = (await store.budgets([ref]))[ref]
    assert b.spend == pytest.approx(0.1) and b.reset_at == NOW + 60


def _row(i: int, **kw: object) -> SpendRow:
    base: dict[str, object] = dict(
        request_id=f"req-{i:04d}",
        start_time=NOW + i,
        end_time=NOW + i + 0.5,
        key_hash="k1" if i % 2 else "k2",
        key_alias="alice" if i % 2 else "bob",
        model="gpt-4o",
        model_group="gpt-4o",
        prompt_tokens=100,
        completion_tokens=10,
        cached_tokens=50,
        spend=0.01,
        attempts=(Attempt("d1", 429, 12.5, "rate limited"), Attempt("d2", 200, 30.0)),
    )
    base.update(kw)
    return SpendRow(**base)


async def test_spend_rows_round_trip_filter_and_page(store: Store) -> None:
    rows = [_row(i) for i in range(10)] + [_row(10, status=502, error_message="Upstream Boom")]
    await store.write_spend(rows[:6])
    await store.write_spend(rows[6:])
    await store.write_spend(rows[:2])  # a retried batch writes nothing twice
    got = await store.spend_row("req-0003")
    assert got == rows[3]
    page1 = await store.spend_logs(SpendQuery(limit=4))
    assert [r.request_id for r in page1] == ["req-0010", "req-0009", "req-0008", "req-0007"]
    last = page1[-1]
    page2 = await store.spend_logs(SpendQuery(limit=4, before=(last.start_time, last.request_id)))
    assert [r.request_id for r in page2] == ["req-0006", "req-0005", "req-0004", "req-0003"]
    alice = await store.spend_logs(SpendQuery(key_hash="k1", start=NOW + 2, end=NOW + 8))
    assert [r.request_id for r in alice] == ["req-0007", "req-0005", "req-0003"]
    failed = await store.spend_logs(SpendQuery(error_text="boom"))
    assert [r.request_id for r in failed] == ["req-0010"]
    assert [r.request_id for r in await store.spend_logs(SpendQuery(status=502))] == ["req-0010"]


def test_rows_go_in_statements_of_64_then_powers_of_two() -> None:
    rows = [(i, f"v{i}") for i in range(203)]
    qs = list(rows_in("INSERT INTO t (a, b) VALUES ", rows, " ON CONFLICT DO NOTHING"))
    assert [len(q.args) // 2 for q in qs] == [64, 64, 64, 8, 2, 1]
    assert [v for q in qs for v in q.args] == [v for r in rows for v in r]
    assert qs[-2].sql == "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
    typed = next(rows_in("X ", [(1, 2)], row="(CAST({} AS TEXT), {})"))
    assert typed.sql == "X (CAST($1 AS TEXT), $2)"
    assert list(rows_in("X ", [])) == []


async def test_a_batch_of_many_rows_and_budgets_is_written_whole(store: Store) -> None:
    """More rows and budgets than one statement carries (`ops.rows_in`), a request id twice."""
    refs = []
    for i in range(150):
        _, rec = await store.create_key({"key_alias": f"k{i}"}, {"max_budget": 10.0}, NOW)
        refs.append(BudgetRef("key", rec.token))
    rows = [
        _row(i, key_hash=refs[i % 150].id, key_alias=f"k{i % 150}", start_time=NOW + i * 60)
        for i in range(301)
    ]
    charges = [Charge(ref, 0.01 * (n + 1)) for n, ref in enumerate(refs)]
    await store.write_spend([*rows, rows[7]], charges, [], NOW + 1)
    await store.write_spend(rows[:100])  # a retried part: nothing twice
    by_key = {t.group: t.requests for t in await store.spend_report("key")}
    assert by_key == {ref.id: 3 if n == 0 else 2 for n, ref in enumerate(refs)}
    assert await store.spend_row("req-0300") == rows[300]
    budgets = await store.budgets(refs)
    assert [budgets[r].spend for r in refs] == pytest.approx([0.01 * (n + 1) for n in range(150)])
    totals = {t.id: t.totals.requests for t in await store.activity_totals("key")}
    assert totals == by_key
    seen = await store.last_seen("key")
    assert seen[refs[0].id] == NOW + 300 * 60 and seen[refs[149].id] == NOW + 299 * 60


async def test_spend_report_groups_and_sums(store: Store) -> None:
    await store.write_spend([_row(i) for i in range(10)])
    by_key = await store.spend_report("key")
    assert [(t.group, t.alias, t.requests) for t in by_key] in (
        [("k1", "alice", 5), ("k2", "bob", 5)],
        [("k2", "bob", 5), ("k1", "alice", 5)],
    )
    assert sum(t.spend for t in by_key) == pytest.approx(0.1)
    by_model = await store.spend_report("model", start=NOW + 5)
    assert [(t.group, t.requests, t.prompt_tokens, t.cached_tokens) for t in by_model] == [
        ("gpt-4o", 5, 500, 250)
    ]


async def test_retention_deletes_the_oldest_rows_in_batches(store: Store) -> None:
    await store.write_spend([_row(i) for i in range(10)])
    assert await store.delete_spend_before(NOW + 7, limit=4) == 4
    assert await store.delete_spend_before(NOW + 7, limit=4) == 3
    assert await store.delete_spend_before(NOW + 7, limit=4) == 0
    assert len(await store.spend_logs(SpendQuery())) == 3


async def test_the_change_feed_names_what_changed(store: Store) -> None:
    start = await store.last_change()
    _, rec = await store.create_key({}, {}, NOW)
    await store.create_team("t", {}, {}, NOW)
    seq, changed = await store.changes_since(start)
    assert changed == [("key", rec.token), ("team", "t")]
    assert await store.changes_since(seq) == (seq, [])
    await store.prune_changes(NOW + 1)
    assert await store.last_change() in (0, seq)


async def test_imported_prices_are_kept_and_announced(store: Store) -> None:
    start = await store.last_change()
    assert await store.import_prices({"openai/gpt-4o": {"input_cost_per_token": 5e-6}}, NOW) == 1
    await store.import_prices({"openai/gpt-4o": {"input_cost_per_token": 6e-6}}, NOW + 1)
    assert await store.imported_prices() == {"openai/gpt-4o": {"input_cost_per_token": 6e-6}}
    _, changed = await store.changes_since(start)
    assert changed == [("prices", "*"), ("prices", "*")]
