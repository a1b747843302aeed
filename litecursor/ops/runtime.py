"""One serving process from start to exit: listeners, certificates, reload, graceful shutdown, sd_notify.

`Runtime.run()` is what `litecursor serve` runs (in each worker, with `--workers`):

- start: the serving port (TLS from `--cert/--key`, from ACME, or plain HTTP behind a proxy),
  the plain-HTTP port (ACME HTTP-01 answers and a redirect to HTTPS), the certificate
  manager or file watcher, then READY=1;
- SIGHUP (and `POST /admin/reload`): re-read the environment files, the config and the
  certificate files; anything bad refuses the whole reload with one logged reason and the old
  config and certificate keep serving. A good config becomes a new *generation*: a new
  application serving new connections on the same listening socket, while the old one stops
  accepting, closes its idle keep-alive connections and finishes the requests it has in
  flight, then runs its cleanup. A new certificate is installed for new handshakes;
- SIGTERM/SIGINT: stop accepting, let requests in flight finish for `--graceful-timeout`
  seconds, end the rest with an SSE error chunk, run the applications' cleanup (where spend
  rows and logs are flushed: `app.cleanup_ctx` and `app.on_cleanup` run after every request
  has ended), exit 0. A second signal skips the wait.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from ..config import Config, ConfigError, load
from ..observe.logs import LogFormat
from ..server.lasting import Lasting
from ..tls import CertificateError
from .acme_settings import AcmeSettings
from .certfiles import CertificateFiles
from .certificates import CertificateManager, placeholder_certificate
from .challenges import ChallengeBoard, http_app
from .drain import Drain
from .envfile import EnvFileError, environ_with
from .forwarded import TrustedProxies
from .listening import DEFAULT_BACKLOG, listening_sockets
from .sd_notify import Notifier
from .serving_tls import ServingTLS
from .store import AcmeStore

log = logging.getLogger("litecursor")

__all__ = ["Generation", "ReloadResult", "Runtime", "ServeSettings"]


@dataclass(frozen=True, slots=True)
class ServeSettings:
    config_path: str
    env_files: tuple[str, ...] = ()
    host: str = "0.0.0.0"
    port: int = 4000
    #: the plain-HTTP port: HTTP-01 answers and redirects (None: no such listener)
    http_port: int | None = None
    cert: str | None = None
    key: str | None = None
    key_password: str | None = None
    acme: AcmeSettings | None = None
    state_dir: Path | None = None
    #: a worker under `--workers`: the supervisor runs ACME and the plain-HTTP port; this
    #: process serves the stored certificate and follows its files
    worker: bool = False
    graceful_timeout: float = 30.0
    reuse_port: bool = False
    backlog: int = DEFAULT_BACKLOG
    trusted_proxies: TrustedProxies = field(default_factory=TrustedProxies)
    #: how often certificate files are checked for a change made by another tool
    certificate_poll: float = 2.0

    @property
    def tls(self) -> bool:
        return bool(self.cert or self.acme)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    message: str
    models: int = 0


@dataclass(slots=True, eq=False)
class Generation:
    """One config's application: it serves new connections until a reload replaces it, then
    finishes what it has in flight and closes (its cleanup flushes what it holds)."""

    config: Config
    app: web.Application
    runner: web.AppRunner
    drain: Drain
    sites: list[web.BaseSite] = field(default_factory=list)


def _log_failure(task: asyncio.Task[Any]) -> None:
    """A background task (the certificate loop, a watcher, a reload) must never die unseen."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())


