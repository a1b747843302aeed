"""The bounded, retried queue behind exports and alerts: what is dropped is the oldest, and is counted exactly."""

from __future__ import annotations

import asyncio

from litecursor.observe.delivery import Delivery, SendError


class Receiver:
    """A send callback: records batches, fails while `down`, may be held mid-send."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.down = False
        self.calls = 0
        self.hold: asyncio.Event | None = None
        self.holding = asyncio.Event()

    async def send(self, batch: list[int]) -> None:
        self.calls += 1
        if self.hold is not None:
            self.holding.set()
            await self.hold.wait()
        if self.down:
            raise SendError("down")
        self.batches.append(batch)

    @property
    def items(self) -> list[int]:
        return [i for b in self.batches for i in b]


def queue(r: Receiver, drops: list[int], **kw: int | float) -> Delivery[int]:
    d: Delivery[int] = Delivery(
        "test",
        r.send,
        batch_size=int(kw.pop("batch_size", 3)),
        queue_size=int(kw.pop("queue_size", 5)),
        flush_interval=0.01,
        on_drop=drops.append,
        backoff_first=0.01,
        **kw,
    )
    return d


async def until(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_items_are_sent_in_order_in_batches() -> None:
    r, drops = Receiver(), []
    d = queue(r, drops, queue_size=100)
    d.start()
    for i in range(7):
        d.put(i)
    await until(lambda: len(r.items) == 7)
    await d.close()
    assert r.items == list(range(7)) and all(len(b) <= 3 for b in r.batches)
    assert drops == [] and d.sent == 7


async def test_a_full_queue_drops_its_oldest_items_and_counts_them() -> None:
    r, drops = Receiver(), []
    d = queue(r, drops)
    for i in range(8):  # not started: nothing leaves
        d.put(i)
    assert len(d) == 5 and d.dropped == 3 and sum(drops) == 3
    d.start()
    await until(lambda: len(r.items) == 5)
    await d.close()
    assert r.items == [3, 4, 5, 6, 7]


async def test_a_failed_batch_is_retried_until_the_receiver_is_back() -> None:
    r, drops = Receiver(), []
    r.down = True
    d = queue(r, drops)
    d.start()
    d.put(1)
    await until(lambda: r.calls >= 3)
    r.down = False
    await until(lambda: r.items == [1])
    await d.close()
    assert d.failures >= 3 and drops == []


async def test_items_pushed_out_during_a_send_that_succeeds_are_not_counted_lost() -> None:
    r, drops = Receiver(), []
    r.hold = asyncio.Event()
    d = queue(r, drops, batch_size=5, queue_size=5)
    for i in range(5):
        d.put(i)
    d.start()
    await r.holding.wait()  # the batch 0..4 is in flight
    for i in range(5, 8):
        d.put(i)  # pushes 0, 1, 2 out of the queue, though they are being sent
    r.hold.set()
    await until(lambda: len(r.items) == 8)
    await d.close()
    assert r.items == list(range(8)) and d.dropped == 0


async def test_items_pushed_out_during_a_send_that_fails_are_counted_lost() -> None:
    r, drops = Receiver(), []
    r.hold, r.down = asyncio.Event(), True
    d = queue(r, drops, batch_size=5, queue_size=5)
    for i in range(5):
        d.put(i)
    d.start()
    await r.holding.wait()
    for i in range(5, 8):
        d.put(i)
    r.hold.set()
    await until(lambda: d.dropped == 3)
    r.down = False
    await until(lambda: len(r.items) == 5)
    await d.close()
    assert r.items == [3, 4, 5, 6, 7] and sum(drops) == 3


async def test_close_sends_what_is_queued_and_counts_what_it_cannot() -> None:
    r, drops = Receiver(), []
    d = queue(r, drops, queue_size=100)
    d.start()
    for i in range(10):
        d.put(i)
    await d.close()
    assert r.items == list(range(10))

    r2, drops2 = Receiver(), []
    r2.down = True
    d2 = queue(r2, drops2, queue_size=100)
    d2.start()
    for i in range(4):
        d2.put(i)
    await d2.close(timeout=0.2)
    assert d2.dropped == 4 and sum(drops2) == 4 and len(d2) == 0
