"""`make bench`: the gateway's own cost in throughput, latency, CPU and memory, through the real server.

Starts, all on 127.0.0.1 and as separate processes: the fake upstream (`fake_upstream.py`),
`litecursor serve` over HTTPS with certificates made by `litecursor certs`, and the load
generator (`loadgen.py`). Each load is bounded in time and count; the whole run takes about
three minutes on 2 cores (`--quick`: a few seconds, for the smoke test). Prints the report
and writes it to `benchmarks/RESULTS.md` (see README.md for what each figure means).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import profiling
import requestlog
from bench import MASTER_KEY, Bench, Run, Settings, Workload, bench_config
from procs import Child, LoadGen, make_certs, raise_fd_limit, start_fake, start_null_proxy
from report import Report


def run_all(b: Bench, report: Report) -> None:
    s = b.settings
    print("throughput (closed loop, keep-alive):", flush=True)
    for stream in (True, False):
        for c in s.concurrency:
            for dialect in ("chat", "responses"):
                report.add(
                    "throughput",
                    b.measure(
                        b.cursor(
                            "gpt-bench" if dialect == "chat" else "gpt-5-bench", dialect, stream
                        ),
                        c,
                    ),
                )
            report.add("throughput", b.measure(b.direct("gpt-bench", "chat", stream), c))
    print(f"anthropic-shaped streaming at concurrency 20 ({s.rounds} rounds):", flush=True)
    paths = [b.cursor("claude-bench", "chat", True), b.direct("claude-bench", "chat", True)]
    for run in medians(b, [*paths, b.floor("claude-bench")], 20, key=lambda r: r.rps):
        report.add("anthropic", run)
    print("paced upstream (one event per 5 ms), concurrency 50:", flush=True)
    report.add("paced", b.measure(b.cursor("gpt-paced", "chat", True), 50))
    report.add("paced", b.measure(b.direct("gpt-paced", "chat", True), 50))
    print(
        f"latency at concurrency 10, paced at {s.latency_rate:g} requests/s ({s.rounds} rounds):",
        flush=True,
    )
    for model in ("gpt-bench", "claude-bench"):
        paths = [b.cursor(model, "chat", True), b.direct(model, "chat", True), b.floor(model)]
        for run in medians(
            b,
            paths,
            10,
            key=lambda r: r.ms("total", "p50"),
            rate=s.latency_rate,
            duration=s.latency_duration,
        ):
            report.add("latency", run)
    print("TLS handshakes (a new connection per request), concurrency 10:", flush=True)
    health = Workload(
        "GET /health, new connection",
        f"https://127.0.0.1:{b.port}/health",
        None,
        {},
        "}",
        stream=False,
    )
    report.add("tls", b.measure(health, 10, new_connection=True))


def run_keys(b: Bench, report: Report) -> None:
    """Virtual keys against the master key, taking turns in the same run: each request with
    the next of `Settings.keys` keys, each key with a budget and rate limits, spend rows on
    for both (SQLite beside the config). CPU per streamed request on the Anthropic load at
    c=20, added latency on the paced load at c=10."""
    s = b.settings
    keys = b.make_keys(s.keys)
    report.keys_count = len(keys)
    print(f"virtual keys ({len(keys)} keys, one per request in turn) against the master key:")
    # the master key taken in turn from a list as long as the keys' (the load generator's work
    # alike on both sides)
    masters = (MASTER_KEY,) * len(keys)
    claude = dataclasses.replace(b.cursor("claude-bench", "chat", True), keys=masters)
    b.measure(b.with_keys(claude, keys), 10, duration=0.5)  # every key seen once: cached
    for run in medians(
        b, [claude, b.with_keys(claude, keys)], 20, key=lambda r: r.gateway_ms, alternate=True
    ):
        report.add("keys_cpu", run)
    gpt = dataclasses.replace(b.cursor("gpt-bench", "chat", True), keys=masters)
    for run in medians(
        b,
        [gpt, b.with_keys(gpt, keys)],
        10,
        key=lambda r: r.ms("total", "p50"),
        alternate=True,
        rate=s.latency_rate,
        duration=s.latency_duration,
    ):
        report.add("keys_latency", run)
    report.keys = keys


def medians(
    b: Bench,
    paths: list[Workload],
    c: int,
    key: Callable[[Run], float],
    alternate: bool = False,
    **kw: Any,
) -> list[Run]:
    """Each path measured `rounds` times, the paths taking turns (so a slow spell of the
    machine falls on all of them), and for each the run with the median `key`. `alternate`:
    every other round in reverse order, so what one load leaves behind (spend rows still to
    write) does not always fall on the same path."""
    runs: list[list[Run]] = [[] for _ in paths]
    for n in range(b.settings.rounds):
        order = list(zip(paths, runs, strict=True))
        for w, done in reversed(order) if alternate and n % 2 else order:
            done.append(b.measure(w, c, **kw))
    return [sorted(done, key=key)[len(done) // 2] for done in runs]


def run_memory(b: Bench, report: Report) -> None:
    """RSS of a fresh gateway for each size (freed memory stays with a process, so a second
    measurement in the same one would read low): idle after a few requests, then holding
    streams open against an upstream that sends an event every 20 s. Short requests over
    HTTPS give the per-stream cost; the recorded Cursor body shows what request data adds;
    plain HTTP shows what TLS costs (behind a TLS-terminating proxy the gateway pays the rest)."""
    s = b.settings
    limit, problem = raise_fd_limit(2 * max(s.hold) + 1024)  # two sockets per stream
    report.fd_limit = limit
    first = s.hold[0]
    loads = [(n, "short", True) for n in s.hold] + [(first, "chat", True), (first, "short", False)]
    if report.keys:  # each stream with its own virtual key (budgets, limits, a row each)
        loads.append((first, "keys", True))
    for n, dialect, tls in loads:
        scheme = "HTTPS" if tls else "plain HTTP (--insecure-http)"
        what = {"short": "short chat request", "keys": "short chat request, virtual keys"}.get(
            dialect, "recorded Cursor chat body"
        )
        row: dict[str, Any] = {"label": f"{n} open streams, {what}, {scheme}"}
        if 2 * n + 1024 > limit:
            row["skipped"] = problem or f"the open-file limit is {limit}"
            print(f"  {row['label']}: skipped ({row['skipped']})", flush=True)
            report.memory.append(row)
            continue
        b.start_gateway("gateway-memory", tls=tls)
        assert b.gateway is not None
        b.measure(b.cursor("gpt-bench", "chat", True), 2, duration=0.3)
        b.measure(b.cursor("gpt-bench", "short", True), 2, duration=0.3)
        idle = b.gateway.memory()
        if (n, dialect, tls) == loads[0]:
            report.memory.append({"label": "idle, HTTPS", "idle": idle})
        row["baseline"] = idle["VmRSS"]
        held = b.cursor("gpt-idle", "short" if dialect == "keys" else dialect, True)
        if dialect == "keys":
            held = b.with_keys(held, report.keys)
        row.update(b.hold(held, n))
        print(
            f"  {row['label']}: {row['open']} open, idle {idle}, held {row['memory']}, "
            f"failed {row['failed']}",
            flush=True,
        )
        report.memory.append(row)
    run_memory_floor(b, report, first)


def run_memory_floor(b: Bench, report: Report, n: int) -> None:
    """The same short streams held through a fresh bare aiohttp pass-through: the memory an
    open stream costs before any of litecursor's own objects."""
    assert b.null_proxy is not None
    b.null_proxy.stop()
    b.null_proxy, b.null_port = start_null_proxy(b.workdir, b.upstream_port, b.certs)
    w = b.floor("gpt-idle", "short")
    b.measure(b.floor("gpt-bench", "short"), 2, duration=0.3)
    idle = b.null_proxy.memory()
    row: dict[str, Any] = {
        "label": f"{n} open streams, short request, bare aiohttp pass-through, HTTPS",
        "floor": True,
    }
    row["baseline"] = idle["VmRSS"]
    row.update(b.hold(w, n))
    print(f"  {row['label']}: {row['open']} open, held {row['memory']}", flush=True)
    report.memory.append(row)