class Runtime:
    def __init__(
        self,
        settings: ServeSettings,
        config: Config,
        *,
        access_stream: TextIO | None = None,
        log_format: LogFormat = "text",
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.access_stream = access_stream
        self.log_format: LogFormat = log_format
        self.notifier = notifier or Notifier()
        self.serving: ServingTLS | None = None
        self.cert_files: CertificateFiles | None = None
        self.manager: CertificateManager | None = None
        self.current: Generation | None = None
        self.retiring: set[Generation] = set()
        self._sockets: list[socket.socket] = []
        self._http: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._retirements: list[asyncio.Task[None]] = []
        self._reload_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()
        self.port = settings.port
        self.http_port = settings.http_port
        #: what every generation shares: a reload keeps replay, cooldowns, rate windows,
        #: metrics (server.lasting)
        self.lasting = Lasting.create(config)

    # --- start -----------------------------------------------------------------------------------

    def _tls(self) -> ServingTLS | None:
        s = self.settings
        if s.cert and s.key:
            serving = ServingTLS.from_files(s.cert, s.key, s.key_password)
            self.cert_files = CertificateFiles(serving, s.cert, s.key, s.key_password)
            return serving
        if s.acme is None:
            return None
        assert s.state_dir is not None
        store = AcmeStore(s.state_dir, s.acme.directory, s.acme.domains)
        held, _ = store.held_or_none()
        usable = held is not None and held.covers(s.acme.domains)
        if usable:
            serving = ServingTLS.from_files(store.cert, store.key)
        else:
            serving = ServingTLS.from_pem(*placeholder_certificate(s.acme.domains))
        if s.worker:
            # the supervisor orders and renews; this worker installs what it stores, told by
            # SIGUSR1 or finding the files changed
            self.cert_files = CertificateFiles(serving, store.cert, store.key, installed=usable)
        return serving

    async def _generation(self, config: Config) -> Generation:
        from ..server import create_app, listen
        from ..server.lifecycle import install

        drain = Drain()
        shared = self.settings.worker or None  # workers reserve budgets in their one database
        app = create_app(
            config,
            self.access_stream,
            self.log_format,
            shared_budgets=shared,
            lasting=self.lasting,
        )
        install(
            app,
            drain=drain,
            trusted_proxies=self.settings.trusted_proxies,
            reload=self.reload_from_admin,
        )
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=5.0
        )
        await runner.setup()
        generation = Generation(config, app, runner, drain)
        ssl_context = self.serving.listening if self.serving else None
        for sock in self._sockets:
            # the connection limits of this generation's config (server.connection)
            site = await listen(
                runner, sock=sock.dup(), ssl_context=ssl_context, backlog=self.settings.backlog
            )
            generation.sites.append(site)
        return generation

    async def start(self) -> None:
        s = self.settings
        self.serving = self._tls()
        self._sockets = listening_sockets(
            s.host, s.port, reuse_port=s.reuse_port, backlog=s.backlog
        )
        self.port = self._sockets[0].getsockname()[1]
        self.current = await self._generation(self.config)

        board = ChallengeBoard(self.serving, http_listening=False)
        if s.http_port is not None and not s.worker:
            runner = web.AppRunner(
                http_app(board, self.port if self.serving else None), access_log=None
            )
            await runner.setup()
            self._http = runner
            from ..server import listen

            site = await listen(runner, host=s.host, port=s.http_port, backlog=s.backlog)
            self.http_port = site.port
            board.http_listening = True
        if s.acme is not None and not s.worker:
            assert self.serving is not None and s.state_dir is not None
            self.manager = CertificateManager(
                s.acme, s.state_dir, board, self.serving, notifier=self.notifier
            )
            self.manager.load_stored()
            self._background(self.manager.run())
        if self.cert_files is not None:
            self._background(self.cert_files.watch(s.certificate_poll))
        if self.notifier.watchdog_interval:
            self._background(self._watchdog(self.notifier.watchdog_interval))
        scheme = "https" if self.serving else "http"
        status = (
            f"serving {len(self.config.model_names)} model(s) on {scheme}://{s.host}:{self.port}"
        )
        extra = f" (plain HTTP on :{self.http_port})" if self._http is not None else ""
        log.info("%s%s", status, extra)
        self.notifier.ready(status)

    def _background(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(
            coro, name=getattr(coro, "__qualname__", None)
        )
        task.add_done_callback(_log_failure)
        self._tasks.append(task)

    async def _watchdog(self, interval: float) -> None:
        parent = os.getppid()
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)
            if self.settings.worker and os.getppid() != parent:
                log.error("the supervising process is gone; stopping")
                self.request_stop()

    # --- reload ------------------------------------------------------------------------------------

    def _read(self) -> Config:
        """The config as it is on disk now, with the environment files; raises on a problem."""
        s = self.settings
        config = load(s.config_path, environ_with(s.env_files))
        if self.cert_files is not None and not s.worker:
            self.cert_files.check()
        return config

    async def reload(self, source: str = "SIGHUP") -> ReloadResult:
        async with self._reload_lock:
            self.notifier.reloading(f"reloading ({source})")
            s = self.settings
            try:
                config = self._read()
            except (EnvFileError, ConfigError, CertificateError) as e:
                message = f"reload refused: {e}; still serving the previous config and certificate"
                log.error("%s (%s)", message, source)
                self.notifier.ready(message)
                return ReloadResult(False, str(e))
            parts = [f"{s.config_path}: {len(config.model_names)} model(s)"]
            if self.cert_files is not None:
                try:
                    parts.append(self.cert_files.reload())
                except CertificateError as e:  # a worker's files mid-renewal: its watch retries
                    parts.append(f"certificate kept ({e})")
            old, self.current = self.current, await self._generation(config)
            self.config = config
            if old is not None:
                await self._close(old)  # from here on every new connection gets the new config
                self.retiring.add(old)
                retirement = asyncio.ensure_future(self._retire(old))
                retirement.add_done_callback(_log_failure)
                self._retirements.append(retirement)
            if self.manager is not None:
                self.manager.wake()
            message = "reloaded " + "; ".join(parts)
            log.info("%s (%s)", message, source)
            self.notifier.ready(f"serving {len(config.model_names)} model(s); {message}")
            return ReloadResult(True, message, len(config.model_names))

    async def reload_from_admin(self) -> ReloadResult:
        """`POST /admin/reload`. A worker checks the files itself (the others would find the
        same), then asks its supervisor to reload the whole group."""
        if not self.settings.worker:
            return await self.reload("POST /admin/reload")
        try:
            config = self._read()
        except (EnvFileError, ConfigError, CertificateError) as e:
            log.error("reload refused: %s (POST /admin/reload)", e)
            return ReloadResult(False, str(e))
        os.kill(os.getppid(), signal.SIGHUP)
        return ReloadResult(True, "reload of every worker requested", len(config.model_names))

    async def _close(self, generation: Generation) -> None:
        """Stop a generation accepting; its idle keep-alive connections close now, busy ones
        once their response is done."""
        for site in generation.sites:
            await site.stop()
        generation.sites.clear()
        server = generation.runner.server
        if server is not None:
            server.pre_shutdown()

    async def _retire(self, generation: Generation) -> None:
        """A generation a reload replaced (closed already): its requests finish, then its
        cleanup runs."""
        try:
            while not await generation.drain.wait(3600):
                pass
            await generation.runner.cleanup()
        finally:
            self.retiring.discard(generation)

    def reload_certificate(self) -> None:
        """SIGUSR1: install the certificate files now (a worker told by its supervisor that
        it stored a new certificate); a refusal is logged and the old one kept."""
        if self.cert_files is None:
            return
        try:
            log.info("installed %s", self.cert_files.reload())
        except CertificateError as e:
            log.warning("certificate files refused: %s; still serving the previous certificate", e)

    # --- stop -----------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """The first call starts a graceful stop; a second ends what is left at once."""
        if self._stop.is_set() and not self._hurry.is_set():
            log.warning("second stop signal: ending the requests in flight now")
            self._hurry.set()
        self._stop.set()

    @property
    def active(self) -> int:
        gens = [*self.retiring, *([self.current] if self.current else [])]
        return sum(g.drain.active for g in gens)

    async def stop(self, *, started: bool = True) -> None:
        """`started` False: undo a start that failed half-way, without a word."""
        s = self.settings
        if started:
            self.notifier.stopping(f"stopping: {self.active} request(s) in flight")
            log.info(
                "stopping: no new connections; %d request(s) in flight get up to %gs to finish",
                self.active, s.graceful_timeout,
            )  # fmt: skip
        if self._http is not None:
            await self._http.cleanup()
        if self.current is not None:
            await self._close(self.current)
        for sock in self._sockets:
            sock.close()  # the port is closed once no generation holds a duplicate either
        generations = [*self.retiring, *([self.current] if self.current else [])]
        idle = asyncio.ensure_future(
            asyncio.gather(*(g.drain.wait(s.graceful_timeout) for g in generations))
        )
        hurry = asyncio.ensure_future(self._hurry.wait())
        waiters: list[asyncio.Future[Any]] = [idle, hurry]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        idle.cancel()
        hurry.cancel()
        ended = sum(g.drain.end_all() for g in generations)
        if ended:
            log.warning("ended %d request(s) still running with an error chunk", ended)
            await asyncio.gather(*(g.drain.wait(5.0) for g in generations))
        await asyncio.gather(*self._retirements, return_exceptions=True)  # their cleanup ran
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.current is not None:
            await self.current.runner.cleanup()  # the flush of spend rows and logs runs here
        self.notifier.close()
        if started:
            log.info("stopped")

    async def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT (SIGHUP reloads, SIGUSR1 re-reads the
        certificate files), stop; the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._background(self.reload("SIGHUP")))
        loop.add_signal_handler(signal.SIGUSR1, self.reload_certificate)
        try:
            try:
                await self.start()
            except BaseException:
                await self.stop(started=False)
                raise
            try:
                await self._stop.wait()
            finally:
                await self.stop()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
                loop.remove_signal_handler(sig)
        return 0
