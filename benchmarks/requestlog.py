"""The request log and the admin page with a million rows: how fast each page and JSON endpoint answers, and what retention costs.

Fills a SQLite store (the default database) with generated traffic (`tests/demo_traffic.py`:
50 developers, 4 models, 60 days, about a million rows) through the store's own batch writes,
serves it with the gateway over HTTPS, and times each endpoint the admin page calls, one
request at a time: the figure is the whole round trip, client included. Then runs the retention
sweep of a 30-day period (deleting about half the rows) while a client keeps asking for the
log, and reports how long the sweep took, its longest batch (the longest the write lock was
held) and the log's latency meanwhile.

    .venv/bin/python benchmarks/requestlog.py              # a million rows (a few minutes)
    .venv/bin/python benchmarks/requestlog.py --rows 20000 # quick
"""

from __future__ import annotations

import argparse
import asyncio
import re
import ssl
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

import aiohttp  # noqa: E402
import orjson  # noqa: E402
from procs import Child, make_certs, start_gateway  # noqa: E402

from litecursor.requestlog.retention import BATCH  # noqa: E402
from litecursor.store import BudgetRef, Charge, SpendQuery, Store, open_store  # noqa: E402
from tests.demo_traffic import MODELS, Developer, rows_for  # noqa: E402

MASTER_KEY = "sk-bench-master-key"
HEADERS = {"Authorization": f"Bearer {MASTER_KEY}"}
DAY = 86400.0
TARGET_MS = 300.0
#: developers, and the busy-hour rate that makes ~1M rows in 60 days for 50 of them
DEVELOPERS = 50
RATE_PER_MILLION = 36.6


@dataclass
class Timing:
    label: str
    ms: list[float] = field(default_factory=list)
    status: int = 0
    rows: int | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.ms)

    @property
    def worst(self) -> float:
        return max(self.ms)

    def describe(self) -> str:
        return f"{self.label:<42} median {self.median:7.1f} ms  worst {self.worst:7.1f} ms  {self.status}"


async def fill(store: Store, rows: int, days: float, now: float) -> tuple[list[Developer], float]:
    """Keys for the developers, then their traffic; returns them and rows written per second."""
    devs = []
    models = list(MODELS)
    for i in range(DEVELOPERS):
        team = f"team-{i % 5}"
        if await store.get_team(team) is None:
            await store.create_team(team, {}, {}, now - days * DAY)
        _, rec = await store.create_key(
            {"key_alias": f"dev-{i:02d}", "user_id": f"user-{i:02d}@example.com", "team_id": team},
            {"max_budget": 500.0, "budget_duration": "30d"},
            now - days * DAY,
        )
        devs.append(Developer(rec.token, f"dev-{i:02d}", rec.user_id, team, 1.0, models[i % 4]))
    scale = RATE_PER_MILLION * rows / 1_000_000
    devs = [Developer(d.key_hash, d.alias, d.user_id, d.team_id, scale, d.model) for d in devs]
    batch: list[Any] = []
    written = 0
    started = time.monotonic()
    for r in rows_for(devs, now - days * DAY, now, seed=11):
        batch.append(r)
        if len(batch) == 5000:
            await _write(store, batch)
            written += len(batch)
            batch = []
            if written % 100_000 == 0:
                print(f"  {written:,} rows written", flush=True)
    if batch:
        await _write(store, batch)
        written += len(batch)
    took = time.monotonic() - started
    print(f"  {written:,} rows in {took:.0f} s ({written / took:,.0f} rows/s)", flush=True)
    return devs, written / took


async def _write(store: Store, rows: list[Any]) -> None:
    charges = [Charge(BudgetRef("key", r.key_hash), r.spend) for r in rows]
    await store.write_spend(rows, charges)


async def measure(
    session: aiohttp.ClientSession, base: str, label: str, path: str, runs: int
) -> Timing:
    t = Timing(label)
    for i in range(runs + 1):
        started = time.perf_counter()
        async with session.get(base + path, headers=HEADERS) as r:
            body = await r.read()
            t.status = r.status
        took = (time.perf_counter() - started) * 1000
        if i:  # the first is a warm-up: the page's first visit after start
            t.ms.append(took)
        if r.status == 200 and path.startswith("/logs?"):
            t.rows = len(orjson.loads(body)["data"])
    return t


