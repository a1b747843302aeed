"""Where the gateway's CPU goes under load: py-spy samples grouped by layer (when py-spy is installed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# innermost frame's file -> layer; the first match wins
LAYERS = (
    ("litecursor/protocol/", "litecursor protocol core (decode, encode, translate)"),
    ("litecursor/", "litecursor shell (handlers, router, upstream, middleware)"),
    ("aiohttp/", "aiohttp (HTTP server and client)"),
    ("/ssl.py", "TLS (ssl module)"),
    ("logging/", "logging"),
    ("asyncio/", "event loop and socket I/O (uvloop's C loop shows as asyncio/runners.py)"),
    ("selectors.py", "event loop and socket I/O (uvloop's C loop shows as asyncio/runners.py)"),
)


def py_spy() -> str | None:
    exe = Path(sys.executable).with_name("py-spy")
    return str(exe) if exe.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Begin sampling `pid` for `seconds` (raw collapsed stacks into `out`), or None."""
    exe = py_spy()
    if exe is None:
        return None
    argv = [exe, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "250",
            "-f", "raw", "-o", str(out), "--nonblocking"]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


Profile = tuple[int, list[tuple[str, float]], list[tuple[str, float]]]


def summarize(raw: Path, top: int = 12) -> Profile:
    """(busy samples, share per layer, share per function), by self time."""
    layers: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        if "EpollSelector.select" in leaf or ("(selectors.py" in leaf and "select" in leaf):
            continue  # waiting for events: idle, not work
        n = int(count)
        total += n
        functions[leaf] += n
        layer = next((name for key, name in LAYERS if key in leaf), "other (stdlib, C extensions)")
        layers[layer] += n
    if not total:
        return 0, [], []
    by_layer = [(k, v / total) for k, v in layers.most_common()]
    return total, by_layer, [(k, v / total) for k, v in functions.most_common(top)]
