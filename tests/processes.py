"""`litecursor serve` as a real subprocess on a free loopback port, for the tests that need the command itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "litecursor"]
MOCK_CONFIG = ROOT / "examples" / "config.mock.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    *args: str,
    config: Path = MOCK_CONFIG,
    env: dict[str, str] | None = None,
    stderr: Any = subprocess.PIPE,
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`litecursor serve --config CONFIG ARGS` until it listens; terminated on exit."""
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=ROOT,
        stderr=stderr,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(10)
