"""TLS for the gateway's server: dev certificates, checked contexts and real loopback handshakes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import ssl
import stat
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from litecursor import tls
from litecursor.tls import CertificateError, DevCerts

# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevCerts:
    return tls.generate_dev_certs(tmp_path_factory.mktemp("dev"), [])


@pytest.fixture(scope="module")
def other_dev(tmp_path_factory: pytest.TempPathFactory) -> DevCerts:
    return tls.generate_dev_certs(tmp_path_factory.mktemp("other"), [])


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello over tls")


@contextlib.asynccontextmanager
async def serving(context: ssl.SSLContext) -> AsyncIterator[int]:
    """An aiohttp HTTPS server on 127.0.0.1 with ``context``; yields its port."""
    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def handshake(
    port: int, context: ssl.SSLContext, server_hostname: str = "127.0.0.1"
) -> ssl.SSLObject:
    """Complete a TLS handshake with the server and return the client's view of it."""
    _reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_hostname),
        timeout=10,
    )
    ssl_object = writer.get_extra_info("ssl_object")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ssl_object


def leaf_of(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def write_self_signed(
    directory: Path, not_before: dt.datetime, not_after: dt.datetime
) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "self.pem", directory / "self-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def write_encrypted_key(
    dev: DevCerts, directory: Path, password: bytes, fmt: serialization.PrivateFormat
) -> Path:
    key = serialization.load_pem_private_key(dev.key.read_bytes(), None)
    path = directory / "encrypted-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, fmt, serialization.BestAvailableEncryption(password)
        )
    )
    return path


