"""`--workers N`: a supervising process runs N serving processes on the same port and speaks for them.

Each worker is a full `litecursor serve` process started from this one's arguments (a fresh
interpreter, no fork of a running event loop) binding the port with SO_REUSEPORT, so the
kernel spreads new connections over them. The supervisor:

- gives each worker its own sd_notify socket to talk to (a datagram socket with SO_PASSCRED,
  so each message carries the sender's pid) and speaks for the group to systemd: READY=1
  once every worker is ready, RELOADING=1/READY=1 around a reload of all of them, STOPPING=1,
  and WATCHDOG=1 while every worker keeps pinging;
- restarts a worker that dies, or stops pinging, after a backoff that grows while it keeps
  dying (1 s, 2 s, 4 s ... 30 s), and logs why;
- passes SIGHUP (reload) and SIGTERM/SIGINT (graceful stop; a second one hurries) on to every
  worker, which run in their own session so a terminal's Ctrl-C reaches only the supervisor;
- with `--domain`, obtains and renews the certificate itself and answers HTTP-01 on the
  plain-HTTP port (which also redirects to HTTPS); the workers serve the stored certificate
  and install a new one as soon as it is written (SIGUSR1, and their file watch).

State that is not shared (rate-limit windows, cooldowns, reasoning replay) is per worker
unless Redis is configured; the README says what that means.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import signal
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ..observe import metrics
from .certificates import CertificateManager
from .challenges import ChallengeBoard, http_app
from .runtime import ServeSettings, _log_failure
from .sd_notify import Notifier

log = logging.getLogger("litecursor.workers")

__all__ = ["Supervisor", "worker_count"]

#: how often workers ping the supervisor, and how many missed pings get a worker replaced
WORKER_WATCHDOG_USEC = 5_000_000
MISSED_PINGS = 4
RESTART_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
#: a worker that lived this long before dying starts the backoff over
STABLE_AFTER = 60.0


def worker_count(value: str) -> int:
    """`auto` (the CPUs this process may run on) or a positive number."""
    if value == "auto":
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    n = int(value)
    if n < 1:
        raise ValueError("--workers must be at least 1 (or auto)")
    return n


@dataclass(slots=True)
class Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    ready: bool = False
    reloading: bool = False
    status: str = ""
    last_ping: float = 0.0
    failures: int = 0
    waiter: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


@dataclass(slots=True)
class _Reload:
    pending: set[int] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Supervisor:
    def __init__(
        self,
        argv: Sequence[str],
        count: int,
        settings: ServeSettings,
        *,
        notifier: Notifier | None = None,
    ) -> None:
        # the workers' command: these arguments, with --workers 1 and --worker last (argparse
        # keeps the last value of an option)
        self.command = [sys.executable, "-m", "litecursor", *argv, "--workers", "1", "--worker"]
        self.count = count
        self.settings = settings
        self.notifier = notifier or Notifier()
        self.workers = [Worker(i) for i in range(count)]
        self._by_pid: dict[int, Worker] = {}
        self._socket: socket.socket | None = None
        self._socket_dir: tempfile.TemporaryDirectory[str] | None = None
        self._stopping = False
        self._stopped = asyncio.Event()
        self._ready_once = False
        self._reload: _Reload | None = None
        self._reload_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []
        self._runners: list[web.AppRunner] = []
        self.manager: CertificateManager | None = None
        self._signals = 0

    # --- the workers' notify socket -----------------------------------------------------------

    def _open_socket(self) -> str:
        self._socket_dir = tempfile.TemporaryDirectory(prefix="litecursor-workers-")
        path = str(Path(self._socket_dir.name) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        sock.bind(path)
        sock.setblocking(False)
        self._socket = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._receive)
        return path

    def _metrics_dir(self) -> str:
        """Where the workers keep their metrics, so that any of them answers `/metrics` with
        the group's total: the admin's `PROMETHEUS_MULTIPROC_DIR` emptied of an earlier run's
        files (they would count twice), else a folder of the supervisor's own."""
        given = os.environ.get(metrics.MULTIPROC_ENV)
        if given:
            folder = Path(given)
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("*.db"):
                old.unlink(missing_ok=True)
            return str(folder)
        assert self._socket_dir is not None
        folder = Path(self._socket_dir.name) / "metrics"
        folder.mkdir()
        return str(folder)

    def _receive(self) -> None:
        assert self._socket is not None
        ucred = struct.calcsize("3i")
        while True:
            try:
                data, ancdata, _, _ = self._socket.recvmsg(4096, socket.CMSG_SPACE(ucred))
            except (BlockingIOError, InterruptedError):
                return
            pid = 0
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = array.array("i", payload[:ucred])[0]
            worker = self._by_pid.get(pid)
            if worker is not None:
                self._message(worker, data.decode("utf-8", "replace"))

    def _message(self, worker: Worker, text: str) -> None:
        fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
        worker.last_ping = time.monotonic()
        if "STATUS" in fields:
            worker.status = fields["STATUS"]
        if fields.get("RELOADING") == "1":
            worker.reloading = True
        if fields.get("READY") == "1":
            worker.ready = True
            if worker.reloading:
                worker.reloading = False
                self._reloaded(worker)
            self._maybe_ready()

    def _maybe_ready(self) -> None:
        if self._ready_once or not all(w.ready for w in self.workers):
            return
        self._ready_once = True
        s = self.settings
        scheme = "https" if s.tls else "http"
        status = f"{self.count} workers serving on {scheme}://{s.host}:{s.port}"
        log.info("%s (pids %s)", status, ", ".join(str(w.pid) for w in self.workers))
        self.notifier.ready(status)

    # --- starting and restarting workers ---------------------------------------------------------

    async def _spawn(self, worker: Worker, env: dict[str, str]) -> None:
        worker.process = await asyncio.create_subprocess_exec(
            *self.command, env=env, start_new_session=True
        )
        worker.started = worker.last_ping = time.monotonic()
        worker.ready = worker.reloading = False
        self._by_pid[worker.process.pid] = worker
        log.info("worker %d started (pid %d)", worker.index, worker.process.pid)
        worker.waiter = asyncio.ensure_future(self._watch(worker, env))

    async def _watch(self, worker: Worker, env: dict[str, str]) -> None:
        assert worker.process is not None
        code = await worker.process.wait()
        self._by_pid.pop(worker.process.pid, None)
        metrics.worker_exited(worker.process.pid, env[metrics.MULTIPROC_ENV])
        if self._stopping:
            return
        lived = time.monotonic() - worker.started
        worker.failures = 1 if lived > STABLE_AFTER else worker.failures + 1
        wait = RESTART_BACKOFF[min(worker.failures, len(RESTART_BACKOFF)) - 1]
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        log.error(
            "worker %d (pid %d) %s after %.0f s; restarting in %g s",
            worker.index, worker.process.pid, how, lived, wait,
        )  # fmt: skip
        if self._reload is not None and worker.index in self._reload.pending:
            self._reloaded(worker)
        await asyncio.sleep(wait)
        if not self._stopping:
            await self._spawn(worker, env)

    async def _watchdog(self) -> None:
        limit = MISSED_PINGS * WORKER_WATCHDOG_USEC / 1e6
        interval = self.notifier.watchdog_interval or WORKER_WATCHDOG_USEC / 2e6
        while True:
            await asyncio.sleep(min(interval, WORKER_WATCHDOG_USEC / 2e6))
            now = time.monotonic()
            healthy = True
            for w in self.workers:
                p = w.process
                if p is None or p.returncode is not None:
                    continue
                if now - w.last_ping > limit:
                    healthy = False
                    log.error(
                        "worker %d (pid %d) stopped answering for %.0f s; killing it",
                        w.index,
                        p.pid,
                        now - w.last_ping,
                    )
                    with contextlib.suppress(ProcessLookupError):
                        p.kill()
            if healthy:
                self.notifier.watchdog()

    def _send(self, sig: signal.Signals) -> None:
        """To every live worker; SIGHUP and SIGUSR1 only to those that are ready: one still
        starting has no handler yet (the signal would kill it) and reads the files anyway."""
        for w in self.workers:
            p = w.process
            if p is None or p.returncode is not None:
                continue
            if sig in (signal.SIGHUP, signal.SIGUSR1) and not w.ready:
                continue
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(sig)

    # --- reload and stop ------------------------------------------------------------------------

    def _reloaded(self, worker: Worker) -> None:
        r = self._reload
        if r is None or worker.index not in r.pending:
            return
        r.pending.discard(worker.index)
        if worker.status.startswith("reload refused"):
            r.refused.append(f"worker {worker.index}: {worker.status}")
        if not r.pending:
            r.done.set()

    async def reload(self) -> None:
        async with self._reload_lock:
            live = [
                w
                for w in self.workers
                if w.ready and w.process is not None and w.process.returncode is None
            ]
            self.notifier.reloading(f"reloading {len(live)} workers")
            self._reload = _Reload(pending={w.index for w in live})
            self._send(signal.SIGHUP)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reload.done.wait(), 60)
            r, self._reload = self._reload, None
            if r.pending:
                status = f"reload: workers {sorted(r.pending)} did not answer"
            elif r.refused:
                status = r.refused[0]
            else:
                status = f"reloaded {len(live)} workers"
            log.info("%s", status)
            if self.manager is not None:
                self.manager.wake()
            self.notifier.ready(status)

    def request_stop(self) -> None:
        self._signals += 1
        if self._signals == 1:
            self._stopping = True
            self.notifier.stopping(f"stopping {self.count} workers")
            log.info("stopping: passing SIGTERM on to %d workers", self.count)
        else:
            log.warning("second stop signal: workers end their requests now")
        self._send(signal.SIGTERM)
        self._stopped.set()

    # --- the supervisor's own listeners: ACME and the plain-HTTP port -------------------------------

    async def _start_http_and_acme(self) -> None:
        s = self.settings
        board = ChallengeBoard(None, http_listening=False)
        if s.http_port is not None:
            runner = web.AppRunner(http_app(board, s.port if s.tls else None), access_log=None)
            await runner.setup()
            from ..server import listen

            await listen(runner, host=s.host, port=s.http_port, backlog=s.backlog)
            self._runners.append(runner)
            board.http_listening = True
        if s.acme is not None:
            assert s.state_dir is not None
            self.manager = CertificateManager(
                s.acme, s.state_dir, board, None, notifier=self.notifier,
                on_installed=lambda held: self._send(signal.SIGUSR1),
            )  # fmt: skip
            self.manager.load_stored()
            self._background(self.manager.run())

    def _background(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(
            coro, name=getattr(coro, "__qualname__", None)
        )
        task.add_done_callback(_log_failure)
        self._tasks.append(task)

    # --- run ----------------------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(
            signal.SIGHUP, lambda: self._tasks.append(asyncio.ensure_future(self.reload()))
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")
        }
        env["NOTIFY_SOCKET"] = self._open_socket()
        env["WATCHDOG_USEC"] = str(WORKER_WATCHDOG_USEC)
        env[metrics.MULTIPROC_ENV] = self._metrics_dir()
        try:
            await self._start_http_and_acme()
            for w in self.workers:
                await self._spawn(w, env)
            self._background(self._watchdog())
            await self._stopped.wait()
            for w in self.workers:
                if w.process is not None:
                    with contextlib.suppress(Exception):
                        await w.process.wait()
            # a worker waiting out its restart backoff is not started again
            waiters = [w.waiter for w in self.workers if w.waiter is not None]
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        finally:
            self._stopping = True
            for t in self._tasks:
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for runner in self._runners:
                await runner.cleanup()
            if self._socket is not None:
                loop.remove_reader(self._socket.fileno())
                self._socket.close()
            if self._socket_dir is not None:
                self._socket_dir.cleanup()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        codes = [w.process.returncode for w in self.workers if w.process is not None]
        log.info("all workers stopped (exit codes %s)", codes)
        return 0