async def deep_page(session: aiohttp.ClientSession, base: str, pages: int) -> Timing:
    """Following `next_cursor` down the log, page after page."""
    t = Timing(f"logs, each of {pages} pages down (cursor)")
    cursor = None
    for _ in range(pages):
        params = {"limit": "50", **({"cursor": cursor} if cursor else {})}
        started = time.perf_counter()
        async with session.get(base + "/logs", params=params, headers=HEADERS) as r:
            page = orjson.loads(await r.read())
            t.status = r.status
        t.ms.append((time.perf_counter() - started) * 1000)
        cursor = page["next_cursor"]
    return t


def write_config(workdir: Path, db: Path, retention: str | None) -> Path:
    general: dict[str, Any] = {"master_key": MASTER_KEY, "database_url": str(db)}
    if retention:
        general["maximum_spend_logs_retention_period"] = retention
    config = {
        "model_list": [{"model_name": m, "litellm_params": {"model": "mock/x"}} for m in MODELS],
        "general_settings": general,
    }
    path = workdir / f"config-{retention or 'keep'}.yaml"
    path.write_bytes(orjson.dumps(config))  # JSON is YAML
    return path


async def bench(rows: int, runs: int, workdir: Path) -> str:
    """The whole measure in `workdir` (made if missing); returns the report's section."""
    workdir.mkdir(parents=True, exist_ok=True)
    now = time.time()
    db = workdir / "litecursor.db"
    store = open_store(str(db))
    await store.open()
    print(f"filling the log with about {rows:,} rows over 60 days:", flush=True)
    devs, fill_rate = await fill(store, rows, 60, now)
    count = sum(b.totals.requests for b in await store.activity_series(now - 61 * DAY, now, DAY))
    some = (await store.spend_logs(SpendQuery(limit=1)))[0]
    await store.close()
    size = sum(p.stat().st_size for p in workdir.glob("litecursor.db*"))
    certs = make_certs(workdir)
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    dev = devs[0]
    week_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 7 * DAY))
    six_days = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 6 * DAY))
    endpoints = [
        ("the page (/ui/)", "/ui/"),
        ("a script of the page", "/ui/static/js/app.js"),
        ("overview, 24 hours", "/ui/api/overview?range=24h"),
        ("overview, 7 days", "/ui/api/overview?range=7d"),
        ("overview, 30 days", "/ui/api/overview?range=30d&tz=-300"),
        ("developers, 30 days, per key", "/ui/api/developers?range=30d"),
        ("developers, 30 days, per user", "/ui/api/developers?range=30d&by=user"),
        ("one developer, 30 days", f"/ui/api/developers/{dev.key_hash}?range=30d"),
        ("keys (the Keys page's list)", "/key/list?return_full_object=true&size=1000"),
        ("logs, first page", "/logs?limit=50"),
        ("logs of one key (alias)", f"/logs?limit=50&key={dev.alias}"),
        ("logs of one model", "/logs?limit=50&model=gpt-5"),
        ("logs of one user and model", f"/logs?limit=50&user={dev.user_id}&model=gpt-4.1-mini"),
        ("logs of one team", "/logs?limit=50&team=team-3"),
        ("logs, failed only", "/logs?limit=50&status=error"),
        ("logs, status 504", "/logs?limit=50&status=504"),
        ("logs, text in the error", "/logs?limit=50&q=stream_timeout"),
        ("logs, text found nowhere", "/logs?limit=50&q=no+such+text+anywhere"),
        ("logs, a day a week ago", f"/logs?limit=50&start={week_ago}&end={six_days}"),
        ("logs, one key, failed, before a week ago", f"/logs?limit=50&key={dev.alias}&status=error&end={six_days}"),
        ("one request", f"/logs/{some.request_id}"),
        ("models (deployments' health)", "/health/deployments"),
    ]  # fmt: skip
    timings: list[Timing] = []
    gateway, port = start_gateway("gateway", workdir, write_config(workdir, db, None), certs)
    base = f"https://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
            print(f"timing each endpoint ({runs} runs after a warm-up):", flush=True)
            for label, path in endpoints:
                t = await measure(session, base, label, path, runs)
                timings.append(t)
                print(f"  {t.describe()}", flush=True)
            t = await deep_page(session, base, 20)
            timings.append(t)
            print(f"  {t.describe()}", flush=True)
    finally:
        gateway.stop()
    print("retention of 30 days, at the start of a gateway, while the log is read:", flush=True)
    gateway, port = start_gateway(
        "gateway-retention", workdir, write_config(workdir, db, "30d"), certs
    )
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
            sweep = await retention_under_load(gateway, session, f"https://127.0.0.1:{port}")
    finally:
        gateway.stop()
    return report(count, fill_rate, size, timings, sweep)


