"""Virtual keys against the master key alone, more rounds: the keys section of `make bench`, settled.

`make bench` measures each path three times among everything else; on a shared machine the
difference between the two (tens of microseconds) is smaller than what a busy neighbour adds to
one run. This runs only those two loads, the paths taking turns `--rounds` times, and prints
each round's pair and the medians of the per-round differences (a pair shares the machine's
state of the moment, so its difference is steadier than the difference of two medians).
Usage: `.venv/bin/python benchmarks/keys.py [--rounds 9] [--duration 4] [--no-spend-logs]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import MASTER_KEY, Bench, Run, Settings, Workload, bench_config
from procs import LoadGen, make_certs, start_fake


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--duration", type=float, default=4.0, help="seconds per measured load")
    p.add_argument("--keys", type=int, default=200)
    p.add_argument(
        "--no-spend-logs",
        action="store_true",
        help="general_settings.disable_spend_logs: the keys' own cost without the rows",
    )
    args = p.parse_args(argv)
    s = Settings(duration=args.duration, warmup=0.5, latency_duration=args.duration)
    with tempfile.TemporaryDirectory(prefix="litecursor-keys-") as tmp:
        workdir = Path(tmp)
        upstream, port = start_fake(workdir)
        loadgen = LoadGen(workdir)
        config = bench_config(port)
        if args.no_spend_logs:
            config["general_settings"]["disable_spend_logs"] = True
        b = Bench(s, workdir, make_certs(workdir), config, upstream, loadgen)
        cpu: list[tuple[Run, Run]] = []
        lat: list[tuple[Run, Run]] = []
        try:
            b.start_gateway("gateway")
            keys = b.make_keys(args.keys)
            # the master key taken in turn from a list as long as the keys', so that the load
            # generator does the same work on both sides
            masters = (MASTER_KEY,) * len(keys)
            claude = dataclasses.replace(b.cursor("claude-bench", "chat", True), keys=masters)
            gpt = dataclasses.replace(b.cursor("gpt-bench", "chat", True), keys=masters)
            b.measure(b.with_keys(claude, keys), 10, duration=1.0)  # every key cached
            paced = {"rate": s.latency_rate, "duration": s.latency_duration}
            for n in range(args.rounds):
                print(f"round {n + 1}/{args.rounds}", flush=True)
                cpu.append(pair(b, claude, b.with_keys(claude, keys), 20, n))
                lat.append(pair(b, gpt, b.with_keys(gpt, keys), 10, n, **paced))
        finally:
            if b.gateway is not None:
                b.gateway.stop()
            loadgen.close()
            upstream.stop()
    print()
    print(render(cpu, lat, args.keys, rows=not args.no_spend_logs))
    return 0


def pair(b: Bench, master: Workload, keyed: Workload, c: int, n: int, **kw: Any) -> tuple[Run, Run]:
    """Both paths once, the master key first in even rounds and second in odd ones: what one
    load leaves behind (its last spend rows written, a WAL checkpoint) falls on both alike."""
    if n % 2:
        k = b.measure(keyed, c, **kw)
        return b.measure(master, c, **kw), k
    m = b.measure(master, c, **kw)
    return m, b.measure(keyed, c, **kw)


def render(
    cpu: list[tuple[Run, Run]], lat: list[tuple[Run, Run]], keys: int, rows: bool = True
) -> str:
    med = statistics.median
    lines = [
        f"{len(cpu)} rounds; the master key, then one of {keys} virtual keys per request "
        "(each with a budget and limits), "
        + ("spend rows on for both (SQLite)." if rows else "spend rows off for both."),
        "",
        "| round | CPU ms/req master | CPU ms/req keys | difference | p50 ms master | p50 ms keys "
        "| difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, ((cm, ck), (lm, lk)) in enumerate(zip(cpu, lat, strict=True), 1):
        p50m, p50k = lm.ms("total", "p50"), lk.ms("total", "p50")
        lines.append(
            f"| {i} | {cm.gateway_ms:.3f} | {ck.gateway_ms:.3f} | "
            f"{ck.gateway_ms / cm.gateway_ms - 1:+.1%} | {p50m:.2f} | {p50k:.2f} | "
            f"{p50k - p50m:+.2f} |"
        )
    cpu_diff = med(ck.gateway_ms / cm.gateway_ms - 1 for cm, ck in cpu)
    p50_diff = med(lk.ms("total", "p50") - lm.ms("total", "p50") for lm, lk in lat)
    lines += [
        "",
        f"Median per-round difference: CPU per streamed request {cpu_diff:+.1%} (target: within "
        f"10%), total p50 {p50_diff:+.3f} ms (target: within 0.2 ms).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