def run_loops(b: Bench, report: Report) -> None:
    """The same key loads with uvloop off (`--no-uvloop`), when uvloop is installed."""
    if importlib.util.find_spec("uvloop") is None:
        report.loops_note = "uvloop is not installed (`pip install -e '.[fast]'`): no comparison"
        return
    b.start_gateway("gateway-asyncio", extra=["--no-uvloop"])
    print("the same with uvloop off:", flush=True)
    s = b.settings
    report.add("noloop", b.measure(b.cursor("claude-bench", "chat", True), 20))
    report.add("noloop", b.measure(b.cursor("gpt-bench", "chat", True), 50))
    report.add(
        "noloop",
        b.measure(
            b.cursor("gpt-bench", "chat", True),
            10,
            rate=s.latency_rate,
            duration=s.latency_duration,
        ),
    )


def run_workers(b: Bench, report: Report) -> None:
    """`--workers 1` and `--workers 2` taking turns on the same load (Anthropic-shaped streams
    at c=50, enough to keep two workers busy), the median of each; the CPU each process used
    says what bounds the second worker's gain."""
    s = b.settings
    print(f"workers: 1 and 2, Anthropic-shaped streams at c=50 ({s.rounds} rounds):", flush=True)
    runs: dict[int, list[Run]] = {1: [], 2: []}
    for _ in range(s.rounds):
        for n in runs:
            b.start_gateway(f"gateway-workers-{n}", extra=["--workers", str(n)], workers=n)
            w = b.cursor("claude-bench", "chat", True)
            w.label = f"{n} worker{'s' if n > 1 else ''}: {w.label}"
            runs[n].append(b.measure(w, 50))
    for done in runs.values():
        report.add("workers", sorted(done, key=lambda r: r.rps)[len(done) // 2])


def run_profile(b: Bench, report: Report) -> None:
    """py-spy on the gateway during one more Anthropic-shaped stream load at c=20."""
    assert b.gateway is not None
    out = b.workdir / "profile.txt"
    s = b.settings
    spy = profiling.start(b.gateway.pid, s.warmup + s.duration, out)
    if spy is None:
        report.profile_note = "py-spy is not installed (`pip install py-spy`): no profile."
        return
    print("profile (py-spy) of the Anthropic-shaped stream load at c=20:", flush=True)
    b.measure(b.cursor("claude-bench", "chat", True), 20)
    try:
        _, err = spy.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
        _, err = spy.communicate()
    if spy.returncode or not out.exists():
        why = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        report.profile_note = f"py-spy could not sample the gateway: {why[0]}"
        return
    report.profile = profiling.summarize(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny counts: checks the benchmark runs")
    p.add_argument(
        "--out",
        default=str(Path(__file__).with_name("RESULTS.md")),
        help="where to write the report ('-': nowhere)",
    )
    p.add_argument("--duration", type=float, help="seconds per measured load")
    p.add_argument("--no-loops", action="store_true", help="skip the uvloop on/off comparison")
    p.add_argument("--no-memory", action="store_true", help="skip the open-streams memory test")
    p.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    p.add_argument("--no-workers", action="store_true", help="skip the 1 and 2 workers runs")
    p.add_argument(
        "--only-workers", action="store_true", help="only the 1 and 2 workers runs (quicker)"
    )
    p.add_argument(
        "--no-requestlog",
        action="store_true",
        help="skip the request log and admin page with a million rows (requestlog.py)",
    )
    args = p.parse_args(argv)
    settings = Settings.quick() if args.quick else Settings()
    if args.duration:
        settings.duration = args.duration
    if args.no_loops:
        settings.compare_loops = False
    if args.no_profile:
        settings.profile = False
    started = time.monotonic()
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="litecursor-bench-") as tmp:
        workdir = Path(tmp)
        raise_fd_limit(2 * max(settings.hold) + 1024)
        certs = make_certs(workdir)
        upstream, port = start_fake(workdir)
        children.append(upstream)
        loadgen = LoadGen(workdir)
        children.append(loadgen.child)
        b = Bench(settings, workdir, certs, bench_config(port), upstream, loadgen)
        b.upstream_port = port
        b.null_proxy, b.null_port = start_null_proxy(workdir, port, certs)
        report = Report(quick=args.quick, rounds=settings.rounds)
        try:
            b.start_gateway("gateway")
            assert b.gateway is not None
            report.loop = _loop_in_use(b.gateway)
            if not args.only_workers:
                run_all(b, report)
                run_keys(b, report)
                if settings.profile:
                    run_profile(b, report)
                if not args.no_memory:
                    run_memory(b, report)
                if settings.compare_loops:
                    run_loops(b, report)
            if not args.no_workers:
                run_workers(b, report)
        finally:
            loadgen.close()
            for proxy in (b.gateway, b.null_proxy):
                if proxy is not None:
                    proxy.stop()
            for child in children:
                child.stop()
        if not args.no_requestlog and not args.only_workers:
            # a gateway of its own on a database of its own, once the loads above are over
            rows = 20_000 if args.quick else 1_000_000
            report.requestlog = asyncio.run(requestlog.bench(rows, 5, workdir / "requestlog"))
        report.elapsed = time.monotonic() - started
    text = report.render()
    print()
    print(text)
    if args.out != "-":
        Path(args.out).write_text(text)
        print(f"written to {args.out}")
    failed = [
        f"{r.label} c={r.concurrency}" for runs in report.runs.values() for r in runs if not r.ok
    ]
    if failed:  # a figure made of errors only is no figure: say so, and fail `make bench`
        print(f"error: no request succeeded in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _loop_in_use(gateway: Child) -> str:
    for line in gateway.log_tail(50).splitlines():
        if "event loop:" in line:
            return line.split("event loop:", 1)[1].strip()
    return "asyncio"


if __name__ == "__main__":
    raise SystemExit(main())