SWEPT = re.compile(
    r"deleted (?P<rows>\d+) row\(s\) older than .* in (?P<seconds>[\d.]+) s "
    r"\((?P<batches>\d+) batches, the longest (?P<longest>\d+) ms\)"
)


async def retention_under_load(
    gateway: Child, session: aiohttp.ClientSession, base: str
) -> dict[str, Any]:
    """The gateway sweeps at start; `GET /logs` every 50 ms until its log says it is done."""
    latencies: list[float] = []
    idle = gateway.memory()
    deadline = time.monotonic() + 600
    found = None
    while found is None and time.monotonic() < deadline:
        started = time.perf_counter()
        async with session.get(base + "/logs?limit=50", headers=HEADERS) as r:
            await r.read()
        latencies.append((time.perf_counter() - started) * 1000)
        found = SWEPT.search(gateway.log.read_text(errors="replace"))
        await asyncio.sleep(0.05)
    if found is None:
        raise RuntimeError(f"the gateway never reported its sweep:\n{gateway.log_tail()}")
    peak = gateway.memory()["VmHWM"]
    sweep = {k: float(v) for k, v in found.groupdict().items()}
    sweep |= {"latencies": latencies, "rss_before": idle["VmRSS"], "rss_peak": peak}
    print(
        f"  deleted {sweep['rows']:,.0f} rows in {sweep['seconds']:.1f} s, "
        f"{sweep['batches']:.0f} batches, the longest {sweep['longest']:.0f} ms; memory "
        f"{idle['VmRSS'] / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB; the log meanwhile: "
        f"median {statistics.median(latencies):.1f} ms, worst {max(latencies):.1f} ms",
        flush=True,
    )
    return sweep


def report(
    count: int, fill_rate: float, size: int, timings: list[Timing], sweep: dict[str, Any]
) -> str:
    lines = [
        f"## The request log and the admin page with {count:,} rows",
        "",
        f"`litecursor serve` on SQLite with {count:,} rows over 60 days (50 developers, 4 "
        f"models; {size / 2**20:,.0f} MiB on disk), written through the store's batches at "
        f"{fill_rate:,.0f} rows/s. Each endpoint asked one at a time over HTTPS, the round trip "
        f"in ms; target {TARGET_MS:.0f} ms.",
        "",
        "| endpoint | median ms | worst ms | rows |",
        "|---|---|---|---|",
    ]
    for t in timings:
        flag = "" if t.worst < TARGET_MS else " **over target**"
        rows = "" if t.rows is None else str(t.rows)
        lines.append(f"| {t.label} | {t.median:.1f} | {t.worst:.1f}{flag} | {rows} |")
    during = sweep["latencies"]
    lines += [
        "",
        f"Retention of 30 days, run by the gateway at its start: {sweep['rows']:,.0f} rows "
        f"deleted in {sweep['seconds']:.1f} s, {sweep['batches']:.0f} batches of {BATCH:,} rows, "
        f"the longest {sweep['longest']:.0f} ms. The gateway's memory: "
        f"{sweep['rss_before'] / 1024:.0f} MiB at start, {sweep['rss_peak'] / 1024:.0f} MiB at "
        f"its peak. `GET /logs` asked every 50 ms meanwhile: median "
        f"{statistics.median(during):.1f} ms, worst {max(during):.1f} ms ({len(during)} requests).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="litecursor-logbench-") as tmp:
        text = asyncio.run(bench(args.rows, args.runs, Path(tmp)))
    print()
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
