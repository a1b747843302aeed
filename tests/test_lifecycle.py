"""`litecursor serve` as a process: sd_notify, reload (SIGHUP and POST /admin/reload), graceful shutdown, trusted proxies."""

from __future__ import annotations

import asyncio
import signal
import ssl
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from litecursor.tls import DevCerts, generate_dev_certs

from .harness import sse_payloads, text_of
from .processes import MASTER, Served, get, serve, write_config

WORDS = " ".join(f"w{i}" for i in range(40))


def tls_args(certs: DevCerts) -> list[str]:
    return ["--cert", str(certs.cert), "--key", str(certs.key)]


def models(served: Served, tls: ssl.SSLContext | None = None) -> list[str]:
    reply = get(served.port, "/v1/models", tls=tls)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    return [m["id"] for m in orjson.loads(reply.split(b"\r\n\r\n", 1)[1])["data"]]


async def open_stream(
    session: aiohttp.ClientSession, base: str, words: str = WORDS, model: str = "mock"
) -> aiohttp.ClientResponse:
    resp = await session.post(
        f"{base}/v1/chat/completions",
        json={"model": model, "stream": True, "messages": [{"role": "user", "content": words}]},
        headers={"Authorization": f"Bearer {MASTER}"},
    )
    assert resp.status == 200
    return resp


# --- sd_notify ---------------------------------------------------------------------------------


