"""Automatic certificates against a real ACME server: Debian's pebble on loopback.

The gateway's pieces run in the test's event loop (the serving port with its swappable TLS, the
plain-HTTP challenge listener, the certificate manager); `test_ops_cli.py` runs the same through
`litecursor serve` as a process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx2 as httpx
import pytest
from aiohttp import web
from cryptography import x509
from openai import AsyncOpenAI

from litecursor.ops.acme_settings import AcmeSettings
from litecursor.ops.certificates import CertificateManager, placeholder_certificate
from litecursor.ops.challenges import ChallengeBoard, http_app
from litecursor.ops.serving_tls import ServingTLS
from litecursor.server import create_app

from .harness import MASTER_KEY, make_config, sse_payloads, text_of
from .pebble import Pebble, free_port, require_pebble, run_pebble

DOMAIN = "localhost"  # pebble's validator resolves it to loopback like any client here


@dataclass
class Clock:
    """The manager's wall clock, movable: pebble's certificates last five years."""

    offset: dt.timedelta = field(default_factory=dt.timedelta)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@dataclass
class Site:
    pebble: Pebble
    manager: CertificateManager
    serving: ServingTLS
    port: int
    clock: Clock
    state: Path

    def client_ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=self.pebble.root_pem().decode())
        return ctx

    async def served_serial(self) -> int:
        """The serial of the certificate a new handshake gets."""
        _, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.client_ssl(), server_hostname=DOMAIN
        )
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        return x509.load_der_x509_certificate(der).serial_number

    async def wait_for_certificate(self, not_serial: str | None = None, timeout: float = 30) -> str:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            held = self.manager.held
            if held is not None and held.serial != not_serial:
                return held.serial
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"no certificate in {timeout}s; pebble said:\n{self.pebble.output()[-3000:]}"
                )
            await asyncio.sleep(0.05)

    def orders_placed(self) -> int:
        return self.pebble.output().count("POST /order-plz")


@asynccontextmanager
async def acme_site(
    tmp: Path,
    *,
    challenge: str,
    state: Path | None = None,
    pebble: Pebble | None = None,
    clock: Clock | None = None,
    http_listening: bool | None = None,
    backoff: tuple[float, ...] = (60.0,),
) -> AsyncIterator[Site]:
    """The gateway (mock model, slow enough to hold a stream open) on a TLS port whose
    certificate comes from pebble, answering `challenge` ("http-01" or "tls-alpn-01")."""
    require_pebble()
    tls_port, http_port = free_port(), free_port()
    async with _pebble(tmp, pebble, http_port, tls_port) as pb:
        domains = (DOMAIN,)
        serving = ServingTLS.from_pem(*placeholder_certificate(domains))
        listens = challenge == "http-01" if http_listening is None else http_listening
        board = ChallengeBoard(
            serving if challenge == "tls-alpn-01" else None, http_listening=listens
        )
        runners: list[web.AppRunner] = []
        if challenge == "http-01" and http_listening is None:
            runner = web.AppRunner(http_app(board, pb.tls_port))
            await runner.setup()
            await web.TCPSite(runner, "localhost", pb.http_port).start()
            runners.append(runner)
        config = make_config(
            [{"model_name": "mock", "litellm_params": {"model": "mock/echo", "mock_delay": 0.05}}]
        )
        runner = web.AppRunner(create_app(config), handler_cancellation=True, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", pb.tls_port, ssl_context=serving.listening).start()
        runners.append(runner)
        clock = clock or Clock()
        settings = AcmeSettings(domains, pb.directory, "ops@example.com", str(pb.ca_bundle))
        state = state or tmp / "state"
        manager = CertificateManager(
            settings, state, board, serving, clock=clock, backoff_schedule=backoff
        )
        manager.load_stored()
        task = asyncio.create_task(manager.run())
        try:
            yield Site(pb, manager, serving, pb.tls_port, clock, state)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for r in runners:
                await r.cleanup()


@asynccontextmanager
async def _pebble(
    tmp: Path, given: Pebble | None, http_port: int, tls_port: int
) -> AsyncIterator[Pebble]:
    if given is not None:
        yield given
        return
    with run_pebble(tmp, http_port=http_port, tls_port=tls_port) as pb:
        yield pb


async def test_first_issuance_over_http01_and_the_openai_sdk_connects(tmp_path: Path) -> None:
    async with acme_site(tmp_path, challenge="http-01") as site:
        serial = await site.wait_for_certificate()
        assert await site.served_serial() == int(serial, 16)
        client = AsyncOpenAI(
            api_key=MASTER_KEY,
            base_url=f"https://{DOMAIN}:{site.port}/v1",
            http_client=httpx.AsyncClient(verify=site.client_ssl(), timeout=30),
            max_retries=0,
        )
        async with client:
            reply = await client.chat.completions.create(
                model="mock", messages=[{"role": "user", "content": "trusted at last"}]
            )
        assert reply.choices[0].message.content == "trusted at last"
        # the state directory holds the account and the certificate; keys are private
        keys = [p for p in site.state.rglob("*") if p.name in ("account.key", "privkey.pem")]
        assert len(keys) == 2
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in keys)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_tls_alpn01_is_answered_on_the_serving_port(
    tmp_path: Path, loop: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No plain-HTTP listener at all: pebble validates over TLS on the serving port, which
    tells its `acme-tls/1` handshake apart from a client's (see ops/serving_tls.py)."""

    async def scenario() -> None:
        async with acme_site(tmp_path, challenge="tls-alpn-01") as site:
            serial = await site.wait_for_certificate()
            assert await site.served_serial() == int(serial, 16)

    caplog.set_level(logging.INFO, logger="litecursor.acme")
    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        uvloop.run(scenario())
    else:
        asyncio.run(scenario())
    assert "acme: localhost: answering the tls-alpn-01 challenge" in caplog.messages


