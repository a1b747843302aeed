"""The `litecursor` command: `serve`, `certs`, `check` and the admin commands (cli_admin.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from . import __version__, process
from .config import Config, ConfigError, load
from .observe.logs import LOG_FORMATS, LogFormat, priority, to_journald

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    return int(args.func(args))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="litecursor", description=__doc__)
    p.add_argument("--version", action="version", version=f"litecursor {__version__}")
    sub = p.add_subparsers(metavar="COMMAND")

    s = sub.add_parser("serve", help="serve the gateway over HTTPS")
    s.add_argument("--config", "-c", default="config.yaml", help="LiteLLM-style config.yaml")
    s.add_argument("--cert", help="PEM certificate chain (leaf first)")
    s.add_argument("--key", help="PEM private key")
    s.add_argument(
        "--key-password",
        default=os.environ.get("LITECURSOR_KEY_PASSWORD"),
        help="password of an encrypted key (or LITECURSOR_KEY_PASSWORD)",
    )
    s.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    s.add_argument("--port", type=int, default=4000, help="port (default 4000)")
    s.add_argument(
        "--insecure-http",
        action="store_true",
        help="serve plain HTTP (only behind a TLS-terminating proxy)",
    )
    s.add_argument(
        "--log-level",
        default=os.environ.get("LITECURSOR_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
    )
    s.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="text lines (the default), or one JSON object per line with stable fields "
        "(README: Logs); or LITECURSOR_LOG_FORMAT, or litellm_settings.json_logs",
    )
    s.add_argument(
        "--no-access-log",
        action="store_true",
        help="no line per request (the litecursor.access logger); saves ~40 µs of CPU "
        "per request under heavy load",
    )
    s.add_argument(
        "--no-uvloop",
        action="store_true",
        default=os.environ.get("LITECURSOR_NO_UVLOOP", "") not in ("", "0"),
        help="use asyncio's own event loop even when uvloop is installed "
        "(or LITECURSOR_NO_UVLOOP=1)",
    )
    s.set_defaults(func=_serve)

    c = sub.add_parser("certs", help="write a dev CA and a certificate for local clients")
    c.add_argument("--dir", default="certs", help="where to write ca.pem, cert.pem, key.pem")
    c.add_argument(
        "--host",
        action="append",
        dest="hosts",
        metavar="NAME",
        help="host name or IP the certificate is for (repeatable; "
        "default localhost, 127.0.0.1, ::1)",
    )
    c.add_argument("--force", action="store_true", help="overwrite existing files")
    c.set_defaults(func=_certs)

    k = sub.add_parser("check", help="validate a config and print the resolved model list")
    k.add_argument("--config", "-c", default="config.yaml")
    k.set_defaults(func=_check)

    from .cli_admin import add_commands

    add_commands(sub)  # keys, spend, db, prices
    return p


def _error(message: str) -> int:
    print(f"litecursor: error: {message}", file=sys.stderr)
    return EXIT_USAGE


class _Console:
    """What `serve` tells at start, on stderr: plain lines, or log records when every line
    must be JSON (`--log-format json`); under journald each line starts with its priority."""

    def __init__(self, json_lines: bool = False, journald: bool = False) -> None:
        self.json_lines = json_lines
        self.journald = journald

    def say(self, message: str, level: int = logging.INFO, *, bare: bool = False) -> None:
        """`bare`: without the `litecursor: ` prefix in text."""
        if self.json_lines:
            logging.getLogger("litecursor").log(level, message)
            return
        kind = {logging.ERROR: "error: ", logging.WARNING: "warning: "}.get(level, "")
        head = f"<{priority(level)}>" if self.journald else ""
        print(f"{head}{message}" if bare else f"{head}litecursor: {kind}{message}", file=sys.stderr)

    def fail(self, message: str) -> int:
        self.say(message, logging.ERROR)
        return EXIT_USAGE


def _load(path: str) -> Config | None:
    console = _Console()
    try:
        config = load(path)
    except ConfigError as e:
        console.fail(str(e))
        return None
    _warn(config, console)
    return config


def _warn(config: Config, console: _Console) -> None:
    if config.warnings:
        if console.json_lines:
            for w in config.warnings:
                console.say(f"config key not supported yet (ignored): {w}", logging.WARNING)
        else:
            console.say("config keys not supported yet (ignored):", logging.WARNING)
            for w in config.warnings:
                console.say(f"  - {w}", logging.WARNING, bare=True)


def _check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_USAGE
    print(
        f"{args.config}: OK, {len(config.model_names)} model name(s), "
        f"{len(config.deployments)} deployment(s)"
    )
    width = max(len(d.model_name) for d in config.deployments)
    for d in config.deployments:
        key = "key set" if d.target.api_key else "no key"
        inferred = f" (provider '{d.target.provider}' inferred from the name)" * d.provider_inferred
        print(
            f"  {d.model_name:<{width}}  -> {d.litellm_model}{inferred}  "
            f"[{d.adapter} @ {d.target.api_base}, {key}]"
        )
    r = config.router
    print(f"routing: {r.routing_strategy}, retries {r.num_retries}, timeout {r.timeout:g}s")
    return 0


def _certs(args: argparse.Namespace) -> int:
    from .tls import dev_certs_instructions, generate_dev_certs

    hosts = args.hosts or ["localhost", "127.0.0.1", "::1"]
    try:
        certs = generate_dev_certs(Path(args.dir), hosts, force=args.force)
    except FileExistsError as e:
        return _error(f"{e} (pass --force to overwrite)")
    except OSError as e:
        return _error(f"{args.dir}: {e.strerror or e}")
    print(dev_certs_instructions(certs))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .server import serve
    from .tls import CertificateError, certificate_summary, server_context

    chosen = args.log_format or os.environ.get("LITECURSOR_LOG_FORMAT") or None
    if chosen is not None and chosen not in LOG_FORMATS:
        return _error(f"LITECURSOR_LOG_FORMAT={chosen!r}: use text or json")
    # the config is read first: LiteLLM's `json_logs` may choose the format of every line
    try:
        config: Config | None = load(args.config)
    except ConfigError as e:
        config, problem = None, str(e)
    json_logs = config is not None and config.observability.json_logs
    fmt: LogFormat = next(
        f for f in LOG_FORMATS if f == (chosen or ("json" if json_logs else "text"))
    )
    process.setup_logging(args.log_level, fmt, sys.stderr)
    if args.no_access_log:
        logging.getLogger("litecursor.access").setLevel(logging.WARNING)
    console = _Console(fmt == "json", to_journald(sys.stderr))
    say, fail = console.say, console.fail
    if config is None:
        return fail(problem)
    _warn(config, console)
    ssl_context = None
    if args.cert or args.key:
        if not (args.cert and args.key):
            return fail("--cert and --key go together")
        try:
            ssl_context = server_context(args.cert, args.key, args.key_password)
        except CertificateError as e:
            return fail(str(e))
        say(f"TLS certificate: {certificate_summary(args.cert)}")
    elif not args.insecure_http:
        return fail(
            "no certificate: pass --cert and --key (`litecursor certs` makes dev ones), "
            "or --insecure-http when a TLS-terminating proxy sits in front"
        )
    else:
        say(
            "serving plain HTTP. Cursor will not connect to an http:// URL; "
            "put a TLS-terminating proxy in front of this port.",
            logging.WARNING,
        )
    scheme = "https" if ssl_context else "http"
    shown = "localhost" if args.host in ("0.0.0.0", "::", "127.0.0.1") else args.host
    say(
        f"litecursor {__version__}: {scheme}://{shown}:{args.port}  "
        f"(Cursor base URL: {scheme}://<your public name>/cursor)",
        bare=True,
    )
    say(f"models: {', '.join(config.model_names)}", bare=True)
    loop_factory, loop_name = _event_loop(args.no_uvloop)
    say(f"event loop: {loop_name}")
    process.tune(uvloop=loop_factory is not None)
    return _run(
        serve(
            config,
            host=args.host,
            port=args.port,
            ssl_context=ssl_context,
            access_stream=sys.stderr,  # where logging writes too (setup_logging above)
            log_format=fmt,
        ),
        loop_factory,
        fail,
    )


def _event_loop(disabled: bool) -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """uvloop when installed (the `fast` extra) and not disabled. The same code runs on either
    loop; uvloop's C transports cost less per streamed chunk and per open TLS connection
    (benchmarks/RESULTS.md has both loops)."""
    try:
        if disabled:
            raise ImportError
        import uvloop
    except ImportError:
        return None, "asyncio (uvloop disabled)" if disabled else "asyncio"
    return uvloop.new_event_loop, f"uvloop {uvloop.__version__}"


def _run(
    coro: Coroutine[Any, Any, None],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
    fail: Callable[[str], int] = _error,
) -> int:
    """Run the server until SIGINT/SIGTERM, then shut down gracefully."""

    async def runner() -> None:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        with asyncio.Runner(loop_factory=loop_factory) as r:
            r.run(runner())
    except OSError as e:  # the port is taken, the address is not ours, ...
        return fail(f"cannot listen: {e.strerror or e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
