"""`litecursor serve`'s production options turned into `ServeSettings`, then one process or a supervisor with workers."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from ..config import Config
from ..observe.logs import LogFormat
from ..tls import CertificateError, check_certificate
from .acme_settings import AcmeSettings
from .forwarded import TrustedProxies
from .listening import DEFAULT_BACKLOG
from .runtime import Runtime, ServeSettings
from .sd_notify import Notifier
from .state import default_state_dir, prepare

__all__ = ["LaunchError", "launch", "settings_from_args"]


class LaunchError(Exception):
    """A combination of options that cannot work; `str()` says which and what to do."""


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    domains = tuple(dict.fromkeys(d.strip().lower().rstrip(".") for d in args.domain if d.strip()))
    if domains and (args.cert or args.key):
        raise LaunchError("--domain gets its own certificate: leave out --cert and --key")
    if domains and args.insecure_http:
        raise LaunchError("--domain serves HTTPS: leave out --insecure-http")
    if (args.cert or args.key) and not (args.cert and args.key):
        raise LaunchError("--cert and --key go together")
    if not (domains or args.cert or args.insecure_http):
        raise LaunchError(
            "no certificate: pass --domain NAME (a certificate from Let's Encrypt), --cert and "
            "--key (`litecursor certs` makes dev ones), or --insecure-http when a "
            "TLS-terminating proxy sits in front"
        )
    if args.cert:
        try:
            check_certificate(args.cert, args.key, args.key_password)
        except CertificateError as e:
            raise LaunchError(str(e)) from None
    http_port = args.http_port
    if http_port is None and domains:
        http_port = 80
    if http_port == 0:
        http_port = None
    try:
        trusted = TrustedProxies.parse(args.trusted_proxy)
    except ValueError as e:
        raise LaunchError(str(e)) from None
    if args.graceful_timeout < 0:
        raise LaunchError("--graceful-timeout must be 0 or more seconds")
    from .workers import worker_count

    try:
        workers = worker_count(args.workers)
    except ValueError:
        raise LaunchError(f"--workers {args.workers!r}: a number of processes, or auto") from None
    acme = None
    state_dir = None
    if domains:
        acme = AcmeSettings(domains, args.acme_directory, args.acme_email, args.acme_ca_bundle)
        state_dir = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir()
        try:
            prepare(state_dir)
        except OSError as e:
            raise LaunchError(f"--state-dir {state_dir}: {e.strerror or e}") from None
        if workers > 1 and http_port is None:
            raise LaunchError(
                "with --workers and --domain the certificate is proven over HTTP-01: give "
                "--http-port (TLS-ALPN-01 on the serving port needs a single process)"
            )
    return ServeSettings(
        config_path=args.config,
        env_files=tuple(args.env_file),
        host=args.host,
        port=args.port,
        http_port=http_port,
        cert=args.cert,
        key=args.key,
        key_password=args.key_password,
        acme=acme,
        state_dir=state_dir,
        worker=args.worker,
        graceful_timeout=args.graceful_timeout,
        reuse_port=workers > 1 or args.worker,
        backlog=args.backlog or DEFAULT_BACKLOG,
        trusted_proxies=trusted,
    )


def launch(
    args: argparse.Namespace,
    settings: ServeSettings,
    config: Config,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None,
    *,
    log_format: LogFormat = "text",
) -> int:
    """Serve until stopped; the exit code."""
    from .workers import Supervisor, worker_count

    notifier = Notifier.from_environ()
    count = worker_count(args.workers)

    async def main() -> int:
        if count > 1 and not settings.worker:
            return await Supervisor(args.argv, count, settings, notifier=notifier).run()
        # access lines go where logging writes (stderr), in the same format
        runtime = Runtime(
            settings, config, access_stream=sys.stderr, log_format=log_format, notifier=notifier
        )
        return await runtime.run()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main())
