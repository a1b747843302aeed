"""The benchmark's load generator: a separate process that runs bounded request loads on command.

`run.py` talks to it over stdin/stdout, one JSON object a line, so the proxy's CPU counters
can be read exactly when the measured phase starts and ends:

- `{"op": "load", ...}` warms up (opening the connections), prints `{"event": "measuring"}`,
  runs the measured phase and prints its statistics. Closed loop (`rate` 0: each of
  `concurrency` workers sends its next request as soon as the last one ended) or paced
  (`rate` requests/s in total, spread over the workers). Every load stops at `duration`
  seconds or `max_requests` requests, whichever comes first.
- `{"op": "hold", ...}` opens `n` streams and prints `{"event": "held", ...}` once each has
  delivered its first bytes; the streams stay open, read as data comes, until
  `{"op": "release"}`.
- `{"op": "quit"}` ends the process (so does end of input).

A response counts as good only with status 200 and its `expect` marker in the last bytes
(`[DONE]`, `message_stop`, `}`), so a proxy that answers fast but wrong shows as errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import ssl
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

perf = time.perf_counter


@dataclass
class Stats:
    total: list[float] = field(default_factory=list)
    ttfb: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    bytes: int = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = sorted(values)

    def q(p: float) -> float:
        return v[min(len(v) - 1, round(p * (len(v) - 1)))] * 1000

    return {
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "max": v[-1] * 1000,
        "mean": sum(v) / len(v) * 1000,
    }


def _connector(cmd: dict[str, Any], limit: int) -> aiohttp.TCPConnector:
    ctx: ssl.SSLContext | bool = False
    if cmd.get("cafile"):
        ctx = ssl.create_default_context(cafile=cmd["cafile"])
    return aiohttp.TCPConnector(limit=limit, ssl=ctx, force_close=bool(cmd.get("new_connection")))


class Request:
    """One kind of request, sent again and again."""

    def __init__(self, cmd: dict[str, Any]) -> None:
        self.url: str = cmd["url"]
        self.body = cmd["body"].encode() if cmd.get("body") is not None else None
        self.headers = {"content-type": "application/json", **cmd.get("headers", {})}
        self.expect = cmd.get("expect", "").encode()
        # time to first content: until these bytes arrive (empty: the first body bytes)
        self.first = cmd.get("first", "").encode()
        # bearer keys taken in turn, one per request (virtual keys); none: the headers' own
        self.keys = [
            {**self.headers, "authorization": f"Bearer {k}"} for k in cmd.get("keys") or ()
        ]
        self.sent = 0

    def next_headers(self) -> dict[str, str]:
        if not self.keys:
            return self.headers
        self.sent += 1
        return self.keys[self.sent % len(self.keys)]

    async def send(self, session: aiohttp.ClientSession, stats: Stats | None) -> None:
        t0 = perf()
        ttfb = 0.0
        tail = b""
        size = 0
        first = self.first
        try:
            method = "POST" if self.body is not None else "GET"
            async with session.request(
                method, self.url, data=self.body, headers=self.next_headers()
            ) as resp:
                async for data in resp.content.iter_any():
                    if not ttfb and first in tail + data:
                        ttfb = perf() - t0
                    size += len(data)
                    tail = (tail + data)[-48:]
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            if stats is not None:
                stats.error(type(e).__name__)
            return
        if stats is None:
            return
        if status != 200:
            stats.error(f"status {status}")
        elif self.expect not in tail or not ttfb:
            stats.error("incomplete body")
        else:
            stats.total.append(perf() - t0)
            stats.ttfb.append(ttfb)
            stats.bytes += size


async def load(cmd: dict[str, Any], out: Any) -> dict[str, Any]:
    req = Request(cmd)
    conc = int(cmd["concurrency"])
    duration = float(cmd["duration"])
    budget = int(cmd.get("max_requests") or 10**9)
    rate = float(cmd.get("rate") or 0)
    timeout = aiohttp.ClientTimeout(total=float(cmd.get("request_timeout", 60)))
    async with aiohttp.ClientSession(connector=_connector(cmd, conc), timeout=timeout) as session:
        # warm-up: every worker's connection is opened (and, over TLS, its handshake done)
        warm_stats = Stats()
        warm_end = perf() + float(cmd.get("warmup", 0.5))
        sent = 0

        async def warm() -> None:
            nonlocal sent
            while True:
                await req.send(session, warm_stats)
                sent += 1
                if perf() >= warm_end or sent >= budget:
                    return

        await asyncio.wait_for(asyncio.gather(*(warm() for _ in range(conc))), duration + 60)
        out({"event": "measuring"})
        stats = Stats()
        start = perf()
        end = start + duration
        count = 0

        async def worker(i: int) -> None:
            nonlocal count
            period = conc / rate if rate else 0.0
            due = start + i * period / conc
            while count < budget:
                now = perf()
                if now >= end:
                    return
                if period:
                    if due > now:
                        await asyncio.sleep(due - now)
                    due += period
                count += 1
                await req.send(session, stats)

        timed_out = False
        try:
            await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(conc))), duration + 60)
        except TimeoutError:
            timed_out = True
        elapsed = perf() - start
    good = len(stats.total)
    return {
        "event": "result",
        "ok": good,
        "errors": stats.errors,
        "elapsed": elapsed,
        "rps": good / elapsed if elapsed else 0.0,
        "bytes": stats.bytes,
        "total_ms": percentiles(stats.total),
        "ttfb_ms": percentiles(stats.ttfb),
        "warmup_errors": warm_stats.errors,
        "timed_out": timed_out,
    }


class Holder:
    """Streams opened and kept open for the memory test."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def hold(self, cmd: dict[str, Any]) -> dict[str, Any]:
        req = Request(cmd)
        n = int(cmd["n"])
        ramp = asyncio.Semaphore(int(cmd.get("ramp", 100)))
        self.session = aiohttp.ClientSession(
            connector=_connector(cmd, 0), timeout=aiohttp.ClientTimeout(total=None)
        )
        started = 0
        failed: dict[str, int] = {}
        first = asyncio.Event()
        t0 = perf()

        async def one() -> None:
            nonlocal started
            assert self.session is not None
            try:
                async with ramp:  # open a bounded number at once: the listen backlog is finite
                    method = "POST" if req.body is not None else "GET"
                    resp = await self.session.request(
                        method, req.url, data=req.body, headers=req.next_headers()
                    )
                    if resp.status != 200:
                        failed[f"status {resp.status}"] = failed.get(f"status {resp.status}", 0) + 1
                        resp.release()
                        return
                    await resp.content.readany()
                started += 1
                if started + sum(failed.values()) >= n:
                    first.set()
                async with resp:
                    while await resp.content.readany():
                        pass
            except (aiohttp.ClientError, OSError) as e:
                failed[type(e).__name__] = failed.get(type(e).__name__, 0) + 1
            finally:
                if started + sum(failed.values()) >= n:
                    first.set()

        self.tasks = [asyncio.create_task(one()) for _ in range(n)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first.wait(), float(cmd.get("timeout", 60)))
        return {"event": "held", "open": started, "failed": failed, "elapsed": perf() - t0}

    async def release(self) -> dict[str, Any]:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
        n = len(self.tasks)
        self.tasks, self.session = [], None
        return {"event": "released", "closed": n}


async def main() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with contextlib.suppress(ValueError, OSError):  # thousands of held streams
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def out(obj: dict[str, Any]) -> None:
        sys.stdout.buffer.write(orjson.dumps(obj) + b"\n")
        sys.stdout.flush()

    holder = Holder()
    while line := await reader.readline():
        cmd = orjson.loads(line)
        op = cmd["op"]
        if op == "load":
            out(await load(cmd, out))
        elif op == "hold":
            out(await holder.hold(cmd))
        elif op == "release":
            out(await holder.release())
        elif op == "quit":
            break
    await holder.release()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
