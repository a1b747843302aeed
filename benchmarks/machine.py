"""The machine a benchmark ran on, in a few lines of Markdown."""

from __future__ import annotations

import datetime
import os
import platform
import ssl
import subprocess
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def describe() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    versions = []
    for pkg in ("aiohttp", "orjson", "uvloop", "yarl", "multidict"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg} (not installed)")
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores ({len(os.sched_getaffinity(0))} usable); "
        f"memory {mem}",
        f"- {platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"{ssl.OPENSSL_VERSION}",
        f"- {', '.join(versions)}",
        f"- litecursor at {_git_describe()}; "
        f"run {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "- Everything on 127.0.0.1: the gateway over HTTPS (dev certificates from "
        "`litecursor certs`), the fake upstream over plain HTTP, the load generator "
        "(aiohttp client) in its own process. Direct runs speak plain HTTP to the fake.",
    ]


def _git_describe() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown commit"
    return f"{head}{' with local changes' if dirty else ''}" if head else "unknown commit"
