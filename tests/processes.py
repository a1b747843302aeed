"""`litecursor serve` as a real subprocess on a free loopback port: the command itself, its log, its signals, its sd_notify socket."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "litecursor"]
MOCK_CONFIG = ROOT / "examples" / "config.mock.yaml"
MASTER = "sk-ops-master"


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
    """`litecursor serve --config CONFIG ARGS` until it listens; terminated on exit. A config
    of the repository (the example) is served from a copy in a folder of its own, so the
    database made beside it is not made in the repository."""
    if ROOT in config.resolve().parents:
        with tempfile.TemporaryDirectory(prefix="litecursor-serve-") as tmp:
            copy = Path(tmp) / config.name
            shutil.copy(config, copy)
            with serving(*args, config=copy, env=env, stderr=stderr) as served:
                yield served
        return
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


def write_config(path: Path, *models: str, delay: float = 0.02, master: str = MASTER) -> Path:
    """A mock-only config: each name streams the user's words back, `delay` seconds apart."""
    entries = "".join(
        f"  - model_name: {m}\n    litellm_params: {{model: mock/echo, mock_delay: {delay}}}\n"
        for m in models
    )
    path.write_text(f"model_list:\n{entries}general_settings:\n  master_key: {master}\n")
    return path


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    notify: socket.socket | None = None
    messages: list[dict[str, str]] = field(default_factory=list)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 20, after: int = 0) -> re.Match[str]:
        """The first match of `pattern` in the log past character `after`."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text()[after:])
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {pattern!r} in the log within {timeout}s:\n{self.text()[-4000:]}"
                )
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"exited with {self.proc.returncode} before {pattern!r}:\n{self.text()[-4000:]}"
                )
            time.sleep(0.05)

    def next_message(self, timeout: float = 20) -> dict[str, str]:
        """The next sd_notify datagram, as fields."""
        assert self.notify is not None
        self.notify.settimeout(timeout)
        data = self.notify.recv(4096).decode()
        fields = dict(line.split("=", 1) for line in data.split("\n") if "=" in line)
        self.messages.append(fields)
        return fields

    def wait_message(self, key: str, timeout: float = 20) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            m = self.next_message(max(0.1, deadline - time.monotonic()))
            if key in m:
                return m

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)


@contextmanager
def serve(
    tmp: Path,
    *args: str,
    config: Path | None = None,
    env: dict[str, str] | None = None,
    notify: bool = False,
    port: int | None = None,
    ready: str = r"serving \d+ model\(s\) on|workers serving on",
) -> Iterator[Served]:
    """Start `litecursor serve` on loopback and wait until it logs that it serves."""
    port = port or free_port()
    config = config or write_config(tmp / "config.yaml", "mock")
    log = tmp / f"serve-{port}.log"
    full_env = {**os.environ, **(env or {})}
    sock = None
    if notify:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = str(tmp / f"notify-{port}")
        sock.bind(path)
        full_env["NOTIFY_SOCKET"] = path
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "litecursor", "serve", "--config", str(config),
             "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=full_env,
        )  # fmt: skip
    served = Served(proc, port, log, sock)
    try:
        served.wait_for(ready)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if sock is not None:
            sock.close()


def http_request(
    port: int, raw: bytes, *, tls: ssl.SSLContext | None = None, host: str = "localhost"
) -> bytes:
    """One request on a new connection; the whole answer (the server closes it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        conn = tls.wrap_socket(s, server_hostname=host) if tls else s
        conn.sendall(raw)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        return data


def get(port: int, path: str, *, key: str | None = MASTER, tls: ssl.SSLContext | None = None,
        headers: str = "") -> bytes:  # fmt: skip
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return http_request(
        port,
        f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}{headers}\r\n".encode(),
        tls=tls,
    )
