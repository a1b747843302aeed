"""Keys from memory, dropped when they change here or in another process."""

from __future__ import annotations

import asyncio
import time

from litecursor.accounting.keycache import KeyCache
from litecursor.store import open_store


async def test_a_known_key_is_served_from_memory_and_a_change_elsewhere_is_seen_within_a_second(
    database_url: str,
) -> None:
    here, elsewhere = open_store(database_url), open_store(database_url)
    await here.open()
    await elsewhere.open()
    cache = KeyCache(here, poll_interval=0.2)
    await cache.start()
    try:
        await here.create_team("t", {"models": ["m"]}, {}, time.time())
        key, rec = await here.create_key({"team_id": "t"}, {"max_budget": 1}, time.time())
        ident = await cache.identify(key)
        assert ident is not None and ident.key == rec and ident.team is not None
        assert cache.cached(rec.token) is ident
        await elsewhere.update_key(rec.token, {"blocked": True}, {}, time.time())
        deadline = time.monotonic() + 1.0
        while cache.cached(rec.token) is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert cache.cached(rec.token) is None
        again = await cache.identify(key)
        assert again is not None and again.key.blocked
        await elsewhere.update_team("t", {"models": ["m", "n"]}, {}, time.time())
        await asyncio.sleep(0.6)
        fresh = await cache.identify(key)
        assert fresh is not None and fresh.team is not None and fresh.team.models == ("m", "n")
    finally:
        await cache.close()
        await here.close()
        await elsewhere.close()


async def test_unknown_tokens_are_looked_up_once(tmp_path: object) -> None:
    store = open_store(":memory:")
    await store.open()
    cache = KeyCache(store)
    calls = 0
    real = store.get_key

    async def counting(token: str):
        nonlocal calls
        calls += 1
        return await real(token)

    store.get_key = counting
    results = await asyncio.gather(*(cache.identify("sk-nobody") for _ in range(20)))
    assert results == [None] * 20 and calls == 1
    assert await cache.identify("sk-nobody") is None and calls == 1
    await store.close()