async def test_a_restart_reuses_the_stored_certificate_with_no_new_order(tmp_path: Path) -> None:
    require_pebble()
    with run_pebble(tmp_path, http_port=free_port(), tls_port=free_port()) as pb:
        async with acme_site(tmp_path, challenge="http-01", pebble=pb) as first:
            serial = await first.wait_for_certificate()
            orders = first.orders_placed()
        assert orders == 1
        async with acme_site(tmp_path, challenge="http-01", pebble=pb, state=first.state) as second:
            assert second.manager.held is not None and second.manager.held.serial == serial
            assert await second.served_serial() == int(serial, 16)
            await asyncio.sleep(0.5)  # the loop has run and found nothing due
            assert second.orders_placed() == orders


async def test_renewal_swaps_the_certificate_for_new_handshakes_while_an_open_stream_finishes(
    tmp_path: Path,
) -> None:
    async with acme_site(tmp_path, challenge="http-01") as site:
        first = await site.wait_for_certificate()
        words = " ".join(f"w{i}" for i in range(80))  # 80 chunks, 50 ms apart: 4 s of stream
        connector = aiohttp.TCPConnector(ssl=site.client_ssl())
        async with aiohttp.ClientSession(connector=connector) as session:
            resp = await session.post(
                f"https://{DOMAIN}:{site.port}/cursor/chat/completions",
                json={
                    "model": "mock",
                    "stream": True,
                    "messages": [{"role": "user", "content": words}],
                },
                headers={"Authorization": f"Bearer {MASTER_KEY}"},
            )
            assert resp.status == 200
            head = await resp.content.readuntil(b"\n\n")  # the stream is open
            assert resp.connection is not None and resp.connection.transport is not None
            old_peer = resp.connection.transport.get_extra_info("ssl_object").getpeercert(True)

            # two thirds of the lifetime later: renewal is due; back to now once renewed
            site.clock.offset = dt.timedelta(days=4 * 365)
            site.manager.on_installed = lambda held: setattr(site.clock, "offset", dt.timedelta())
            site.manager.wake()
            second = await site.wait_for_certificate(not_serial=first)
            assert await site.served_serial() == int(second, 16)

            rest = await resp.read()
            resp.release()
        payloads = sse_payloads(head + rest)
        assert text_of(payloads) == words and payloads[-1] == "[DONE]"
        assert x509.load_der_x509_certificate(old_peer).serial_number == int(first, 16)
        assert site.orders_placed() == 2


