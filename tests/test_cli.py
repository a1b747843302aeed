"""The `litecursor` command as a user runs it: certs, check, serve (real subprocesses)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from .processes import CLI, MOCK_CONFIG, ROOT, free_port, serving


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("clicerts")
    r = run("certs", "--dir", str(d), "--host", "localhost", "--host", "127.0.0.1")
    assert r.returncode == 0, r.stderr
    return d


def test_certs_writes_three_files_and_explains_trust(certs: Path) -> None:
    assert {p.name for p in certs.iterdir()} >= {"ca.pem", "cert.pem", "key.pem"}
    assert (certs / "key.pem").stat().st_mode & 0o777 == 0o600


def test_certs_prints_how_to_trust_the_ca(tmp_path: Path) -> None:
    r = run("certs", "--dir", str(tmp_path))
    assert r.returncode == 0
    assert "--cacert" in r.stdout and "SSL_CERT_FILE" in r.stdout
    assert "Cursor" in r.stdout and "publicly trusted" in r.stdout


def test_certs_refuses_to_overwrite_without_force(certs: Path) -> None:
    before = (certs / "cert.pem").read_bytes()
    r = run("certs", "--dir", str(certs))
    assert r.returncode == 2 and "--force" in r.stderr
    assert (certs / "cert.pem").read_bytes() == before


def test_certs_force_overwrites(tmp_path: Path) -> None:
    assert run("certs", "--dir", str(tmp_path)).returncode == 0
    before = (tmp_path / "cert.pem").read_bytes()
    assert run("certs", "--dir", str(tmp_path), "--force").returncode == 0
    assert (tmp_path / "cert.pem").read_bytes() != before


def test_check_prints_the_resolved_models() -> None:
    r = run("check", "--config", str(MOCK_CONFIG))
    assert r.returncode == 0, r.stderr
    assert "mock" in r.stdout and "mock/echo" in r.stdout and "OK" in r.stdout


def test_check_fails_on_a_bad_config_naming_the_path(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, timeout: soon}\n"
        "general_settings: {master_key: k}\n"
    )
    r = run("check", "--config", str(f))
    assert r.returncode == 2
    assert f"{f}: model_list[0].litellm_params.timeout: must be a number" in r.stderr


def test_check_lists_unsupported_keys_in_one_warning(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "model_list:\n  - model_name: m\n    litellm_params: {model: mock/x}\n"
        "general_settings: {master_key: k, store_model_in_db: true}\n"
        "litellm_settings: {success_callback: [langfuse]}\n"
    )
    r = run("check", "--config", str(f))
    assert r.returncode == 0
    assert r.stderr.count("not supported yet") == 1 + 2  # the heading and one line per key
    assert (
        "general_settings.store_model_in_db" in r.stderr
        and "litellm_settings.success_callback" in r.stderr
    )


def test_check_names_an_unset_env_var(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "model_list:\n  - model_name: m\n    litellm_params: {model: mock/x}\n"
        "general_settings: {master_key: os.environ/LC_TEST_UNSET_VAR}\n"
    )
    r = run("check", "--config", str(f))
    assert r.returncode == 2 and "LC_TEST_UNSET_VAR is not set" in r.stderr


def test_serve_refuses_without_a_certificate() -> None:
    r = run("serve", "--config", str(MOCK_CONFIG), "--port", str(free_port()))
    assert r.returncode == 2 and "--insecure-http" in r.stderr and "--cert" in r.stderr


def test_serve_names_a_missing_key_file(certs: Path) -> None:
    r = run(
        "serve",
        "--config",
        str(MOCK_CONFIG),
        "--cert",
        str(certs / "cert.pem"),
        "--key",
        str(certs / "nope.pem"),
    )
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        .splitlines()[-1]
        .endswith(f"{certs / 'nope.pem'}: cannot read: No such file or directory")
    )


def test_serve_names_a_mismatched_key(certs: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert run("certs", "--dir", str(other)).returncode == 0
    r = run(
        "serve",
        "--config",
        str(MOCK_CONFIG),
        "--cert",
        str(certs / "cert.pem"),
        "--key",
        str(other / "key.pem"),
    )
    assert r.returncode == 2 and "does not match certificate" in r.stderr


def test_serve_names_an_expired_certificate(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now - dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    r = run(
        "serve",
        "--config",
        str(MOCK_CONFIG),
        "--cert",
        str(tmp_path / "c.pem"),
        "--key",
        str(tmp_path / "k.pem"),
    )
    assert r.returncode == 2 and "expired" in r.stderr


def test_serve_reports_a_bad_config_and_exits_2(tmp_path: Path, certs: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("model_list: []\ngeneral_settings: {master_key: k}\n")
    r = run(
        "serve",
        "--config",
        str(f),
        "--cert",
        str(certs / "cert.pem"),
        "--key",
        str(certs / "key.pem"),
    )
    assert r.returncode == 2 and "model_list" in r.stderr


def _https_get(port: int, ca: Path, path: str) -> bytes:
    ctx = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as s,
    ):
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


def test_serve_over_tls_answers_health_and_exits_cleanly_on_sigterm(certs: Path) -> None:
    with serving("--cert", str(certs / "cert.pem"), "--key", str(certs / "key.pem")) as (
        proc,
        port,
    ):
        reply = _https_get(port, certs / "ca.pem", "/health")
        assert reply.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in reply
        # plain HTTP on the TLS port gets no HTTP answer
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                answer = s.recv(1024)
            except ConnectionResetError:
                answer = b""
        assert not answer.startswith(b"HTTP/")
    assert proc.returncode == 0


def test_insecure_http_warns_that_cursor_will_not_connect() -> None:
    with (
        serving("--insecure-http") as (proc, port),
        socket.create_connection(("127.0.0.1", port), timeout=5) as s,
    ):
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(1024).startswith(b"HTTP/1.1 200")
    assert proc.stderr is not None
    assert "Cursor will not connect" in proc.stderr.read()


def test_no_uvloop_runs_on_asyncio_and_says_so() -> None:
    with (
        serving("--insecure-http", "--no-uvloop") as (proc, port),
        socket.create_connection(("127.0.0.1", port), timeout=5) as s,
    ):
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(1024).startswith(b"HTTP/1.1 200")
    assert proc.stderr is not None
    assert "event loop: asyncio (uvloop disabled)" in proc.stderr.read()


@pytest.mark.parametrize("flag", [[], ["--no-access-log"]])
def test_one_access_line_per_request_unless_turned_off(flag: list[str]) -> None:
    with (
        serving("--insecure-http", *flag) as (proc, port),
        socket.create_connection(("127.0.0.1", port), timeout=5) as s,
    ):
        s.sendall(
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Authorization: Bearer sk-litecursor-dev-key\r\n\r\n"
        )
        assert s.recv(1024).startswith(b"HTTP/1.1 200")
    assert proc.stderr is not None
    lines = [line for line in proc.stderr.read().splitlines() if "litecursor.access" in line]
    assert len(lines) == (0 if flag else 1), lines
    if not flag:  # written straight to stderr, in the format of the other log lines
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO litecursor\.access: "
            r"\w{12} GET /v1/models 200 model=- deployment=- .*",
            lines[0],
        ), lines[0]


def _ask(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_malformed_requests_are_one_short_log_line_each_without_header_values(fmt: str) -> None:
    """50 bytes of garbage, and an `Authorization :` line (space before the colon) carrying
    the master key: no aiohttp traceback, and the key is nowhere in the log."""
    key = b"sk-litecursor-dev-key"
    with serving("--insecure-http", "--log-format", fmt) as (proc, port):
        garbage = _ask(port, b"\x16\x03\x01 not http at all \x00\xff" * 2 + b"\r\n\r\n")
        spaced = _ask(
            port, b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer " + key + b"\r\n\r\n"
        )
        proc.terminate()
        proc.wait(10)
    for answer in (garbage, spaced):
        assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request"), answer
    assert key not in spaced
    assert proc.stderr is not None
    log = proc.stderr.read()
    assert "Traceback" not in log and "aiohttp" not in log and key.decode() not in log
    lines = [line for line in log.splitlines() if "malformed" in line]
    assert len(lines) == 2, log
    for line in lines:
        assert len(line) < 250, line
        if fmt == "json":
            record = json.loads(line)
            assert record["status"] == 400 and record["client"] == "127.0.0.1", record
        else:
            assert " 400 from=127.0.0.1 " in line, line


def _connected_within(port: int, count: int, seconds: float) -> int:
    """How many of `count` connections started at once complete their TCP handshake within
    `seconds` (the accept queue takes what the server has not accepted yet; past its size
    the system drops the attempts, and clients retry 1 s later, then 3 s...)."""
    import select

    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
        pending = set(socks)
        done = 0
        deadline = time.monotonic() + seconds
        while pending and (left := deadline - time.monotonic()) > 0:
            _, writable, _ = select.select([], list(pending), [], left)
            for s in writable:
                pending.discard(s)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    done += 1
        return done
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize(
    ("flag", "expected"), [([], range(600, 601)), (["--backlog", "16"], range(16, 18))]
)
def test_a_burst_of_new_connections_waits_in_the_backlog(flag: list[str], expected: range) -> None:
    """600 connections arrive while the server cannot accept any (stopped): the default
    backlog holds them all, where aiohttp's 128 dropped most; --backlog sets it."""
    import signal

    with serving("--insecure-http", *flag) as (proc, port):
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            connected = _connected_within(port, 600, 2.0)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
    assert connected in expected, connected
