"""Child processes of the benchmark (gateway, fake upstream, load generator) and their /proc counters."""

from __future__ import annotations

import os
import resource
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

CLK_TCK = os.sysconf("SC_CLK_TCK")
HERE = Path(__file__).resolve().parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a whole process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime: fields 14 and 15


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (a `--workers` supervisor's workers), from /proc/*/children."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and of the processes it started (that are still running)."""
    total = 0.0
    for p in (pid, *descendants(pid)):
        try:
            total += cpu_seconds(p)
        except OSError:  # ended meanwhile
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent not idle since boot, from /proc/stat."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait
    return (sum(fields[:3]) + sum(fields[5:8])) / CLK_TCK


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) in KiB, from /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit(wanted: int) -> tuple[int, str | None]:
    """Raise this process's soft fd limit (children inherit it) towards `wanted`; returns the
    limit in force and, when it stays below `wanted`, why."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft, None
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as e:
        return soft, f"cannot raise the open-file limit from {soft}: {e}"
    if target < wanted:
        return target, f"the hard open-file limit is {hard}, below the {wanted} needed"
    return target, None


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        """This process and its children: a `--workers` gateway is its workers."""
        return tree_cpu_seconds(self.pid)

    def memory(self) -> dict[str, int]:
        return memory_kb(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def spawn(
    name: str,
    argv: list[str],
    workdir: Path,
    env: dict[str, str] | None = None,
    stdin: int | None = None,
    stdout: int | IO[bytes] | None = None,
) -> Child:
    log = workdir / f"{name}.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            argv,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout if stdout is not None else err,
            stderr=err,
            env={**os.environ, **(env or {})},
            cwd=workdir,
        )
    return Child(name, proc, log)


def start_fake(workdir: Path) -> tuple[Child, int]:
    argv = [sys.executable, str(HERE / "fake_upstream.py"), "--port", "0"]
    return _ready(spawn("fake-upstream", argv, workdir, stdout=subprocess.PIPE))


def _ready(child: Child) -> tuple[Child, int]:
    """The port a child prints as `READY <port>` once it listens."""
    assert child.proc.stdout is not None
    line = child.proc.stdout.readline().decode()
    if not line.startswith("READY "):
        child.stop()
        raise RuntimeError(f"{child.name} did not start:\n{child.log_tail()}")
    return child, int(line.split()[1])


def start_null_proxy(
    workdir: Path, upstream: int, certs: Path, name: str = "null-proxy"
) -> tuple[Child, int]:
    """The bare aiohttp pass-through (`null_proxy.py`) over HTTPS, in front of the fake."""
    child = spawn(
        name,
        [
            sys.executable,
            str(HERE / "null_proxy.py"),
            "--upstream",
            f"http://127.0.0.1:{upstream}",
            "--cert",
            str(certs / "cert.pem"),
            "--key",
            str(certs / "key.pem"),
        ],
        workdir,
        stdout=subprocess.PIPE,
    )
    return _ready(child)


def litecursor_argv() -> list[str]:
    """The installed `litecursor` command next to this interpreter, else `python -m litecursor`."""
    exe = Path(sys.executable).with_name("litecursor")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "litecursor"]


def make_certs(workdir: Path) -> Path:
    certs = workdir / "certs"
    subprocess.run(
        [
            *litecursor_argv(),
            "certs",
            "--dir",
            str(certs),
            "--host",
            "127.0.0.1",
            "--host",
            "localhost",
        ],
        check=True,
        capture_output=True,
        cwd=workdir,
    )
    return certs


def start_gateway(
    name: str,
    workdir: Path,
    config: Path,
    certs: Path,
    env: dict[str, str] | None = None,
    extra: list[str] | None = None,
    tls: bool = True,
    workers: int = 1,
) -> tuple[Child, int]:
    """`litecursor serve` over HTTPS (or plain HTTP, `tls=False`), once it answers /health
    (with `workers` > 1: once the supervisor says all of them serve)."""
    port = free_port()
    listen = (
        ["--cert", str(certs / "cert.pem"), "--key", str(certs / "key.pem")]
        if tls
        else ["--insecure-http"]
    )
    argv = [
        *litecursor_argv(),
        "serve",
        "--config",
        str(config),
        *listen,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *(extra or []),
    ]
    child = spawn(name, argv, workdir, env=env)
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    scheme = "https" if tls else "http"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(
                f"litecursor serve exited with {child.proc.returncode}:\n{child.log_tail()}"
            )
        try:
            with urllib.request.urlopen(
                f"{scheme}://127.0.0.1:{port}/health", context=ctx, timeout=2
            ):
                if workers == 1 or f"{workers} workers serving" in child.log_tail(200):
                    return child, port
        except OSError:
            pass
        time.sleep(0.1)
    child.stop()
    raise RuntimeError(f"litecursor serve did not answer /health within 30 s:\n{child.log_tail()}")


class LoadGen:
    """The load generator process and its JSON-lines conversation."""

    def __init__(self, workdir: Path) -> None:
        self.child = spawn(
            "loadgen",
            [sys.executable, str(HERE / "loadgen.py")],
            workdir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def send(self, cmd: dict[str, Any]) -> None:
        stdin = self.child.proc.stdin
        assert stdin is not None
        stdin.write(orjson.dumps(cmd) + b"\n")
        stdin.flush()

    def receive(self) -> dict[str, Any]:
        stdout = self.child.proc.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the load generator died:\n{self.child.log_tail()}")
        result: dict[str, Any] = orjson.loads(line)
        return result

    def close(self) -> None:
        if self.child.proc.poll() is None:
            try:
                self.send({"op": "quit"})
                self.child.proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.child.stop()