async def test_a_failed_validation_backs_off_with_one_line_per_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """HTTP-01 chosen but nothing listens on the CA's port: the order fails, is logged in
    readable lines, and the next try waits (here 0.2 s, then 0.4 s)."""
    caplog.set_level(logging.INFO, logger="litecursor.acme")
    async with acme_site(
        tmp_path, challenge="http-01", http_listening=True, backoff=(0.2, 0.4)
    ) as site:
        # no listener was started: answering would need one
        for _ in range(200):
            if site.manager.failures >= 2:
                break
            await asyncio.sleep(0.05)
        assert site.manager.failures >= 2 and site.manager.held is None
    lines = [r.getMessage() for r in caplog.records if r.name == "litecursor.acme"]
    assert any(line.startswith("acme: ordering a certificate for localhost") for line in lines)
    assert any("answering the http-01 challenge" in line for line in lines)
    failed = [line for line in lines if "validation failed" in line]
    assert failed and "localhost: http-01 failed" in failed[0], lines
    assert "acme: localhost: attempt 1 failed; next try in 0 s" in lines
    assert all("\n" not in line for line in lines)


# --- `litecursor serve --domain` as a process ---------------------------------------------------


def _acme_args(pb: Pebble, state: Path) -> list[str]:
    return [
        "--domain", DOMAIN, "--acme-email", "ops@example.com",
        "--acme-directory", pb.directory, "--acme-ca-bundle", str(pb.ca_bundle),
        "--http-port", str(pb.http_port), "--state-dir", str(state),
    ]  # fmt: skip


def _serial_over(port: int, root_pem: bytes) -> int:
    import socket

    ctx = ssl.create_default_context(cadata=root_pem.decode())
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        ctx.wrap_socket(raw, server_hostname=DOMAIN) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_serve_with_domain_gets_a_certificate_redirects_http_and_a_restart_reuses_it(
    tmp_path: Path,
) -> None:
    from .processes import http_request, serve

    require_pebble()
    tls_port = free_port()
    state = tmp_path / "state"
    with run_pebble(tmp_path, http_port=free_port(), tls_port=tls_port) as pb:
        with serve(tmp_path, *_acme_args(pb, state), port=tls_port) as s:
            installed = s.wait_for(r"acme: installed the new certificate localhost \(serial (\w+),")
            serial = int(installed.group(1), 16)
            root = pb.root_pem()
            assert _serial_over(s.port, root) == serial
            # the plain-HTTP port sends everyone else to HTTPS, path and query kept
            reply = http_request(
                pb.http_port,
                b"GET /v1/models?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            assert reply.startswith(b"HTTP/1.1 308")
            assert f"Location: https://localhost:{tls_port}/v1/models?x=1\r\n".encode() in reply
        assert s.proc.returncode == 0
        with serve(tmp_path, *_acme_args(pb, state), port=tls_port) as again:
            again.wait_for(r"acme: using the stored certificate localhost")
            assert _serial_over(again.port, root) == serial
            assert "ordering a certificate" not in again.text()
        assert pb.output().count("POST /order-plz") == 1


def test_workers_serve_the_certificate_their_supervisor_obtains(tmp_path: Path) -> None:
    from .processes import serve

    require_pebble()
    tls_port = free_port()
    with run_pebble(tmp_path, http_port=free_port(), tls_port=tls_port) as pb:
        args = [*_acme_args(pb, tmp_path / "state"), "--workers", "2"]
        with serve(tmp_path, *args, port=tls_port) as s:
            installed = s.wait_for(r"acme: installed the new certificate localhost \(serial (\w+),")
            serial = int(installed.group(1), 16)
            # a worker that started before the certificate was stored installs it when told
            # (SIGUSR1) or when it sees the files change; one that started after loads it
            root = pb.root_pem()
            deadline = time.monotonic() + 20
            while True:
                try:  # ten handshakes: whichever worker the kernel picks
                    if all(_serial_over(s.port, root) == serial for _ in range(10)):
                        break
                except ssl.SSLCertVerificationError:  # the placeholder, still
                    pass
                assert time.monotonic() < deadline, s.text()[-3000:]
                time.sleep(0.1)
