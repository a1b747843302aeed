"""`litecursor keys|spend|db|prices` against the database beside a real config file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from litecursor.cli import main
from litecursor.store import LATEST, SpendRow, open_store
from litecursor.store.ops import Q

CONFIG = """
model_list:
  - model_name: mock
    litellm_params: {model: mock/echo}
general_settings:
  master_key: sk-master-for-cli-tests
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return orjson.loads(out)


def test_keys_create_list_info_update_block_delete(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = str(config)
    code, out, _ = run(capsys, "keys", "create", "-c", c, "--alias", "alice", "--models", "mock,other",
                       "--budget", "50", "--budget-duration", "30d", "--rpm", "10")  # fmt: skip
    assert code == 0
    key = out.split()[1]
    assert key.startswith("sk-") and "shown once" in out
    assert (config.parent / "litecursor.db").exists()  # created beside the config
    code, out, _ = run(capsys, "keys", "list", "-c", c)
    assert code == 0 and "alice" in out and key not in out and f"sk-...{key[-4:]}" in out
    assert "mock,other" in out and "50" in out
    info = run_json(capsys, "keys", "info", "-c", c, "alice")
    assert info["max_budget"] == 50 and info["rpm_limit"] == 10 and info["budget_duration"] == "30d"
    upd = run_json(capsys, "keys", "update", "-c", c, key, "--budget", "75", "--tpm", "5000")
    assert upd["max_budget"] == 75 and upd["tpm_limit"] == 5000 and upd["rpm_limit"] == 10
    assert run_json(capsys, "keys", "block", "-c", c, "alice")["blocked"] is True
    assert run_json(capsys, "keys", "block", "-c", c, "alice", "--unblock")["blocked"] is False
    code, out, _ = run(capsys, "keys", "delete", "-c", c, "alice")
    assert code == 0 and "deleted 1 key(s)" in out
    assert run_json(capsys, "keys", "list", "-c", c) == []


def test_bad_values_are_a_clear_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "keys", "create", "-c", str(config), "--budget-duration", "weekly")
    assert code == 2 and "budget_duration: 'weekly' is not a duration" in err
    code, _, err = run(capsys, "keys", "info", "-c", str(config), "sk-nobody")
    assert code == 2 and "no such key" in err


def test_spend_report_by_key_as_a_table(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    now = time.time()
    rows = [
        SpendRow(request_id=f"r{i}", start_time=now - i * 86400, end_time=now, key_hash="h1",
                 key_alias="alice", prompt_tokens=100, completion_tokens=10, spend=0.25)
        for i in range(10)
    ]  # fmt: skip

    async def write() -> None:
        s = open_store(None, config.parent)
        await s.open()
        await s.write_spend(rows)
        await s.close()

    asyncio.run(write())
    code, out, _ = run(capsys, "spend", "report", "-c", str(config), "--by", "key", "--since", "7d")
    assert code == 0
    assert "alice" in out and "total: $1.7500 over 7 request(s)" in out
    data = run_json(capsys, "spend", "report", "-c", str(config), "--by", "key")
    assert data[0]["requests"] == 10 and data[0]["spend"] == pytest.approx(2.5)


def test_db_upgrade_and_a_newer_schema_refused(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "db", "upgrade", "-c", str(config))
    assert code == 0 and f"upgraded from version 0 to {LATEST}" in out
    code, out, _ = run(capsys, "db", "upgrade", "-c", str(config))
    assert code == 0 and "up to date" in out

    async def bump() -> None:
        s = open_store(None, config.parent)
        await s.open()

        def op():
            yield Q("UPDATE litecursor_meta SET value = '999' WHERE name = 'schema_version'")

        await s._write(op())
        await s.close()

    asyncio.run(bump())
    code, _, err = run(capsys, "db", "upgrade", "-c", str(config))
    assert code == 2 and "version 999, newer than this litecursor knows" in err
    code, _, err = run(capsys, "keys", "list", "-c", str(config))
    assert code == 2 and "never downgraded" in err


def test_prices_import_reads_litellms_file(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "prices.json"
    f.write_bytes(orjson.dumps({
        "sample_spec": {"input_cost_per_token": 0},
        "gpt-4o": {"input_cost_per_token": 5e-6, "output_cost_per_token": 2e-5, "litellm_provider": "openai"},
    }))  # fmt: skip
    code, out, _ = run(capsys, "prices", "import", "-c", str(config), str(f))
    assert code == 0 and "imported 1 model price(s)" in out

    async def read() -> dict[str, Any]:
        s = open_store(None, config.parent)
        await s.open()
        try:
            return await s.imported_prices()
        finally:
            await s.close()

    assert asyncio.run(read()) == {
        "openai/gpt-4o": {"input_cost_per_token": 5e-6, "output_cost_per_token": 2e-5}
    }
    f.write_text('{"gpt-x": {"input_cost_per_token": "free"}}')
    code, _, err = run(capsys, "prices", "import", "-c", str(config), str(f))
    assert code == 2 and "gpt-x: input_cost_per_token must be a number" in err
    f.write_text("{nope")
    code, _, err = run(capsys, "prices", "import", "-c", str(config), str(f))
    assert code == 2 and "not valid JSON" in err
