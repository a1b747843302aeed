"""sd_notify as systemd receives it: datagrams on a real NOTIFY_SOCKET unix socket."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from litecursor.ops.sd_notify import Notifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    try:
        yield sock, path
    finally:
        sock.close()


def fields(sock: socket.socket) -> dict[str, str]:
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().split("\n"))


def test_ready_and_status_arrive_as_one_datagram(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    n = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert n.ready("serving 3 models\non :443")
    assert fields(sock) == {"READY": "1", "STATUS": "serving 3 models on :443"}


def test_reloading_carries_the_monotonic_clock(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    n = Notifier.from_environ({"NOTIFY_SOCKET": path})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    n.reloading()
    got = fields(sock)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert got["RELOADING"] == "1"
    assert before <= int(got["MONOTONIC_USEC"]) <= after
    n.ready()
    assert fields(sock) == {"READY": "1"}


def test_stopping_and_watchdog(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    n = Notifier.from_environ({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "3000000"})
    assert n.watchdog_interval == 1.5
    n.watchdog()
    assert fields(sock) == {"WATCHDOG": "1"}
    n.stopping("draining 2 streams")
    assert fields(sock) == {"STOPPING": "1", "STATUS": "draining 2 streams"}


def test_abstract_socket_address() -> None:
    name = f"litecursor-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        assert Notifier.from_environ({"NOTIFY_SOCKET": "@" + name}).ready()
        assert fields(sock) == {"READY": "1"}


def test_watchdog_meant_for_another_process_is_ignored() -> None:
    env = {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    assert Notifier.from_environ(env).watchdog_interval is None


def test_outside_systemd_nothing_is_sent() -> None:
    n = Notifier.from_environ({})
    assert not n.enabled
    assert not n.ready()


def test_a_vanished_socket_never_raises(tmp_path: Path) -> None:
    assert not Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone")}).ready()