def old_tls_context(version: ssl.TLSVersion, server: bool) -> ssl.SSLContext:
    """A context pinned to an old TLS version, with OpenSSL's policy relaxed so it may try."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = version
        context.maximum_version = version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if not server:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def assert_one_line_about(err: CertificateError, path: Path, *words: str) -> None:
    message = str(err)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for word in words:
        assert word in message


# --- dev certificate generation -----------------------------------------------------------------


def test_generate_writes_ca_cert_and_key_in_the_directory(tmp_path: Path) -> None:
    certs = tls.generate_dev_certs(tmp_path, [])
    assert certs == DevCerts(
        ca=tmp_path / "ca.pem", cert=tmp_path / "cert.pem", key=tmp_path / "key.pem"
    )
    for path in certs:
        assert path.is_file() and path.stat().st_size > 0


def test_generate_creates_missing_directories(tmp_path: Path) -> None:
    certs = tls.generate_dev_certs(tmp_path / "a" / "b", ["localhost"])
    assert certs.key.is_file()


def test_private_key_file_has_mode_0600(dev: DevCerts) -> None:
    assert stat.S_IMODE(dev.key.stat().st_mode) == 0o600


def test_private_key_is_created_with_mode_0600_not_chmodded_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: dict[str, int] = {}
    real_open = os.open

    def recording_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        opened[os.fspath(path)] = mode
        return real_open(path, flags, mode)

    def no_chmod(*args: object, **kwargs: object) -> None:
        raise AssertionError("key permissions must be set at creation")

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "chmod", no_chmod)
    certs = tls.generate_dev_certs(tmp_path, [])
    assert opened[os.fspath(certs.key)] == 0o600


def test_cert_pem_is_the_leaf_followed_by_its_chain(dev: DevCerts) -> None:
    chain = x509.load_pem_x509_certificates(dev.cert.read_bytes())
    root = x509.load_pem_x509_certificate(dev.ca.read_bytes())
    assert len(chain) == 2
    leaf, intermediate = chain
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)


def test_generated_key_belongs_to_the_leaf(dev: DevCerts) -> None:
    assert tls.check_certificate(dev.cert, dev.key) == leaf_of(dev.cert)


def test_default_hosts_are_localhost_and_loopback_ips(dev: DevCerts) -> None:
    san = leaf_of(dev.cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }


def test_given_hosts_become_dns_and_ip_alt_names(tmp_path: Path) -> None:
    certs = tls.generate_dev_certs(tmp_path, ["gw.internal.test", "10.1.2.3", "gw.internal.test"])
    san = leaf_of(certs.cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gw.internal.test"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3")]


def test_leaf_is_valid_now_for_about_a_year(dev: DevCerts) -> None:
    leaf = leaf_of(dev.cert)
    now = dt.datetime.now(dt.UTC)
    assert leaf.not_valid_before_utc <= now
    # Apple clients refuse server certificates valid for more than 825 days in total.
    assert dt.timedelta(days=360) <= leaf.not_valid_after_utc - now <= dt.timedelta(days=366)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=398)


def test_refuses_to_overwrite_existing_files_without_force(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("operator's own certificate")
    with pytest.raises(FileExistsError) as info:
        tls.generate_dev_certs(tmp_path, [])
    assert str(tmp_path / "cert.pem") in str(info.value)
    assert (tmp_path / "cert.pem").read_text() == "operator's own certificate"
    assert not (tmp_path / "key.pem").exists()
    assert not (tmp_path / "ca.pem").exists()


def test_force_replaces_all_files_and_key_is_still_0600(tmp_path: Path) -> None:
    first = tls.generate_dev_certs(tmp_path, [])
    old = {path: path.read_bytes() for path in first}
    first.key.chmod(0o644)
    second = tls.generate_dev_certs(tmp_path, [], force=True)
    assert second == first
    for path in second:
        assert path.read_bytes() != old[path]
    assert stat.S_IMODE(second.key.stat().st_mode) == 0o600
    tls.check_certificate(second.cert, second.key)


# --- real handshakes on loopback ----------------------------------------------------------------


async def test_client_trusting_dev_ca_gets_https_response(dev: DevCerts) -> None:
    async with (
        serving(tls.server_context(dev.cert, dev.key)) as port,
        aiohttp.ClientSession() as session,
        session.get(f"https://127.0.0.1:{port}/", ssl=tls.client_context(dev.ca)) as response,
    ):
        assert response.status == 200
        assert await response.text() == "hello over tls"


async def test_client_not_trusting_dev_ca_rejects_the_server(dev: DevCerts) -> None:
    async with (
        serving(tls.server_context(dev.cert, dev.key)) as port,
        aiohttp.ClientSession() as session,
    ):
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(f"https://127.0.0.1:{port}/", ssl=tls.client_context())


async def test_certificate_verifies_for_localhost_and_not_other_names(dev: DevCerts) -> None:
    client = tls.client_context(dev.ca)
    async with serving(tls.server_context(dev.cert, dev.key)) as port:
        ssl_object = await handshake(port, client, server_hostname="localhost")
        assert ssl_object.getpeercert() is not None
        with pytest.raises(ssl.SSLCertVerificationError):
            await handshake(port, client, server_hostname="not-this-host.test")


async def test_alpn_negotiates_http_1_1(dev: DevCerts) -> None:
    async with serving(tls.server_context(dev.cert, dev.key)) as port:
        ssl_object = await handshake(port, tls.client_context(dev.ca))
    assert ssl_object.selected_alpn_protocol() == "http/1.1"


async def test_tls_1_2_client_gets_an_ecdhe_aead_cipher(dev: DevCerts) -> None:
    client = tls.client_context(dev.ca)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    async with serving(tls.server_context(dev.cert, dev.key)) as port:
        ssl_object = await handshake(port, client)
    assert ssl_object.version() == "TLSv1.2"
    cipher = ssl_object.cipher()
    assert cipher is not None
    name = cipher[0]
    assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name)


async def test_tls_1_2_client_offering_only_cbc_ciphers_is_refused(dev: DevCerts) -> None:
    client = tls.client_context(dev.ca)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers(
        "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256"
    )
    async with serving(tls.server_context(dev.cert, dev.key)) as port:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await handshake(port, client)


async def test_tls_1_1_client_is_refused(dev: DevCerts) -> None:
    context = tls.server_context(dev.cert, dev.key)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    old_client = old_tls_context(ssl.TLSVersion.TLSv1_1, server=False)
    # First prove this OpenSSL can speak TLS 1.1 at all, so the refusal below is our server's.
    permissive = old_tls_context(ssl.TLSVersion.TLSv1_1, server=True)
    permissive.load_cert_chain(dev.cert, dev.key)
    try:
        async with serving(permissive) as port:
            assert (await handshake(port, old_client)).version() == "TLSv1.1"
    except (ssl.SSLError, ConnectionError):
        return  # TLS 1.1 is compiled out or forbidden by policy; minimum_version checked above
    async with serving(context) as port:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await handshake(port, old_client)


async def test_plain_http_to_the_tls_port_gets_no_http_response(dev: DevCerts) -> None:
    async with serving(tls.server_context(dev.cert, dev.key)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        received = b""
        with contextlib.suppress(ConnectionError):
            received = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    assert b"HTTP/1." not in received


async def test_encrypted_key_with_right_password_serves_https(
    dev: DevCerts, tmp_path: Path
) -> None:
    key = write_encrypted_key(dev, tmp_path, b"s3cret", serialization.PrivateFormat.PKCS8)
    async with serving(tls.server_context(dev.cert, key, password="s3cret")) as port:
        ssl_object = await handshake(port, tls.client_context(dev.ca))
    assert ssl_object.version() in {"TLSv1.2", "TLSv1.3"}


async def test_reload_serves_the_new_certificate_to_new_connections(
    dev: DevCerts, other_dev: DevCerts
) -> None:
    context = tls.server_context(dev.cert, dev.key)
    async with serving(context) as port:
        before = await handshake(port, tls.client_context(dev.ca))
        tls.reload_certificates(context, other_dev.cert, other_dev.key)
        after = await handshake(port, tls.client_context(other_dev.ca))
    assert before.getpeercert(binary_form=True) == leaf_of(dev.cert).public_bytes(
        serialization.Encoding.DER
    )
    assert after.getpeercert(binary_form=True) == leaf_of(other_dev.cert).public_bytes(
        serialization.Encoding.DER
    )


async def test_failed_reload_keeps_serving_the_old_certificate(
    dev: DevCerts, other_dev: DevCerts
) -> None:
    context = tls.server_context(dev.cert, dev.key)
    async with serving(context) as port:
        with pytest.raises(CertificateError):
            tls.reload_certificates(context, other_dev.cert, dev.key)
        ssl_object = await handshake(port, tls.client_context(dev.ca))
    assert ssl_object.getpeercert(binary_form=True) == leaf_of(dev.cert).public_bytes(
        serialization.Encoding.DER
    )


# --- the server context --------------------------------------------------------------------------


def test_server_context_disables_compression_and_prefers_server_ciphers(dev: DevCerts) -> None:
    context = tls.server_context(dev.cert, dev.key)
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    tls12 = [c for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12 and all(c["aead"] and c["kea"] == "kx-ecdhe" for c in tls12)


# --- CertificateError: one line naming the file and the problem -----------------------------------


def test_missing_certificate_file(dev: DevCerts, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(CertificateError) as info:
        tls.server_context(missing, dev.key)
    assert_one_line_about(info.value, missing, "cannot read", "No such file or directory")


def test_missing_key_file(dev: DevCerts, tmp_path: Path) -> None:
    missing = tmp_path / "key.pem"
    with pytest.raises(CertificateError) as info:
        tls.server_context(dev.cert, missing)
    assert_one_line_about(info.value, missing, "cannot read", "No such file or directory")


def test_garbage_certificate_file(dev: DevCerts, tmp_path: Path) -> None:
    garbage = tmp_path / "cert.pem"
    garbage.write_bytes(b"this is not a certificate\n\x00\xff")
    with pytest.raises(CertificateError) as info:
        tls.server_context(garbage, dev.key)
    assert_one_line_about(info.value, garbage, "not a PEM certificate")


def test_key_given_as_certificate_hints_at_swapped_files(dev: DevCerts) -> None:
    with pytest.raises(CertificateError) as info:
        tls.server_context(dev.key, dev.cert)
    assert_one_line_about(info.value, dev.key, "not a PEM certificate", "swapped")


def test_garbage_key_file(dev: DevCerts, tmp_path: Path) -> None:
    garbage = tmp_path / "key.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(CertificateError) as info:
        tls.server_context(dev.cert, garbage)
    assert_one_line_about(info.value, garbage, "not a PEM private key")


def test_expired_certificate(tmp_path: Path) -> None:
    cert, key = write_self_signed(
        tmp_path, dt.datetime(2023, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    )
    with pytest.raises(CertificateError) as info:
        tls.server_context(cert, key)
    assert str(info.value) == f"{cert}: certificate expired on 2024-01-01 (UTC)"


def test_not_yet_valid_certificate(tmp_path: Path) -> None:
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    cert, key = write_self_signed(tmp_path, start, start + dt.timedelta(days=30))
    with pytest.raises(CertificateError) as info:
        tls.server_context(cert, key)
    assert_one_line_about(info.value, cert, "not valid until", f"{start:%Y-%m-%d}")


def test_key_of_another_certificate(dev: DevCerts, other_dev: DevCerts) -> None:
    with pytest.raises(CertificateError) as info:
        tls.server_context(dev.cert, other_dev.key)
    assert str(info.value) == (
        f"{other_dev.key}: private key does not match certificate {dev.cert}"
    )


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
)
def test_encrypted_key_without_password(
    dev: DevCerts, tmp_path: Path, fmt: serialization.PrivateFormat
) -> None:
    key = write_encrypted_key(dev, tmp_path, b"s3cret", fmt)
    with pytest.raises(CertificateError) as info:
        tls.server_context(dev.cert, key)
    assert str(info.value) == f"{key}: key is encrypted; pass --key-password"


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
)
def test_encrypted_key_with_wrong_password(
    dev: DevCerts, tmp_path: Path, fmt: serialization.PrivateFormat
) -> None:
    key = write_encrypted_key(dev, tmp_path, b"s3cret", fmt)
    with pytest.raises(CertificateError) as info:
        tls.server_context(dev.cert, key, password="guess")
    assert_one_line_about(info.value, key, "wrong password")


def test_password_for_an_unencrypted_key_is_ignored(dev: DevCerts) -> None:
    assert isinstance(tls.server_context(dev.cert, dev.key, password="unused"), ssl.SSLContext)


# --- startup log helpers and instructions --------------------------------------------------------


def test_summary_names_subject_alt_names_issuer_and_expiry(dev: DevCerts) -> None:
    leaf = leaf_of(dev.cert)
    summary = tls.certificate_summary(dev.cert)
    assert "\n" not in summary
    assert "CN=localhost" in summary
    assert "DNS:localhost" in summary and "IP:127.0.0.1" in summary and "IP:::1" in summary
    assert "litecursor dev intermediate" in summary
    assert f"{leaf.not_valid_after_utc:%Y-%m-%d}" in summary


def test_expires_soon_compares_expiry_with_the_window(dev: DevCerts) -> None:
    expiry = leaf_of(dev.cert).not_valid_after_utc
    assert not tls.expires_soon(dev.cert, days=14)
    assert tls.expires_soon(dev.cert, days=400)
    assert tls.expires_soon(dev.cert, days=14, now=expiry - dt.timedelta(days=3))
    assert not tls.expires_soon(dev.cert, days=14, now=expiry - dt.timedelta(days=15))


def test_instructions_explain_trusting_the_ca_and_why_cursor_needs_a_public_cert(
    dev: DevCerts,
) -> None:
    text = tls.dev_certs_instructions(dev)
    for needed in (
        f"--cacert {dev.ca}",
        f"SSL_CERT_FILE={dev.ca}",
        f"REQUESTS_CA_BUNDLE={dev.ca}",
        f"NODE_EXTRA_CA_CERTS={dev.ca}",
        "update-ca-certificates",
        "security add-trusted-cert",
        "Cursor's own servers",
        "certbot",
        "cloudflared",
        "ngrok",
        "--insecure-http",
    ):
        assert needed in text
