"""The ClientHello reader, fed hellos that OpenSSL itself writes, whole, split anywhere and byte by byte."""

from __future__ import annotations

import ssl

import pytest

from litecursor.protocol.tls_hello import ClientHello, ClientHelloReader


def client_hello(server_name: str | None, alpn: list[str] | None) -> bytes:
    """The first flight of a real client (Python's OpenSSL), taken from its memory BIO."""
    ctx = ssl.create_default_context()
    if server_name is None:
        ctx.check_hostname = False
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def read_in_pieces(data: bytes, cut: int) -> ClientHello | None:
    reader = ClientHelloReader()
    assert reader.feed(data[:cut]) is None
    assert not reader.done
    return reader.feed(data[cut:])


def test_acme_validator_hello() -> None:
    data = client_hello("gw.example.com", ["acme-tls/1"])
    assert ClientHelloReader().feed(data) == ClientHello("gw.example.com", ("acme-tls/1",))


def test_browser_like_hello() -> None:
    data = client_hello("gw.example.com", ["h2", "http/1.1"])
    assert ClientHelloReader().feed(data) == ClientHello("gw.example.com", ("h2", "http/1.1"))


def test_no_sni_no_alpn() -> None:
    assert ClientHelloReader().feed(client_hello(None, None)) == ClientHello(None, ())


def test_every_split_point() -> None:
    data = client_hello("gw.example.com", ["acme-tls/1"])
    want = ClientHello("gw.example.com", ("acme-tls/1",))
    for cut in range(1, len(data)):
        assert read_in_pieces(data, cut) == want, cut


def test_byte_by_byte() -> None:
    data = client_hello("a.example", ["http/1.1"])
    reader = ClientHelloReader()
    results = [reader.feed(data[i : i + 1]) for i in range(len(data))]
    assert results[-1] == ClientHello("a.example", ("http/1.1",))
    assert all(r is None for r in results[:-1])


def test_hello_split_across_two_records() -> None:
    """TLS lets a handshake message span records; the reader joins their fragments."""
    data = client_hello("gw.example.com", ["acme-tls/1"])
    header, body = data[:5], data[5:]
    half = len(body) // 2
    split = (
        header[:3] + half.to_bytes(2, "big") + body[:half]
        + header[:3] + (len(body) - half).to_bytes(2, "big") + body[half:]
    )  # fmt: skip
    assert ClientHelloReader().feed(split) == ClientHello("gw.example.com", ("acme-tls/1",))


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # plain HTTP on the TLS port
        b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00",  # a handshake, but not a ClientHello
        b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00",  # truncated inside the hello
    ],
)
def test_not_a_client_hello_gives_up(data: bytes) -> None:
    reader = ClientHelloReader()
    assert reader.feed(data) is None
    assert reader.done


def test_oversized_hello_gives_up() -> None:
    reader = ClientHelloReader()
    record = b"\x16\x03\x01\x40\x00" + b"\x01\xff\xff\xff" + bytes(16380)
    for _ in range(5):
        reader.feed(record)
    assert reader.done and reader.hello is None
