"""ACME Renewal Information (RFC 9773): a CA that suggests renewing early gets a renewal.

Debian's pebble (2.4) has no ARI, so the CA here is a small HTTPS endpoint on loopback that
serves a directory with `renewalInfo`, answers the renewal-information request the way RFC
9773 specifies, and refuses orders (the test only needs to see one placed).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
import trustme
from aiohttp import web
from cryptography import x509

from litecursor.ops.acme_settings import AcmeSettings
from litecursor.ops.certificates import CertificateManager
from litecursor.ops.challenges import ChallengeBoard
from litecursor.ops.renewal import backoff, renewal_due
from litecursor.ops.store import AcmeStore


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def cert_id(leaf: x509.Certificate) -> str:
    """RFC 9773 section 4.1: base64url(AKI keyIdentifier) "." base64url(DER serial)."""
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    serial = leaf.serial_number
    return f"{b64url(aki.key_identifier)}.{b64url(serial.to_bytes((serial.bit_length() + 8) // 8, 'big'))}"


@asynccontextmanager
async def ari_ca(
    tmp: Path, window: tuple[dt.datetime, dt.datetime]
) -> AsyncIterator[tuple[str, Path, list[str]]]:
    """(directory URL, CA bundle trusting it, the paths it was asked for)."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    bundle = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    asked: list[str] = []
    base = ""

    async def directory(request: web.Request) -> web.Response:
        body = {
            "newNonce": f"{base}/nonce", "newAccount": f"{base}/account",
            "newOrder": f"{base}/order", "revokeCert": f"{base}/revoke",
            "renewalInfo": f"{base}/ari",
        }  # fmt: skip
        return web.json_response(body)

    async def nonce(request: web.Request) -> web.Response:
        return web.Response(headers={"Replay-Nonce": b64url(b"nonce-" + str(len(asked)).encode())})

    async def renewal_info(request: web.Request) -> web.Response:
        asked.append(request.path)
        start, end = window
        body = {"suggestedWindow": {"start": start.isoformat(), "end": end.isoformat()}}
        return web.json_response(body, headers={"Retry-After": "21600"})

    async def refuse(request: web.Request) -> web.Response:
        asked.append(request.path)
        problem = {
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "detail": "a test CA: no orders",
        }
        return web.Response(
            body=orjson.dumps(problem), status=400, content_type="application/problem+json",
            headers={"Replay-Nonce": b64url(b"n2")},
        )  # fmt: skip

    app = web.Application()
    app.router.add_get("/dir", directory)
    app.router.add_route("*", "/nonce", nonce)
    app.router.add_get("/ari/{id}", renewal_info)
    app.router.add_post("/{what:account|order}", refuse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    site = web.SockSite(runner, sock, ssl_context=server_ctx)
    await site.start()
    base = f"https://127.0.0.1:{port}"
    try:
        yield f"{base}/dir", bundle, asked
    finally:
        await runner.cleanup()


async def test_an_early_renewal_window_from_the_ca_starts_an_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="litecursor.acme")
    # a certificate with most of its life ahead: not due by the third-of-lifetime rule
    issuer = trustme.CA()
    now = dt.datetime.now(dt.UTC)
    leaf = issuer.issue_cert(
        "gw.example.com",
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=89),
    )
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    window = (now - dt.timedelta(hours=2), now - dt.timedelta(hours=1))  # the CA says: now
    async with ari_ca(tmp_path, window) as (directory, bundle, asked):
        settings = AcmeSettings(("gw.example.com",), directory, None, str(bundle))
        state = tmp_path / "state"
        store = AcmeStore(state, directory, settings.domains)
        store.save(b"".join(p.bytes() for p in leaf.cert_chain_pems), leaf.private_key_pem.bytes())
        store.prepare()
        store.account_info.write_bytes(
            orjson.dumps({"uri": "https://127.0.0.1/acct/1", "directory": directory})
        )
        manager = CertificateManager(
            settings, state, ChallengeBoard(), None, backoff_schedule=(3600.0,)
        )
        held = manager.load_stored()
        assert held is not None and now < renewal_due(held.not_before, held.not_after)
        task = asyncio.create_task(manager.run())
        try:
            for _ in range(200):
                if manager.failures:
                    break
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    # it asked about this very certificate, then ordered (and this CA refused, as it does)
    assert asked[0] == f"/ari/{cert_id(cert)}"
    assert asked[1] == "/order"
    suggested = [m for m in caplog.messages if "the CA suggests renewing gw.example.com at" in m]
    assert suggested, caplog.messages
    assert any(
        m.startswith("acme: ordering a certificate for gw.example.com") for m in caplog.messages
    )
    assert manager.failures == 1


def test_renewal_is_due_at_a_third_of_the_lifetime_left_or_earlier_if_the_ca_says() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=90)
    assert renewal_due(start, end) == end - dt.timedelta(days=30)
    early = start + dt.timedelta(days=10)
    assert renewal_due(start, end, early) == early
    late = end - dt.timedelta(days=1)  # a CA suggesting later than our rule: ours stands
    assert renewal_due(start, end, late) == end - dt.timedelta(days=30)


def test_backoff_grows_then_stays() -> None:
    assert [backoff(n) for n in (1, 2, 3, 5, 7, 8, 50)] == [60, 300, 900, 3600, 21600, 21600, 21600]