def test_ready_watchdog_reloading_and_stopping_reach_the_notify_socket(
    tmp_path: Path, dev_certs: DevCerts
) -> None:
    with serve(tmp_path, *tls_args(dev_certs), notify=True, env={"WATCHDOG_USEC": "400000"}) as s:
        ready = s.wait_message("READY")
        assert ready["STATUS"].startswith("serving 1 model(s) on https://127.0.0.1:")
        assert "WATCHDOG" in s.wait_message("WATCHDOG", timeout=2)
        s.send(signal.SIGHUP)
        reloading = s.wait_message("RELOADING")
        assert (
            int(reloading["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        )
        assert s.wait_message("READY")["STATUS"].startswith("serving 1 model(s); reloaded")
        s.send(signal.SIGTERM)
        assert "STOPPING" in s.wait_message("STOPPING")
        assert s.wait_exit() == 0


# --- reload ------------------------------------------------------------------------------------


def test_a_bad_config_on_sighup_is_refused_and_the_old_one_keeps_serving(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", "alpha")
    with serve(tmp_path, "--insecure-http", config=config) as s:
        assert models(s) == ["alpha"]
        config.write_text(config.read_text().replace("mock/echo", "nope/x"))
        s.send(signal.SIGHUP)
        refused = s.wait_for(r"reload refused: (.+); still serving the previous config")
        assert f"{config}: model_list[0].litellm_params.model" in refused.group(1)
        assert models(s) == ["alpha"]
        write_config(config, "beta")
        mark = len(s.text())
        s.send(signal.SIGHUP)
        s.wait_for(r"reloaded .*1 model\(s\)", after=mark)
        assert models(s) == ["beta"]


async def test_a_stream_in_flight_finishes_on_the_old_config_across_a_reload(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "c.yaml", "mock", delay=0.05)  # 40 words: 2 s
    with serve(tmp_path, "--insecure-http", config=config) as s:
        async with aiohttp.ClientSession() as session:
            resp = await open_stream(session, f"http://127.0.0.1:{s.port}")
            first = await resp.content.readuntil(b"\n\n")
            write_config(config, "renamed")
            s.send(signal.SIGHUP)
            s.wait_for(r"reloaded ")
            assert models(s) == ["renamed"]  # new connections: the new config
            rest = await resp.read()
        payloads = sse_payloads(first + rest)
        assert text_of(payloads) == WORDS and payloads[-1] == "[DONE]"


def test_admin_reload_needs_the_master_key_and_says_why_it_refuses(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", "alpha")

    def post(key: str) -> tuple[int, dict[str, object]]:
        raw = (
            f"POST /admin/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Authorization: Bearer {key}\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        from .processes import http_request

        head, _, body = http_request(s.port, raw).partition(b"\r\n\r\n")
        return int(head.split()[1]), orjson.loads(body)

    with serve(tmp_path, "--insecure-http", config=config) as s:
        assert post("wrong")[0] == 401
        write_config(config, "alpha", "beta")
        status, body = post(MASTER)
        assert status == 200 and body["reloaded"] is True and body["models"] == 2
        config.write_text("model_list: oops\n")
        status, body = post(MASTER)
        assert status == 422
        error = body["error"]
        assert isinstance(error, dict) and error["code"] == "reload_refused"
        assert str(config) in str(error["message"])
        assert models(s) == ["alpha", "beta"]


def _served_serial(port: int) -> int:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    import socket

    from cryptography import x509

    with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _replace_files(target: DevCerts, source: DevCerts) -> None:
    # as certbot does: new files renamed into place
    for name in ("cert", "key"):
        new = Path(str(getattr(target, name)) + ".new")
        new.write_bytes(getattr(source, name).read_bytes())
        new.replace(getattr(target, name))


def _serial(certs: DevCerts) -> int:
    from cryptography import x509

    return x509.load_pem_x509_certificates(certs.cert.read_bytes())[0].serial_number


def test_renewed_certificate_files_are_picked_up_without_a_signal(tmp_path: Path) -> None:
    live = generate_dev_certs(tmp_path / "live", ["localhost"])
    renewed = generate_dev_certs(tmp_path / "renewed", ["localhost"])
    with serve(tmp_path, *tls_args(live)) as s:
        assert _served_serial(s.port) == _serial(live)
        want = _serial(renewed)
        _replace_files(live, renewed)
        s.wait_for(r"certificate files changed: installed certificate", timeout=10)
        assert _served_serial(s.port) == want


def test_a_bad_certificate_on_sighup_is_refused_and_the_old_one_keeps_serving(
    tmp_path: Path,
) -> None:
    live = generate_dev_certs(tmp_path / "live", ["localhost"])
    other = generate_dev_certs(tmp_path / "other", ["localhost"])
    with serve(tmp_path, *tls_args(live)) as s:
        before = _serial(live)
        live.key.write_bytes(other.key.read_bytes())  # a key that is not the certificate's
        s.send(signal.SIGHUP)
        s.wait_for(r"reload refused: .*does not match certificate")
        assert _served_serial(s.port) == before


# --- graceful shutdown -------------------------------------------------------------------------


async def test_sigterm_mid_stream_lets_it_finish_logs_it_and_exits_0(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", "mock", delay=0.05)
    with serve(tmp_path, "--insecure-http", config=config) as s:
        async with aiohttp.ClientSession() as session:
            resp = await open_stream(session, f"http://127.0.0.1:{s.port}")
            first = await resp.content.readuntil(b"\n\n")
            s.send(signal.SIGTERM)
            s.wait_for(r"stopping: no new connections; 1 request\(s\) in flight")
            with pytest.raises(aiohttp.ClientConnectionError):  # no longer accepting
                await session.get(f"http://127.0.0.1:{s.port}/health")
            rest = await resp.read()
        payloads = sse_payloads(first + rest)
        assert text_of(payloads) == WORDS and payloads[-1] == "[DONE]"
        assert await asyncio.to_thread(s.wait_exit) == 0
        log = s.text()
        # the request's log line was written before the process ended
        assert "POST /v1/chat/completions 200 model=mock" in log and log.rstrip().endswith(
            "stopped"
        )


async def test_a_stream_outliving_the_graceful_timeout_ends_with_an_error_chunk(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "c.yaml", "mock", delay=0.2)  # 40 words: 8 s
    with serve(tmp_path, "--insecure-http", "--graceful-timeout", "0.5", config=config) as s:
        async with aiohttp.ClientSession() as session:
            resp = await open_stream(session, f"http://127.0.0.1:{s.port}")
            started = time.monotonic()
            s.send(signal.SIGTERM)
            raw = await resp.read()
        assert time.monotonic() - started < 4
        payloads = sse_payloads(raw)
        assert payloads[-1] != "[DONE]"
        assert payloads[-1]["error"]["code"] == "shutting_down"
        assert 0 < len(text_of(payloads).split()) < 40
        assert await asyncio.to_thread(s.wait_exit) == 0
        assert "ended 1 request(s) still running with an error chunk" in s.text()


async def test_a_second_sigterm_ends_at_once(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", "mock", delay=0.2)
    with serve(tmp_path, "--insecure-http", config=config) as s:  # 30 s of grace
        async with aiohttp.ClientSession() as session:
            resp = await open_stream(session, f"http://127.0.0.1:{s.port}")
            await resp.content.readuntil(b"\n\n")
            s.send(signal.SIGTERM)
            s.wait_for("stopping: no new connections")
            started = time.monotonic()
            s.send(signal.SIGTERM)
            raw = await resp.read()
            assert await asyncio.to_thread(s.wait_exit) == 0
        assert time.monotonic() - started < 3
        assert sse_payloads(raw)[-1]["error"]["code"] == "shutting_down"
        assert "second stop signal" in s.text()


# --- behind a TLS-terminating proxy --------------------------------------------------------------


@pytest.mark.parametrize(("trusted", "logged"), [(True, "203.0.113.9"), (False, "127.0.0.1")])
def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    tmp_path: Path, trusted: bool, logged: str
) -> None:
    args = ["--insecure-http", *(["--trusted-proxy", "127.0.0.1"] if trusted else [])]
    with serve(tmp_path, *args) as s:
        reply = get(
            s.port,
            "/v1/models",
            headers="X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n",
        )
        assert reply.startswith(b"HTTP/1.1 200")
        s.wait_for(rf"GET /v1/models 200 .* client={logged}\b")


def test_sigusr1_installs_the_certificate_files_at_once(tmp_path: Path) -> None:
    """What a --workers supervisor sends its workers after it stored a new certificate."""
    live = generate_dev_certs(tmp_path / "live", ["localhost"])
    renewed = generate_dev_certs(tmp_path / "renewed", ["localhost"])
    with serve(tmp_path, *tls_args(live)) as s:
        _replace_files(live, renewed)
        s.send(signal.SIGUSR1)
        s.wait_for(r"INFO litecursor: installed certificate", timeout=10)
        assert _served_serial(s.port) == _serial(renewed)


def test_under_systemd_or_docker_the_database_lives_in_the_state_directory(tmp_path: Path) -> None:
    """systemd's StateDirectory= (and the container image) set $STATE_DIRECTORY: the config's
    folder is read-only to the service there, so SQLite goes to the state directory."""
    state = tmp_path / "state"
    state.mkdir()
    config = write_config(tmp_path / "c.yaml", "mock")
    with serve(tmp_path, "--insecure-http", config=config, env={"STATE_DIRECTORY": str(state)}):
        pass
    assert (state / "litecursor.db").exists()
    assert not (tmp_path / "litecursor.db").exists()


def test_a_taken_port_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    from .processes import ROOT

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "litecursor", "serve", "--config",
             str(write_config(tmp_path / "c.yaml", "mock")), "--insecure-http",
             "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True, text=True, timeout=30, cwd=ROOT,
        )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.splitlines()[-1] == "litecursor: error: cannot listen: Address already in use"
    assert "stopping" not in r.stderr
