"""Debian's pebble (Let's Encrypt's ACME test server) on loopback, started by the tests in a temporary folder.

Its own HTTPS uses a trustme-made certificate; `PEBBLE_VA_NOSLEEP=1` validates at once and
`PEBBLE_WFE_NONCEREJECT=0` turns off the random bad-nonce answers, so runs are repeatable.
The validation ports (`httpPort`, `tlsPort`) are the gateway's challenge ports of the test.
Without the binary the tests skip with the reason, except under CI (`CI=true`), where a
missing pebble fails the run: `.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import trustme

PEBBLE = shutil.which("pebble") or (
    "/usr/bin/pebble" if os.path.exists("/usr/bin/pebble") else None
)


def require_pebble() -> str:
    if PEBBLE is None:
        message = "pebble is not installed (apt-get install pebble; .ci/run does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return PEBBLE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Pebble:
    directory: str
    ca_bundle: Path  # trusts pebble's own HTTPS (the directory)
    management: str
    http_port: int
    tls_port: int
    log: Path

    def _get(self, path: str) -> bytes:
        ctx = ssl.create_default_context(cafile=str(self.ca_bundle))
        with urllib.request.urlopen(self.management + path, context=ctx, timeout=10) as r:
            return bytes(r.read())

    def root_pem(self) -> bytes:
        """The root pebble signs with (made anew at each start): what clients must trust."""
        return self._get("/roots/0")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def run_pebble(folder: Path, *, http_port: int, tls_port: int) -> Iterator[Pebble]:
    binary = require_pebble()
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, bundle = (
        folder / "pebble-cert.pem",
        folder / "pebble-key.pem",
        folder / "pebble-ca.pem",
    )
    leaf.private_key_pem.write_to_path(str(key))
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    ca.cert_pem.write_to_path(str(bundle))
    port, mport = free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{mport}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (folder / "pebble.json").write_bytes(orjson.dumps(config))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    log = folder / "pebble.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "-config", str(folder / "pebble.json"), "-strict=false"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pebble did not start:\n{log.read_text()}") from None
                time.sleep(0.05)
        yield Pebble(
            directory=f"https://127.0.0.1:{port}/dir",
            ca_bundle=bundle,
            management=f"https://127.0.0.1:{mport}",
            http_port=http_port,
            tls_port=tls_port,
            log=log,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
