"""LiteLLM's Cursor tutorial config, verbatim, as a new user tries it: `litecursor check`, then
served over TLS in front of the strict fakes (only each upstream's URL moved to loopback)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from litecursor.accounting import limits
from litecursor.config import Config, ConfigError, parse

from .fakes import anthropic_upstream, gemini_upstream, openai_upstream
from .fakes.common import FakeUpstream, Reply
from .harness import run_gateway, sse_payloads, text_of
from .paths import CONFIGS, ROOT

QUICK_START = CONFIGS / "tutorial-quick-start.yaml"
MODELS = CONFIGS / "tutorial-different-models.yaml"
LIMITS = CONFIGS / "tutorial-rate-limits-and-budgets.yaml"
KEYS = {
    "OPENAI_API_KEY": "sk-openai-test",
    "ANTHROPIC_API_KEY": "sk-ant-test",
    "GEMINI_API_KEY": "gm-test",
}


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "litecursor", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ, **KEYS},
    )


def with_limits(tmp_path: Path) -> Path:
    """The models config with the rate-limit section added to it, as the tutorial says."""
    f = tmp_path / "config.yaml"
    f.write_text(MODELS.read_text() + "\n" + LIMITS.read_text())
    return f


def test_quick_start_config_checks_and_says_which_provider_it_inferred() -> None:
    r = check(QUICK_START)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.strip().startswith("gpt-4o"))
    assert "openai/gpt-4o" in line and "provider 'openai' inferred" in line
    claude = next(x for x in r.stdout.splitlines() if "claude-3-5-sonnet" in x)
    assert "inferred" not in claude and "[anthropic @" in claude


def test_rate_limit_and_max_budget_are_enforced_so_check_reports_them_without_a_warning(
    tmp_path: Path,
) -> None:
    r = check(with_limits(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("proxy limits:"))
    assert "budget $100, never reset" in line and "100 requests/minute" in line


@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("gpt-4o", "openai"),
        ("gpt-5.1-codex", "openai"),
        ("chatgpt-4o-latest", "openai"),
        ("o1", "openai"),
        ("o3-mini", "openai"),
        ("o4-mini", "openai"),
        ("claude-sonnet-4-5", "anthropic"),
        ("gemini-2.5-pro", "gemini"),
    ],
)
def test_well_known_names_without_a_prefix_get_their_provider(name: str, provider: str) -> None:
    config = parse(
        {"model_list": [{"model_name": "x", "litellm_params": {"model": name}}]},
        environ={"LITECURSOR_MASTER_KEY": "k"},
    )
    (d,) = config.deployments
    assert (d.target.provider, d.target.model, d.provider_inferred) == (provider, name, True)
    assert d.litellm_model == f"{provider}/{name}"


def test_an_unknown_name_without_a_prefix_is_still_an_error() -> None:
    data = {"model_list": [{"model_name": "x", "litellm_params": {"model": "llama-3"}}]}
    with pytest.raises(ConfigError, match="no provider prefix"):
        parse(data, environ={"LITECURSOR_MASTER_KEY": "k"})


def pointed_at(config: Config, bases: dict[str, str]) -> Config:
    """The config with each provider's default URL replaced by its fake's."""
    deployments = tuple(
        dataclasses.replace(d, target=dataclasses.replace(d.target, api_base=bases[d.adapter]))
        for d in config.deployments
    )
    return dataclasses.replace(config, deployments=deployments)


async def test_tutorial_config_serves_every_model_through_the_strict_fakes(
    tmp_path: Path, aiohttp_server: Any, dev_certs: Any
) -> None:
    data = yaml.safe_load(with_limits(tmp_path).read_text())
    config = parse(data, environ=KEYS)
    fakes: dict[str, FakeUpstream] = {}
    bases: dict[str, str] = {}
    for adapter, make, path in (
        ("openai_chat", openai_upstream.make_app, "/v1"),
        ("anthropic", anthropic_upstream.make_app, ""),
        ("gemini", gemini_upstream.make_app, "/v1beta"),
    ):
        fake = fakes[adapter] = FakeUpstream()
        fake.default_reply = Reply(text=f"hello from {adapter}")
        server = await aiohttp_server(make(fake))
        bases[adapter] = str(server.make_url(path))
    async with run_gateway(pointed_at(config, bases), dev_certs) as gw:
        for model, adapter, upstream_model in (
            ("gpt-4o", "openai_chat", "gpt-4o"),
            ("claude-3-5-sonnet", "anthropic", "claude-3-5-sonnet-20241022"),
            ("gemini-pro", "gemini", None),
        ):
            body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
            async with await gw.post("/cursor/chat/completions", body, key="sk-1234567890") as r:
                assert r.status == 200
                payloads = sse_payloads(await r.read())
            assert text_of(payloads) == f"hello from {adapter}"
            sent = fakes[adapter].last
            if upstream_model is not None:
                assert sent.body["model"] == upstream_model
            else:
                assert sent.path.endswith("/models/gemini-1.5-pro:streamGenerateContent")


async def tutorial_gateway(
    tmp_path: Path, aiohttp_server: Any, dev_certs: Any
) -> tuple[Any, FakeUpstream]:
    """The tutorial's config with its limits, gpt-4o served by a fake OpenAI."""
    data = yaml.safe_load(with_limits(tmp_path).read_text())
    fake = FakeUpstream()
    server = await aiohttp_server(openai_upstream.make_app(fake))
    base = str(server.make_url("/v1"))
    config = pointed_at(
        parse(data, environ=KEYS),
        {"openai_chat": base, "anthropic": base, "gemini": base},
    )
    return run_gateway(config, dev_certs), fake


async def test_the_tutorials_rate_limit_is_the_proxys_requests_per_minute(
    tmp_path: Path, aiohttp_server: Any, dev_certs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an hour-long "minute": the 100 requests never straddle two windows
    monkeypatch.setattr(limits, "WINDOW", 3600)
    running, _ = await tutorial_gateway(tmp_path, aiohttp_server, dev_certs)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    async with running as gw:
        for i in range(100):
            status, _ = await gw.chat(body, key="sk-1234567890")
            assert status == 200, i
        status, err = await gw.chat(body, key="sk-1234567890")
    assert status == 429 and "proxy made 100 requests this minute" in err["error"]["message"]


async def test_the_tutorials_max_budget_is_the_whole_proxys_budget(
    tmp_path: Path, aiohttp_server: Any, dev_certs: Any
) -> None:
    running, fake = await tutorial_gateway(tmp_path, aiohttp_server, dev_certs)
    # $25 a request at gpt-4o's price of $2.50 per million input tokens
    fake.default_reply = Reply(text="ok", prompt_tokens=10_000_000, completion_tokens=0)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    async with running as gw:
        for _ in range(4):  # $0, $25, $50, $75 spent when each starts
            assert (await gw.chat(body, key="sk-1234567890"))[0] == 200
        status, err = await gw.chat(body, key="sk-1234567890")
    assert status == 400 and err["error"]["type"] == "budget_exceeded"
    assert err["error"]["message"].startswith(
        "Budget exceeded: the proxy has spent $100.00 of its $100.00 budget "
        "(litellm_settings.max_budget)"
    )
