"""What keys, budgets, limits and spend rows cost per request, in-process: the master key against virtual keys.

The accounting listener is driven as the pipeline drives it for a streamed chat request that
answered (authenticate for a virtual key, admit, answered, finish), with no sockets and no
event loop turn (its coroutines do not suspend once a key is cached), best of seven passes; then
one batch of spend rows is written to SQLite as the writer does, off the event loop, per row.
The end-to-end comparison is `make bench` ("Virtual keys") and `benchmarks/keys.py`; this
isolates the listener from a shared machine's noise. `.venv/bin/python benchmarks/accounting.py`.
"""

from __future__ import annotations

import asyncio
import sys
import time
import timeit
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from litecursor.accounting.enforce import Accounting
from litecursor.accounting.service import AccountingService
from litecursor.config import parse
from litecursor.pipeline import MASTER, Call, Pipeline
from litecursor.protocol.inbound import parse_request
from litecursor.protocol.types import Usage
from litecursor.router import Router
from litecursor.store import SpendRow, open_store

ROOT = Path(__file__).resolve().parents[1]
#: `--quick`: a few rounds, to check that it runs
ROUNDS = 20 if "--quick" in sys.argv else 5_000
KEYS = 200
BODY = ROOT / "tests" / "data" / "cursor" / "requests" / "chat-format-legacy.json"


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that does not suspend, without an event loop turn."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the coroutine suspended: a key was not cached")


def per_request(fn: Callable[[], object]) -> float:
    # the garbage collector on, as in the server: what a request allocates costs collections
    return min(timeit.repeat(fn, "gc.enable()", number=ROUNDS, repeat=7)) / ROUNDS * 1e6


async def setup() -> tuple[AccountingService, Accounting, list[str]]:
    config = parse(
        {
            "model_list": [
                {"model_name": "gpt-bench", "litellm_params": {"model": "openai/gpt-4o-mini"}}
            ],
            "general_settings": {"master_key": "sk-bench-master-key"},
        },
        environ={"OPENAI_API_KEY": "sk-x"},
    )
    store = open_store(":memory:")
    await store.open()
    service = AccountingService(config, store)
    await service.start()
    router = Router(config, None)  # no request is sent
    listener = service.listener(router)
    keys = []
    for i in range(KEYS):
        key, _ = await store.create_key(
            {"key_alias": f"bench-{i}", "rpm_limit": 10**7, "tpm_limit": 10**10},
            {"max_budget": 1e6, "budget_duration": "30d"},
            time.time(),
        )
        keys.append(key)
        found = await listener.authenticate(Call(Pipeline(), "warm", "POST", "/"), key)
        assert found is not None
    return service, listener, keys


def main() -> None:
    loop = asyncio.new_event_loop()
    service, listener, keys = loop.run_until_complete(setup())
    body = BODY.read_bytes()
    req = parse_request({**orjson.loads(body), "model": "gpt-bench", "stream": True})
    deployment = listener.router.config.deployments[0]
    pipeline = Pipeline()
    n = [0]

    def one(key: str | None) -> None:
        call = Call(pipeline, "0123456789abcdef", "POST", "/cursor/chat/completions")
        call.request_bytes = len(body)
        if key is None:
            call.identity = MASTER
        else:
            call.identity = drive(listener.authenticate(call, key))
        call.parsed(req)
        drive(listener.admit(call, req))
        call.group("gpt-bench")
        call.deployment = deployment
        call.first_byte()
        call.usage = Usage(prompt_tokens=1200, completion_tokens=300, cached_tokens=1000)
        call.finish_reason, call.output_chars, call.upstream_done = "stop", 1200, True
        listener.answered(call)
        listener.finish(call, call.outcome(200, None, False))
        service.writer._rows.clear()  # what the writer takes away once a second

    def master() -> None:
        one(None)

    def keyed() -> None:
        n[0] += 1
        one(keys[n[0] % len(keys)])

    m, k = per_request(master), per_request(keyed)
    print(f"{'master key':<40} {m:6.2f} µs per request (admit, answered, finish)")
    print(f"{f'virtual key (one of {KEYS}, in turn)':<40} {k:6.2f} µs per request (+ authenticate)")
    print(f"{'added by a virtual key':<40} {k - m:6.2f} µs per request")
    rows = [
        SpendRow(f"r{i}", time.time(), time.time() + 1, model="gpt-bench", spend=0.001)
        for i in range(500)
    ]
    started = time.thread_time()
    wall = time.perf_counter()
    loop.run_until_complete(service.store.write_spend(rows))
    wall = time.perf_counter() - wall
    print(
        f"{'a batch of 500 spend rows into SQLite':<40} {wall / len(rows) * 1e6:6.2f} µs per row "
        f"(on the store's thread; {(time.thread_time() - started) * 1e6 / len(rows):.2f} µs of "
        "the event loop's)"
    )
    loop.run_until_complete(service.close())
    loop.run_until_complete(service.store.close())
    loop.close()


if __name__ == "__main__":
    main()
