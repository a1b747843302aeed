"""`make bench` stays runnable: the benchmark, with tiny counts, starts everything and prints its report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs_the_real_gateway_and_prints_its_tables(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for heading in (
        "## Targets (issue 5)",
        "## Throughput, requests/s",
        "## Added latency at concurrency 10",
        "## Gateway CPU per request and per streamed chunk",
        "## Virtual keys, budgets and spend rows",
        "## Memory",
        "## TLS handshakes",
        "## Machine",
    ):
        assert heading in done.stdout, heading
    assert out.read_text().startswith("# litecursor benchmark results")
    # the target loads ran twice each, in turns, and their median runs were kept
    assert "Each path was measured 2 times, the paths taking turns" in done.stdout
    assert done.stdout.count("bare aiohttp pass-through -> claude-bench c=20") == 2


def test_compare_serves_another_commit_beside_the_working_tree() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare.py"), "HEAD", "--rounds", "1",
         "--duration", "0.3"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| Anthropic stream")]
    assert [row.split(" | ")[1] for row in rows] == ["HEAD", "working tree"], rows
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("HEAD checked out at ")]
    base = line.removeprefix("HEAD checked out at ")
    worktrees = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True, check=True
    )
    # removed again (other checkouts of the repository may have compare worktrees of their own)
    assert base not in worktrees.stdout


def test_compare_serves_two_commits_with_against() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare.py"), "HEAD~1", "--against", "HEAD",
         "--rounds", "1", "--duration", "0.3"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| Anthropic stream")]
    assert [row.split(" | ")[1] for row in rows] == ["HEAD~1", "HEAD"], rows
    folders = [
        x.split(" checked out at ")[1] for x in done.stdout.splitlines() if " checked out at " in x
    ]
    assert len(folders) == 2
    worktrees = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True, check=True
    )
    assert not any(f in worktrees.stdout for f in folders)


def test_the_listeners_benchmark_times_each_listener() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "listeners.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for row in ("access line, text", "access line, JSON", "metrics (finish)", "export record"):
        assert row in done.stdout, row


def test_the_accounting_benchmark_times_both_keys_and_the_rows() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "accounting.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for row in (
        "master key",
        "virtual key (one of 200",
        "added by a virtual key",
        "a master-key spend row",
        "added by a virtual key spend row",
    ):
        assert row in done.stdout, row


def test_the_keys_benchmark_pairs_the_master_key_with_virtual_keys() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "keys.py"), "--rounds", "1",
         "--duration", "0.3", "--keys", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| 1 |" in done.stdout and "Median per-round difference" in done.stdout
