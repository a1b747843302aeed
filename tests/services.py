"""Real PostgreSQL and Redis servers for the tests, on loopback in temporary folders.

Started once per test session from the Debian packages' binaries (`postgresql`, `redis-server`;
`.ci/run` installs them). Where a binary is missing the tests that need it are skipped with the
reason, except in CI (`CI=true`), where that fails them: CI must run them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTGRES_GLOB = "/usr/lib/postgresql/*/bin"
STARTUP_TIMEOUT = 30.0


def unavailable(what: str) -> None:
    """Skip, or fail in CI, because a service cannot be started."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: .ci/run must install it)", pytrace=False)
    pytest.skip(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on port {port}: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    bindir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"t_{secrets.token_hex(6)}"
        subprocess.run(
            [str(self.bindir / "psql"), "-h", self.host, "-p", str(self.port), "-U", self.user,
             "-d", "postgres", "-q", "-c", f"CREATE DATABASE {name}"],
            check=True, capture_output=True,
        )  # fmt: skip
        return self.url(name)


def postgres_bin() -> Path | None:
    found = sorted(glob.glob(POSTGRES_GLOB), key=lambda p: int(Path(p).parent.name))
    for folder in reversed(found):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
            return Path(folder)
    return None


@contextlib.contextmanager
def run_postgres() -> Iterator[Postgres]:
    """initdb + postgres on a free loopback port, trust auth, no fsync (test data only), in a
    temporary folder of its own (pytest's are private to the user running the tests).
    PostgreSQL refuses to run as root: as root it runs as the package's `postgres` user."""
    bindir = postgres_bin()
    if bindir is None:
        unavailable(f"PostgreSQL is not installed (no initdb/postgres under {POSTGRES_GLOB})")
    assert bindir is not None
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            runuser = None
        if runuser is None:
            unavailable(
                "running as root without a 'postgres' user and runuser to run PostgreSQL as"
            )
        prefix = [str(runuser), "-u", "postgres", "--"]
    with tempfile.TemporaryDirectory(prefix="litecursor-pg-") as tmp:
        yield from _postgres(Path(tmp), bindir, prefix)


def _postgres(base: Path, bindir: Path, prefix: list[str]) -> Iterator[Postgres]:
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if prefix:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    log = base / "postgres.log"
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "litecursor", "--auth=trust",
         "--no-sync", "-E", "UTF8"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*prefix, str(bindir / "postgres"), "-D", str(data), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sock}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_port(port, proc, "postgres", log)
        _wait_ready(bindir, port, prefix, proc, log)
        yield Postgres("127.0.0.1", port, "litecursor", bindir)
    finally:
        _stop(proc)


def _wait_ready(
    bindir: Path, port: int, prefix: list[str], proc: subprocess.Popen[bytes], log: Path
) -> None:
    """The port opens before the server accepts queries: wait for pg_isready's yes."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        ok = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
        )
        if ok.returncode == 0:
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"postgres is not ready: {log.read_text()[-2000:]}")


@dataclass(frozen=True)
class Redis:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


@contextlib.contextmanager
def run_redis(base: Path) -> Iterator[Redis]:
    """redis-server on a free loopback port, nothing saved to disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (Debian package redis-server)")
    assert binary is not None
    port = free_port()
    log = base / "redis.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(base),
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_port(port, proc, "redis-server", log)
        yield Redis("127.0.0.1", port)
    finally:
        _stop(proc)
