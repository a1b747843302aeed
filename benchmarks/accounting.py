"""What keys, budgets, limits and spend rows cost per request, in-process: the master key against virtual keys.

The accounting listener is driven as the pipeline drives it for a streamed chat request that
answered (authenticate for a virtual key, admit, answered, finish), with no sockets and no
event loop turn (its coroutines do not suspend once a key is cached), best of seven passes; then
spend rows go through the spend writer into a SQLite file, a second of requests per flush, the
master key's and the virtual keys' seconds taking turns: the CPU per row on the store's side,
where a virtual key's row costs more than the master key's (its hash, its budget). The end-to-end comparison is `make bench` ("Virtual keys") and `benchmarks/keys.py`; this
isolates the listener from a shared machine's noise. `.venv/bin/python benchmarks/accounting.py`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from litecursor.accounting.budgets import PROXY
from litecursor.accounting.enforce import Accounting
from litecursor.accounting.service import AccountingService
from litecursor.accounting.writer import SpendWriter
from litecursor.config import parse
from litecursor.pipeline import MASTER, Call, Pipeline, new_request_id
from litecursor.protocol.inbound import parse_request
from litecursor.protocol.types import Usage
from litecursor.router import Router
from litecursor.store import BudgetRef, Charge, SpendRow, open_store
from litecursor.store.records import Attempt

ROOT = Path(__file__).resolve().parents[1]
#: `--quick`: a few rounds, to check that it runs
ROUNDS = 20 if "--quick" in sys.argv else 5_000
KEYS = 200
#: seconds of spend rows written, each side; and the requests of each second
SECONDS = 2 if "--quick" in sys.argv else 40
RATE = 1_100
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


async def spend_rows(seconds: int) -> tuple[float, float]:
    """CPU per spend row on the store's side (the writer's flush, SQLite on its thread), a
    second's requests (`RATE`, what the end-to-end load serves) at a time as the writer takes
    them, the master key's seconds and the virtual keys' (one of `KEYS` per request, each with
    a budget to charge) taking turns into one database file, which grows as a server's does."""
    with tempfile.TemporaryDirectory(prefix="litecursor-bench-") as tmp:
        store = open_store(str(Path(tmp) / "spend.db"))
        await store.open()
        keys = []
        for i in range(KEYS):
            _, rec = await store.create_key(
                {"key_alias": f"bench-{i}"}, {"max_budget": 1e6, "budget_duration": "30d"}, 0.0
            )
            keys.append((rec.token, f"bench-{i}"))
        writer = SpendWriter(store)
        cpu = {False: 0.0, True: 0.0}
        n = 0
        start = time.time()
        for second in range(seconds):
            for keyed in (False, True) if second % 2 else (True, False):
                for i in range(RATE):
                    n += 1
                    at = start + second + i / RATE
                    key_hash, alias = keys[n % KEYS] if keyed else (None, "master")
                    charges = [Charge(PROXY, 0.001)]
                    if key_hash is not None:
                        charges.append(Charge(BudgetRef("key", key_hash), 0.001))
                    writer.put(_row(n, at, key_hash, alias), charges)
                # the event loop waits on the store's thread meanwhile: the process's CPU is
                # the flush's
                started = time.process_time()
                await writer.flush()
                cpu[keyed] += time.process_time() - started
        await store.close()
    per_row = 1e6 / (seconds * RATE)
    return cpu[False] * per_row, cpu[True] * per_row


def _row(n: int, at: float, key_hash: str | None, alias: str) -> SpendRow:
    """A streamed request's row as `accounting.rows.spend_row` makes it."""
    return SpendRow(
        new_request_id(),  # random, as the gateway's
        at,
        at + 0.05,
        key_hash=key_hash,
        key_alias=alias,
        model="claude-bench",
        model_group="claude-bench",
        deployment="claude-bench-0",
        provider="anthropic",
        prompt_tokens=1200,
        completion_tokens=300,
        cached_tokens=1000,
        spend=0.001,
        latency_ms=51.2,
        ttft_ms=3.1,
        route="/cursor/chat/completions",
        client_ip="127.0.0.1",
        user_agent="loadgen",
        stream=True,
        upstream_status=200,
        attempts=(Attempt("claude-bench-0", None, 50.9, None, 0.2),),
    )


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
    master_row, keyed_row = loop.run_until_complete(spend_rows(SECONDS))
    print(f"{'a master-key spend row into SQLite':<40} {master_row:6.2f} µs per row")
    print(f"{'a virtual key spend row into SQLite':<40} {keyed_row:6.2f} µs per row")
    print(f"{'added by a virtual key spend row':<40} {keyed_row - master_row:6.2f} µs per row")
    loop.run_until_complete(service.close())
    loop.run_until_complete(service.store.close())
    loop.close()


if __name__ == "__main__":
    main()
