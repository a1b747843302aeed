"""`--workers N`: N processes on one port under a supervisor that restarts them, reloads and stops them together, and speaks sd_notify for the group."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from .processes import get, serve, write_config


def worker_pids(log: str) -> dict[int, int]:
    """worker index -> its latest pid, from the supervisor's log."""
    return {int(i): int(p) for i, p in re.findall(r"worker (\d+) started \(pid (\d+)\)", log)}


def test_two_workers_serve_one_port_and_a_killed_one_is_replaced(tmp_path: Path) -> None:
    with serve(tmp_path, "--insecure-http", "--workers", "2", notify=True) as s:
        ready = s.wait_message("READY")
        assert ready["STATUS"] == f"2 workers serving on http://127.0.0.1:{s.port}"
        pids = worker_pids(s.text())
        assert len(pids) == 2 and os.getpid() not in pids.values()
        for _ in range(10):
            assert get(s.port, "/health", key=None).startswith(b"HTTP/1.1 200")

        os.kill(pids[0], signal.SIGKILL)
        s.wait_for(
            rf"worker 0 \(pid {pids[0]}\) was killed by SIGKILL after \d+ s; restarting in 1 s"
        )
        # the other worker answers meanwhile: the port never goes away
        for _ in range(20):
            assert get(s.port, "/health", key=None).startswith(b"HTTP/1.1 200")
        s.wait_for(rf"worker 0 started \(pid (?!{pids[0]}\))\d+\)")
        replaced = worker_pids(s.text())
        assert replaced[0] != pids[0] and replaced[1] == pids[1]
        os.kill(replaced[0], 0)  # alive


def test_workers_reload_together_and_stop_gracefully(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", "alpha")
    with serve(tmp_path, "--insecure-http", "--workers", "2", config=config, notify=True) as s:
        s.wait_message("READY")
        write_config(config, "beta")
        s.send(signal.SIGHUP)
        assert "RELOADING" in s.wait_message("RELOADING")
        assert s.wait_message("READY")["STATUS"] == "reloaded 2 workers"
        for _ in range(10):  # whichever worker answers has the new config
            assert b'"id":"beta"' in get(s.port, "/v1/models")

        config.write_text("model_list: []\n")
        s.send(signal.SIGHUP)
        s.wait_message("RELOADING")
        assert s.wait_message("READY")["STATUS"].startswith("worker ")
        assert "reload refused" in s.messages[-1]["STATUS"]
        assert b'"id":"beta"' in get(s.port, "/v1/models")

        pids = worker_pids(s.text())
        s.send(signal.SIGTERM)
        assert "STOPPING" in s.wait_message("STOPPING")
        assert s.wait_exit() == 0
        assert "all workers stopped (exit codes [0, 0])" in s.text()
        for pid in pids.values():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            time.sleep(0.5)
            raise AssertionError(f"worker {pid} outlived its supervisor")


def _models_requests(scrape: bytes) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    body = scrape.split(b"\r\n\r\n", 1)[1].decode()
    if "transfer-encoding: chunked" in scrape.split(b"\r\n\r\n", 1)[0].decode().lower():
        body = "".join(body.split("\r\n")[1::2])  # the chunks' data, without their sizes
    return sum(
        s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == "litecursor_requests_total" and s.labels.get("route") == "/v1/models"
    )


def test_every_worker_answers_metrics_with_the_groups_total(tmp_path: Path) -> None:
    """The supervisor gives its workers one metrics folder: whichever of them is asked for
    /metrics (the kernel spreads connections over them) counts every worker's requests."""
    with serve(tmp_path, "--insecure-http", "--workers", "2", notify=True) as s:
        s.wait_message("READY")  # both workers listen
        for _ in range(20):
            assert get(s.port, "/v1/models").startswith(b"HTTP/1.1 200")
        totals = {_models_requests(get(s.port, "/metrics")) for _ in range(8)}
        assert totals == {20.0}
        pids = worker_pids(s.text())
        assert len(pids) == 2
