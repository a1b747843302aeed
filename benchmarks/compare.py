"""Before and after: the gateway at another commit and as it is now, taking turns on the same loads.

Figures on a shared machine move between runs (see README.md); a change to the hot path is
judged best by running both versions in the same session, one after the other, several times,
and comparing medians. `BASE` (a commit, a branch, a tag) is checked out into a temporary git
worktree and served with `PYTHONPATH` pointing at it; the working tree is the other side.
`--against REV` serves another commit in place of the working tree (to measure a past change:
`compare.py PARENT --against CHANGE`).

Usage: `.venv/bin/python benchmarks/compare.py BASE [--against REV] [--rounds 3] [--duration 4]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from bench import ROOT, Bench, Run, Settings, Workload, bench_config
from procs import LoadGen, make_certs, start_fake, start_gateway


def loads(b: Bench, duration: float) -> dict[str, tuple[Workload, int, dict[str, float]]]:
    paced = {"rate": 100.0, "duration": duration}
    return {
        "Anthropic stream, c=20": (b.cursor("claude-bench", "chat", True), 20, {}),
        "chat stream, c=50": (b.cursor("gpt-bench", "chat", True), 50, {}),
        "latency, chat -> gpt, c=10 at 100/s": (b.cursor("gpt-bench", "chat", True), 10, paced),
        "latency, chat -> claude, c=10 at 100/s": (
            b.cursor("claude-bench", "chat", True),
            10,
            paced,
        ),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base", help="the commit to compare the working tree with")
    p.add_argument("--against", help="a commit to serve instead of the working tree")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=4.0, help="seconds per measured load")
    args = p.parse_args(argv)
    settings = Settings(duration=args.duration, warmup=min(0.5, args.duration / 2))
    with tempfile.TemporaryDirectory(prefix="litecursor-compare-") as tmp:
        workdir = Path(tmp)
        git = ["git", "-C", str(ROOT)]
        checked_out: list[Path] = []
        sides: dict[str, dict[str, str]] = {}
        for i, rev in enumerate([args.base, args.against]):
            if rev is None:
                sides["working tree"] = {}
                continue
            folder = workdir / f"rev-{i}"
            subprocess.run(
                [*git, "worktree", "add", "--detach", str(folder), rev],
                check=True,
                capture_output=True,
            )
            checked_out.append(folder)
            print(f"{rev} checked out at {folder}", flush=True)
            sides[rev] = {"PYTHONPATH": str(folder)}
        upstream, port = start_fake(workdir)
        loadgen = LoadGen(workdir)
        certs = make_certs(workdir)
        b = Bench(settings, workdir, certs, bench_config(port), upstream, loadgen)
        # each side its own folder, so its own database beside its config: a commit whose
        # schema is newer than the other's must not leave a database the other refuses
        configs: dict[str, Path] = {}
        for i, side in enumerate(sides):
            (workdir / f"side-{i}").mkdir()
            configs[side] = workdir / f"side-{i}" / "config.yaml"
            configs[side].write_bytes(orjson.dumps(b.config))
        runs: dict[str, dict[str, list[Run]]] = {side: {} for side in sides}
        try:
            for n in range(args.rounds):
                for side, env in sides.items():
                    print(f"round {n + 1}/{args.rounds}: {side}", flush=True)
                    b.gateway, b.port = start_gateway(
                        "gateway", workdir, configs[side], certs, env=env
                    )
                    try:
                        for label, (w, c, kw) in loads(b, args.duration).items():
                            runs[side].setdefault(label, []).append(b.measure(w, c, **kw))
                    finally:
                        b.gateway.stop()
        finally:
            loadgen.close()
            upstream.stop()
            for folder in checked_out:
                subprocess.run([*git, "worktree", "remove", "--force", str(folder)], check=False)
    print()
    print(render(runs, args.rounds))
    return 0


def render(runs: dict[str, dict[str, list[Run]]], rounds: int) -> str:
    def med(rs: list[Run], f: str) -> str:
        values = {
            "rps": [r.rps for r in rs],
            "cpu": [r.gateway_ms for r in rs],
            "p50": [r.ms("total", "p50") for r in rs],
            "ttfb": [r.ms("ttfb", "p50") for r in rs],
        }[f]
        return f"{statistics.median(values):,.{0 if f == 'rps' else 3 if f == 'cpu' else 2}f}"

    lines = [
        f"Medians of {rounds} runs each, the two sides taking turns."
        if rounds > 1
        else "One run each, the two sides one after the other.",
        "",
        "| load | gateway | req/s | CPU ms/req | total p50 ms | TTFB p50 ms |",
        "|---|---|---|---|---|---|",
    ]
    labels = next(iter(runs.values())).keys()
    for label in labels:
        for side, by_load in runs.items():
            rs = by_load[label]
            cells = [med(rs, f) for f in ("rps", "cpu", "p50", "ttfb")]
            lines.append(f"| {label} | {side} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
