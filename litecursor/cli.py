"""The `litecursor` command: `serve`, `certs`, `check` and the admin commands (cli_admin.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__, process
from .config import Config, ConfigError, load
from .observe.logs import LOG_FORMATS, LogFormat, priority, to_journald
from .ops.acme_settings import LETS_ENCRYPT

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `--workers` starts them again
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
        "--backlog",
        type=_positive_int,
        default=None,
        help="connections the system queues before they are accepted (default 2048; "
        "the kernel caps it at net.core.somaxconn)",
    )
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
    _ops_arguments(s)
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
    k.add_argument("--env-file", action="append", default=[], metavar="FILE")
    k.set_defaults(func=_check)

    from .cli_admin import add_commands

    add_commands(sub)  # keys, spend, db, prices
    return p


def _ops_arguments(s: argparse.ArgumentParser) -> None:
    """`serve`'s production options: certificates from ACME, reload, drain, workers, proxies."""
    s.add_argument(
        "--env-file",
        action="append",
        default=[],
        metavar="FILE",
        help="KEY=VALUE lines (provider keys) for os.environ/NAME in the config; the real "
        "environment wins; re-read on reload (repeatable)",
    )
    a = s.add_argument_group("automatic certificates (ACME)")
    a.add_argument(
        "--domain",
        action="append",
        default=[],
        metavar="NAME",
        help="public name to get a certificate for from Let's Encrypt (repeatable)",
    )
    a.add_argument("--acme-email", help="contact for the ACME account (expiry notices)")
    a.add_argument(
        "--acme-directory",
        default=os.environ.get("LITECURSOR_ACME_DIRECTORY", LETS_ENCRYPT),
        metavar="URL",
        help="ACME directory (default Let's Encrypt; its staging directory for trials)",
    )
    a.add_argument(
        "--acme-ca-bundle",
        metavar="FILE",
        help="CA bundle trusting a private ACME directory's HTTPS",
    )
    a.add_argument(
        "--http-port",
        type=int,
        metavar="PORT",
        help="plain-HTTP port: ACME HTTP-01 answers and a redirect to HTTPS "
        "(default 80 with --domain, else none; 0 turns it off)",
    )
    a.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where the ACME account and certificates are kept (default $STATE_DIRECTORY "
        "under systemd, else ~/.local/share/litecursor)",
    )
    o = s.add_argument_group("operation")
    o.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, how long requests in flight may take to finish (default 30)",
    )
    o.add_argument(
        "--workers",
        default="1",
        metavar="N",
        help="processes serving the port (SO_REUSEPORT) under one supervisor; auto = CPUs",
    )
    o.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    o.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDR",
        help="believe X-Forwarded-For/-Proto from this address or network (repeatable)",
    )


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


def _load(path: str, env_files: Sequence[str] = ()) -> Config | None:
    from .ops.envfile import EnvFileError, environ_with

    console = _Console()
    try:
        config = load(path, environ_with(env_files))
    except (ConfigError, EnvFileError) as e:
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
    config = _load(args.config, args.env_file)
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
    print(f"proxy limits: {_proxy_limits(config)}")
    return 0


def _proxy_limits(config: Config) -> str:
    """What the whole proxy is held to, as `check` reports it."""
    a = config.accounting
    parts = []
    if a.max_budget is not None:
        every = f" every {a.budget_duration}" if a.budget_duration else ", never reset"
        parts.append(f"budget ${a.max_budget:g}{every}")
    if a.rpm_limit is not None:
        parts.append(f"{a.rpm_limit} requests/minute")
    if a.max_parallel_requests is not None:
        parts.append(f"{a.max_parallel_requests} requests in flight")
    if a.max_end_user_budget is not None:
        parts.append(f"${a.max_end_user_budget:g} per end user")
    shared = "shared through Redis" if a.redis_url else "per process (no Redis)"
    return f"{', '.join(parts) or 'none'}; rate limits and cooldowns {shared}"


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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _serve(args: argparse.Namespace) -> int:
    from .ops.envfile import EnvFileError, environ_with
    from .ops.launch import LaunchError, launch, settings_from_args
    from .tls import certificate_summary

    chosen = args.log_format or os.environ.get("LITECURSOR_LOG_FORMAT") or None
    if chosen is not None and chosen not in LOG_FORMATS:
        return _error(f"LITECURSOR_LOG_FORMAT={chosen!r}: use text or json")
    # the config is read first: LiteLLM's `json_logs` may choose the format of every line
    try:
        config: Config | None = load(args.config, environ_with(args.env_file))
    except (ConfigError, EnvFileError) as e:
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
    try:
        settings = settings_from_args(args)
    except LaunchError as e:
        return fail(str(e))
    if settings.cert:
        say(f"TLS certificate: {certificate_summary(settings.cert)}")
    elif settings.acme:
        say(
            f"TLS certificate for {', '.join(settings.acme.domains)} from "
            f"{settings.acme.directory}, kept in {settings.state_dir}"
        )
    else:
        say(
            "serving plain HTTP. Cursor will not connect to an http:// URL; "
            "put a TLS-terminating proxy in front of this port.",
            logging.WARNING,
        )
    scheme = "https" if settings.tls else "http"
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
    try:
        return launch(args, settings, config, loop_factory, log_format=fmt)
    except OSError as e:  # the port is taken, the address is not ours, ...
        return fail(f"cannot listen: {e.strerror or e}")


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


if __name__ == "__main__":
    raise SystemExit(main())
