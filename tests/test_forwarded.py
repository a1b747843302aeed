"""X-Forwarded-For / -Proto believed only from trusted proxies, read from the right."""

from __future__ import annotations

import re

import pytest

from litecursor.ops.forwarded import Forwarded, TrustedProxies

PROXIES = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8,::1"])


def test_the_client_behind_one_trusted_proxy() -> None:
    assert PROXIES.resolve("127.0.0.1", ["203.0.113.7"], ["https"]) == Forwarded(
        "203.0.113.7", "https"
    )


def test_an_untrusted_peer_is_its_own_client_whatever_it_claims() -> None:
    assert PROXIES.resolve("198.51.100.2", ["203.0.113.7"], ["https"]) is None


def test_a_spoofed_left_part_is_skipped() -> None:
    """The client wrote `1.2.3.4` itself; our proxies appended what they saw."""
    got = PROXIES.resolve("127.0.0.1", ["1.2.3.4, 203.0.113.7, 10.1.2.3"], [])
    assert got == Forwarded("203.0.113.7", None)


def test_several_headers_ports_brackets_and_mapped_addresses() -> None:
    got = PROXIES.resolve("::ffff:127.0.0.1", ["[2001:db8::5]:4711", "10.0.0.9:80"], ["http"])
    assert got == Forwarded("2001:db8::5", "http")


def test_garbage_stops_the_walk_at_the_last_address_a_trusted_proxy_saw() -> None:
    assert PROXIES.resolve("127.0.0.1", ["unknown, 10.0.0.4"], []) == Forwarded("10.0.0.4", None)


def test_no_header_means_the_connection_speaks_for_itself() -> None:
    assert PROXIES.resolve("127.0.0.1", [], ["https"]) is None


def test_an_odd_scheme_is_ignored() -> None:
    assert PROXIES.resolve("127.0.0.1", ["203.0.113.7"], ["gopher"]) == Forwarded(
        "203.0.113.7", None
    )


def test_a_bad_entry_is_named() -> None:
    with pytest.raises(ValueError, match=re.escape("--trusted-proxy 'proxy.local': not an IP")):
        TrustedProxies.parse(["127.0.0.1,proxy.local"])
