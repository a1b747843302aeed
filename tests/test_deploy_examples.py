"""The deployment files in examples/: the systemd unit verified by systemd itself and run under its
MemoryDenyWriteExecute rule, the Dockerfile's health check run against a real gateway."""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from litecursor.tls import DevCerts

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
UNIT = EXAMPLES / "litecursor.service"
LITECURSOR = Path(sys.executable).with_name("litecursor")


def directives(text: str) -> dict[str, list[str]]:
    """The unit's KEY=VALUE lines (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found: dict[str, list[str]] = {}
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd is not installed here (systemd-analyze not found)")
    # verify checks that ExecStart's program exists: point it at this checkout's litecursor
    unit = tmp_path / "litecursor.service"
    unit.write_text(UNIT.read_text().replace("/opt/litecursor/bin/litecursor", str(LITECURSOR)))
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # an unknown or misspelt setting is only a warning for systemd: any output fails the test
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr


def test_the_unit_has_what_a_public_gateway_needs() -> None:
    d = directives(UNIT.read_text())
    assert d["Type"] == ["notify"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["DynamicUser"] == ["yes"]
    assert d["StateDirectory"] == ["litecursor"] and d["ConfigurationDirectory"] == ["litecursor"]
    assert d["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert any(v.startswith("secrets.env:") for v in d["LoadCredential"])
    for key in (
        "NoNewPrivileges", "ProtectHome", "PrivateTmp", "MemoryDenyWriteExecute",
    ):  # fmt: skip
        assert d[key] == ["yes"], key
    assert d["ProtectSystem"] == ["strict"]
    assert d["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert "@system-service" in d["SystemCallFilter"]
    # the graceful drain (30 s by default) fits in the stop timeout
    assert int(d["TimeoutStopSec"][0]) > 30
    # the certificate-files variant, commented out, loads its certificate and key as credentials
    text = UNIT.read_text()
    assert "#LoadCredential=cert.pem:" in text and "#LoadCredential=key.pem:" in text
    assert "--cert ${CREDENTIALS_DIRECTORY}/cert.pem" in text


PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


def _deny_write_execute() -> None:  # runs in the child before exec
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        os._exit(97)


def _mdwe_available() -> bool:
    r = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_deny_write_execute)
    return r.returncode == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gateway(*args: str, preexec: Callable[[], None] | None = None) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [str(LITECURSOR), "serve", "--config", str(EXAMPLES / "config.mock.yaml"),
         "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, preexec_fn=preexec,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(proc.stderr.read() if proc.stderr else "did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_the_gateway_streams_under_memory_deny_write_execute(
    loop: str, tmp_path: Path, dev_certs: DevCerts
) -> None:
    """systemd's MemoryDenyWriteExecute refuses memory that is writable and executable. The
    kernel's own form of the rule (PR_SET_MDWE, what systemd uses where the kernel has it)
    is set on the process before it starts; a streamed chat over TLS then exercises the event
    loop, OpenSSL, cryptography, orjson and aiohttp's C parser under it."""
    if not _mdwe_available():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    flags = ["--cert", str(dev_certs.cert), "--key", str(dev_certs.key)]
    if loop == "asyncio":
        flags.append("--no-uvloop")
    with gateway(*flags, preexec=_deny_write_execute) as port:
        r = subprocess.run(
            [sys.executable, "-c", STREAM_ONE, str(port), str(dev_certs.ca)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "hello under mdwe"


STREAM_ONE = """
import sys, httpx2 as httpx
from openai import OpenAI
c = OpenAI(api_key="sk-litecursor-dev-key", base_url=f"https://localhost:{sys.argv[1]}/v1",
           http_client=httpx.Client(verify=sys.argv[2]), max_retries=0)
s = c.chat.completions.create(model="mock", stream=True,
                              messages=[{"role": "user", "content": "hello under mdwe"}])
print("".join(ch.choices[0].delta.content or "" for ch in s if ch.choices))
"""


def test_the_dockerfile_runs_as_a_user_keeps_state_in_a_volume_and_checks_health() -> None:
    text = (EXAMPLES / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"^USER litecursor$", text, re.M)
    assert (
        'VOLUME ["/var/lib/litecursor"]' in text and "STATE_DIRECTORY=/var/lib/litecursor" in text
    )
    assert "HEALTHCHECK" in text


def test_the_dockerfile_health_check_passes_against_a_running_gateway() -> None:
    """The command Docker runs, run here against the gateway: 0 while it answers /health."""
    text = (EXAMPLES / "Dockerfile").read_text()
    command = re.search(r'CMD \["python", "-c", "(.+)"\]\n', text)
    assert command is not None
    code = command.group(1).replace('\\"', '"')
    with gateway("--insecure-http") as port:
        env = {**os.environ, "LITECURSOR_HEALTH_URL": f"http://127.0.0.1:{port}/health"}
        assert subprocess.run([sys.executable, "-c", code], env=env, timeout=30).returncode == 0
    env = {**os.environ, "LITECURSOR_HEALTH_URL": f"http://127.0.0.1:{free_port()}/health"}
    assert (
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, timeout=30
        ).returncode
        != 0
    )


def test_compose_runs_the_gateway_with_postgres_and_redis() -> None:
    compose = yaml.safe_load((EXAMPLES / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"litecursor", "postgres", "redis"}
    gw = services["litecursor"]
    assert gw["build"]["dockerfile"] == "examples/Dockerfile"
    assert "litecursor-state:/var/lib/litecursor" in gw["volumes"]
    assert gw["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "DATABASE_URL" in gw["environment"]


def test_proxy_snippets_never_buffer_the_stream_and_forward_the_client_address() -> None:
    nginx = (EXAMPLES / "deploy" / "nginx.conf").read_text()
    assert "proxy_buffering off;" in nginx
    assert "X-Forwarded-For" in nginx and "X-Forwarded-Proto" in nginx
    caddy = (EXAMPLES / "deploy" / "Caddyfile").read_text()
    assert "flush_interval -1" in caddy
    for text in (nginx, caddy):
        assert "--insecure-http --host 127.0.0.1" in text and "--trusted-proxy" in text


def _unit_exec_starts() -> list[list[str]]:
    """Each ExecStart= of the unit, active or commented out, as an argument list."""
    import shlex

    text = re.sub(r"\\\n#?\s*", " ", UNIT.read_text())
    values = {
        "${CONFIGURATION_DIRECTORY}": "/etc/litecursor",
        "${CREDENTIALS_DIRECTORY}": "/run/credentials/litecursor.service",
    }
    found = []
    for line in text.splitlines():
        if line.lstrip("#").startswith("ExecStart="):
            command = line.lstrip("#")[len("ExecStart=") :]
            for name, value in values.items():
                command = command.replace(name, value)
            found.append(shlex.split(command))
    return found


def _dockerfile_command() -> list[str]:
    import json

    text = (EXAMPLES / "Dockerfile").read_text()
    entry = re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M)
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert entry and cmd
    return [*json.loads(entry.group(1)), *json.loads(cmd.group(1))]


def _parses(argv: list[str]) -> argparse.Namespace:
    from litecursor.cli import _parser

    assert Path(argv[0]).name == "litecursor", argv
    try:
        return _parser().parse_args(argv[1:])
    except SystemExit:
        raise AssertionError(f"litecursor refuses these arguments: {argv}") from None


def test_every_command_line_in_the_examples_is_one_litecursor_accepts() -> None:
    from litecursor.ops.launch import settings_from_args

    starts = _unit_exec_starts()
    assert len(starts) == 2  # ACME, and certificate files (commented out)
    for argv in starts:
        _parses(argv)
    acme = _parses(starts[0])
    assert acme.domain == ["gw.example.com"] and acme.http_port == 80
    docker = _dockerfile_command()
    settings = settings_from_args(_parses(docker))
    assert settings.port == 4000 and not settings.tls
    compose = yaml.safe_load((EXAMPLES / "docker-compose.yml").read_text())
    argv = [*_dockerfile_command()[:4], *compose["services"]["litecursor"]["command"]]
    parsed = _parses(argv)
    assert parsed.workers == "auto" and parsed.domain == ["gw.example.com"]
