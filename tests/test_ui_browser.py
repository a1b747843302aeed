"""The admin page in a real headless Chromium: log in, every page with traffic in it, keys made and revoked from the page, log out."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai import AsyncOpenAI

from litecursor.server.keys import STORE
from litecursor.store import BudgetRef, Charge, Store
from litecursor.store.tokens import hash_key

from .browser import Browser, artifacts_dir, chromium_or_skip, open_browser
from .conftest import GatewayFactory
from .demo_traffic import DAY, Developer, rows_for
from .fakes.routing import closed_port
from .harness import MASTER_KEY, Gateway

MODELS = ["gpt-5", "claude-sonnet-4-5", "gemini-2.5-pro", "gpt-4.1-mini"]


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory, tmp_path: Path) -> Gateway:
    chromium_or_skip()  # before starting anything
    return await gateway_factory(
        [{"model_name": m, "litellm_params": {"model": f"mock/{m}"}} for m in MODELS],
        general_settings={
            "master_key": MASTER_KEY,
            "database_url": str(tmp_path / "lc.db"),
            "store_prompts_in_spend_logs": True,
        },
    )


@pytest.fixture
async def browser(
    gateway: Gateway, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Browser]:
    async with open_browser(
        gateway.base, tmp_path / "profile", artifacts_dir(tmp_path_factory)
    ) as b:
        yield b


async def log_in(b: Browser, key: str = MASTER_KEY) -> None:
    await b.goto("/ui/")
    await b.page.fill("#key", key)
    await b.page.click("button[type=submit]")
    await b.page.locator("aside.side").wait_for()


async def api(gw: Gateway, path: str, **params: Any) -> Any:
    async with gw.session.get(
        gw.base + path, params=params, headers={"Authorization": f"Bearer {MASTER_KEY}"}
    ) as r:
        return r.status, await r.json()


async def a_week_of_traffic(store: Store) -> dict[str, str]:
    """Five developers' keys and a week of their requests (charged to their budgets);
    returns each alias's key hash."""
    now = time.time()
    hashes: dict[str, str] = {}
    devs = []
    people = [
        ("alice", "alice@acme.dev", "platform", 14, "claude-sonnet-4-5", 150.0),
        ("bob", "bob@acme.dev", "platform", 6, "gpt-5", 100.0),
        ("carol", "carol@acme.dev", "mobile", 4, "gemini-2.5-pro", 50.0),
        ("dave", "dave@acme.dev", "mobile", 2, "gpt-5", 40.0),
        ("erin-ci", None, "platform", 1, "gpt-4.1-mini", None),
    ]
    for team in ("platform", "mobile"):
        await store.create_team(team, {}, {}, now)
    for alias, user, team, rate, model, budget in people:
        _, rec = await store.create_key(
            {"key_alias": alias, "user_id": user, "team_id": team, "rpm_limit": 60},
            {"max_budget": budget, "budget_duration": "30d"} if budget else {},
            now - 20 * DAY,
        )
        hashes[alias] = rec.token
        devs.append(Developer(rec.token, alias, user, team, rate, model))
    await store.create_key({"key_alias": "frank-new"}, {"max_budget": 25.0}, now)
    rows = list(rows_for(devs, now - 7 * DAY, now))
    for i in range(0, len(rows), 500):
        part = rows[i : i + 500]
        await store.write_spend(
            part, [Charge(BudgetRef("key", r.key_hash), r.spend) for r in part if r.key_hash]
        )
    return hashes


# -- logging in and out ------------------------------------------------------------------------


async def test_a_wrong_key_is_refused_and_the_right_one_opens_the_page(browser: Browser) -> None:
    page = browser.page
    await browser.goto("/ui/models")
    await page.wait_for_url("**/ui/login?next=%2Fui%2Fmodels")
    await browser.shot("login")
    await page.fill("#key", "sk-wrong")
    await page.click("button[type=submit]")
    alert = page.locator(".login .alert.bad")
    await alert.wait_for()
    assert "not valid" in (await alert.text_content() or "")
    await browser.shot("login-refused", docs=True)
    await page.fill("#key", MASTER_KEY)
    await page.click("button[type=submit]")
    # back where the admin wanted to go
    await page.wait_for_url("**/ui/models")
    await page.locator("main h1", has_text="Models").wait_for()
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"].startswith("__Host-litecursor"))
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    assert MASTER_KEY not in session["value"]


async def test_logging_out_ends_the_session(browser: Browser) -> None:
    await log_in(browser)
    page = browser.page
    await page.click("text=Log out")
    await page.locator(".login .alert", has_text="logged out").wait_for()
    assert not [c for c in await page.context.cookies() if c["name"].startswith("__Host-")]
    # a reload does not get back in
    await browser.goto("/ui/models")
    await page.wait_for_url("**/ui/login**")


# -- the pages, with a week of traffic ------------------------------------------------------------


async def test_every_page_shows_the_traffic(browser: Browser, gateway: Gateway) -> None:
    hashes = await a_week_of_traffic(gateway.app[STORE])
    page = browser.page
    await log_in(browser)

    # overview: the totals of the day, its charts, the top developers
    await page.locator(".stat .value").first.wait_for()
    _, o = await api(gateway, "/ui/api/overview", range="24h")
    requests = page.locator(".stat", has=page.locator(".label", has_text=re.compile("^Requests$")))
    requests = requests.locator(".value")
    assert (await requests.text_content() or "").replace(",", "") == str(o["totals"]["requests"])
    assert await page.locator(".chart svg rect.bar").count() > 10
    top = page.locator("section", has_text="Top developers").locator("tbody tr")
    assert await top.count() == len(o["top_keys"])
    await browser.shot("overview", docs=True)
    await page.click("button:has-text('7 days')")
    await page.wait_for_url("**range=7d")
    await page.locator(".chart").first.wait_for()
    await browser.shot("overview-7d")

    # developers: every key, idle ones too, with its budget
    await page.click("nav >> text=Developers")
    rows = page.locator("main table tbody tr")
    await rows.first.wait_for()
    assert await rows.count() == 6
    assert await page.locator("tbody tr", has_text="frank-new").locator("text=never").count()
    await browser.shot("developers", docs=True)

    # one developer, from its row
    await page.click("tbody tr:has-text('alice') >> text=alice")
    await page.wait_for_url(f"**/ui/developers/{hashes['alice']}")
    await page.locator("h1", has_text="alice").wait_for()
    recent = page.locator("section", has_text="Recent requests").locator("tbody tr")
    await recent.first.wait_for()
    assert await recent.count() == 25
    await browser.shot("developer", docs=True)

    # the log, filtered to one key and failed requests
    await page.click("nav >> text=Logs")
    await page.locator("main table tbody tr").first.wait_for()
    await browser.shot("logs", docs=True)
    await page.fill("input[name=key]", "bob")
    await page.select_option("select[name=status]", "error")
    await page.click("button:has-text('Apply filters')")
    await page.wait_for_url("**status=error**")
    await page.locator("main table tbody tr").first.wait_for()
    _, want = await api(gateway, "/logs", key="bob", status="error", limit="50")
    shown = page.locator("main table tbody tr")
    assert await shown.count() == len(want["data"]) > 0
    assert all(r["key_alias"] == "bob" and r["error_message"] for r in want["data"])
    await browser.shot("logs-filtered")

    # one request, with its attempts
    retried = next(r for r in (await api(gateway, "/logs", limit="500"))[1]["data"] if r["retries"])
    await browser.goto(f"/ui/logs/{retried['request_id']}")
    attempts = page.locator("section", has_text="Attempts").locator("tbody tr")
    await attempts.first.wait_for()
    assert await attempts.count() == 2
    assert await page.locator(".timeline svg rect.bad").count() == 1
    await browser.shot("request", docs=True)

    await page.click("nav >> text=Keys")
    await page.locator("main table tbody tr").first.wait_for()
    await browser.shot("keys", docs=True)
    await page.click("nav >> text=Models")
    await page.locator("main table tbody tr").first.wait_for()
    assert await page.locator("main table tbody tr").count() == len(MODELS)
    await browser.shot("models-all-healthy")


async def test_an_empty_gateway_says_how_to_begin(browser: Browser) -> None:
    await log_in(browser)
    page = browser.page
    await page.locator(".empty", has_text="No requests in this period").wait_for()
    await page.click("nav >> text=Developers")
    await page.locator(".empty", has_text="No keys and no traffic yet").wait_for()
    # the log has the login itself, and nothing of a model yet
    await browser.goto("/ui/logs?model=gpt-5")
    await page.locator(".empty", has_text="No request matches these filters").wait_for()
    await page.click("nav >> text=Keys")
    await page.locator(".empty", has_text="No keys yet").wait_for()


# -- keys, from the page --------------------------------------------------------------------------


async def test_a_key_is_created_shown_once_blocked_regenerated_and_deleted(
    browser: Browser, gateway: Gateway
) -> None:
    await log_in(browser)
    page = browser.page
    await page.click("nav >> text=Keys")
    await page.click("#new-key")
    dialog = page.locator("dialog")
    await dialog.locator("input[name=key_alias]").fill("grace")
    await dialog.locator("input[name=max_budget]").fill("12.5")
    await dialog.locator("select[name=budget_duration]").select_option("1mo")
    await dialog.locator("input[name=rpm_limit]").fill("30")
    await dialog.locator("select[name=duration]").select_option("30d")
    await dialog.locator("label:has-text('gpt-5') input").first.check()
    await browser.shot("keys-create")
    await dialog.locator("button:has-text('Create key')").click()
    secret = page.locator("dialog .secret-value")
    await secret.wait_for()
    key = await secret.text_content() or ""
    await browser.shot("keys-created")
    assert key.startswith("sk-")
    await page.click("dialog button:has-text('Done')")
    row = page.locator("tbody tr", has_text="grace")
    await row.wait_for()
    status, info = await api(gateway, "/key/info", key=key)
    assert status == 200
    k = info["info"]
    assert (k["key_alias"], k["max_budget"], k["budget_duration"], k["rpm_limit"]) == (
        "grace",
        12.5,
        "1mo",
        30,
    )
    assert k["models"] == ["gpt-5"] and k["expires"] is not None
    assert info["key"] == hash_key(key)
    # the key is on the page once, in its dialog, never in the table
    assert key not in await page.content()

    await row.locator("button:has-text('Block')").click()
    await row.locator(".pill", has_text="blocked").wait_for()
    assert (await api(gateway, "/key/info", key=key))[1]["info"]["blocked"] is True
    await row.locator("button:has-text('Unblock')").click()
    await row.locator(".pill", has_text="active").wait_for()
    assert (await api(gateway, "/key/info", key=key))[1]["info"]["blocked"] is False

    await row.locator("button:has-text('Regenerate')").click()
    await page.click("dialog button:has-text('Regenerate')")
    await secret.wait_for()
    new_key = await secret.text_content() or ""
    await page.click("dialog button:has-text('Done')")
    assert new_key.startswith("sk-") and new_key != key
    assert (await api(gateway, "/key/info", key=key))[0] == 404
    assert (await api(gateway, "/key/info", key=new_key))[1]["info"]["key_alias"] == "grace"

    await row.locator("button:has-text('Delete')").click()
    await page.click("dialog button:has-text('Delete')")
    await page.locator(".alert.ok", has_text="grace is deleted").wait_for()
    await page.locator("tbody tr", has_text="grace").wait_for(state="detached")
    assert (await api(gateway, "/key/info", key=new_key))[0] == 404


async def test_a_refused_change_shows_the_gateways_message(browser: Browser) -> None:
    await log_in(browser)
    page = browser.page
    await page.click("nav >> text=Keys")
    for attempt in range(2):
        await page.click("#new-key")
        await page.locator("dialog input[name=key_alias]").fill("same-name")
        await page.click("dialog button:has-text('Create key')")
        if attempt == 0:
            await page.click("dialog button:has-text('Done')")
            await page.locator("tbody tr", has_text="same-name").wait_for()
    alert = page.locator("dialog .alert.bad")
    await alert.wait_for()
    assert "already used" in (await alert.text_content() or "")


async def test_the_models_page_shows_a_deployment_cooling_down(
    gateway_factory: GatewayFactory, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    chromium_or_skip()
    gw = await gateway_factory(
        [
            {"model_name": "gpt-5", "litellm_params": {"model": "mock/gpt-5"}},
            {
                "model_name": "gpt-5-backup",
                "litellm_params": {
                    "model": "openai/gpt-5",
                    "api_base": f"http://127.0.0.1:{closed_port()}/v1",
                    "api_key": "sk-upstream-secret",
                },
            },
        ],
        # with a fallback to go to, a failing deployment is cooled down at its first failure
        router_settings={
            "num_retries": 0,
            "allowed_fails": 1,
            "cooldown_time": 120,
            "fallbacks": [{"gpt-5-backup": ["gpt-5"]}],
        },
    )
    status, _ = await gw.chat(
        {"model": "gpt-5-backup", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert status == 200
    async with open_browser(gw.base, tmp_path / "profile", artifacts_dir(tmp_path_factory)) as b:
        await log_in(b)
        await b.page.click("nav >> text=Models")
        row = b.page.locator("tbody tr", has_text="gpt-5-backup")
        await row.locator(".pill", has_text="cooling down").wait_for()
        assert "back in" in (await row.text_content() or "")
        healthy = b.page.locator("tbody tr", has_text="mock/gpt-5")
        await healthy.locator(".pill", has_text="healthy").wait_for()
        stat = b.page.locator(".stat", has_text="Cooling down").locator(".value")
        assert await stat.text_content() == "1"
        await b.shot("models", docs=True)


# -- a developer's key, from the page to the SDK and back ----------------------------------------


async def wait_for_row(b: Browser, path: str, text: str) -> None:
    """Reload `path` until a table row shows `text` (rows are written within a second)."""
    for _ in range(40):
        await b.goto(path)
        rows = b.page.locator("main table tbody tr", has_text=text)
        await b.page.locator("main table, main .empty").first.wait_for()
        if await rows.count():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"no row with {text!r} on {path}")


def sdk(gw: Gateway, key: str) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=key,
        base_url=gw.base + "/v1",
        http_client=httpx.AsyncClient(verify=gw.ssl, timeout=30),
        max_retries=0,
    )


async def test_a_key_made_on_the_page_works_shows_its_requests_and_is_refused_once_revoked(
    browser: Browser, gateway: Gateway
) -> None:
    await log_in(browser)
    page = browser.page
    await page.click("nav >> text=Keys")
    await page.click("#new-key")
    await page.locator("dialog input[name=key_alias]").fill("henry")
    await page.click("dialog button:has-text('Create key')")
    key = await page.locator("dialog .secret-value").text_content() or ""
    await page.click("dialog button:has-text('Done')")
    await page.locator("tbody tr", has_text="henry").wait_for()

    # the developer uses it with the openai SDK
    client = sdk(gateway, key)
    answer = await client.chat.completions.create(
        model="gpt-5",
        messages=[{"role": "user", "content": "hello from henry"}],
        extra_headers={"x-request-id": "req-henry-1"},
    )
    assert answer.choices[0].message.content == "hello from henry"

    # in the log, with its developer
    await wait_for_row(browser, "/ui/logs?key=henry", "henry")
    row = page.locator("main table tbody tr", has_text="henry")
    assert await row.count() == 1 and "gpt-5" in (await row.text_content() or "")
    await row.locator("a").first.click()
    await page.wait_for_url("**/ui/logs/req-henry-1")
    await page.locator("dd", has_text="req-henry-1").wait_for()
    assert await page.locator("dd a", has_text="henry").count() == 1
    # the prompt and the answer, kept (store_prompts_in_spend_logs)
    await page.locator("pre.body", has_text="hello from henry").first.wait_for()
    await browser.shot("request-with-prompt")

    # and on the developer's own page
    await page.click("nav >> text=Developers")
    await page.click("tbody tr:has-text('henry') >> text=henry")
    await page.locator("h1", has_text="henry").wait_for()
    recent = page.locator("section", has_text="Recent requests").locator("tbody tr")
    await recent.first.wait_for()
    assert await recent.count() == 1
    assert (
        await page.locator(".stat", has_text="Requests").locator(".value").first.text_content()
        == "1"
    )

    # blocked from the page: refused; unblocked: back
    await page.click("nav >> text=Keys")
    krow = page.locator("tbody tr", has_text="henry")
    await krow.locator("button:has-text('Block')").click()
    await krow.locator(".pill", has_text="blocked").wait_for()
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "again"}]
        )
    await krow.locator("button:has-text('Unblock')").click()
    await krow.locator(".pill", has_text="active").wait_for()
    await client.chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "ok"}]
    )
    # deleted: refused for good
    await krow.locator("button:has-text('Delete')").click()
    await page.click("dialog button:has-text('Delete')")
    await krow.wait_for(state="detached")
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "again"}]
        )


async def test_an_admin_key_opens_the_page_until_it_is_blocked(
    browser: Browser, gateway: Gateway
) -> None:
    async with await gateway.post(
        "/key/generate", {"key_alias": "ops", "metadata": {"role": "admin"}}
    ) as r:
        admin_key = (await r.json())["key"]
    async with await gateway.post("/key/generate", {"key_alias": "dev"}) as r:
        plain_key = (await r.json())["key"]
    page = browser.page
    # a developer's key is no admin key
    await browser.goto("/ui/")
    await page.fill("#key", plain_key)
    await page.click("button[type=submit]")
    await page.locator(".login .alert.bad", has_text="cannot open the admin page").wait_for()
    # the admin key opens it, and may manage keys
    await page.fill("#key", admin_key)
    await page.click("button[type=submit]")
    await page.locator(".side .who", has_text="ops").wait_for()
    await page.click("nav >> text=Keys")
    await page.locator("tbody tr", has_text="dev").wait_for()
    # blocked by the master key elsewhere: its session ends at the next request
    async with await gateway.post("/key/block", {"key": admin_key}) as r:
        assert r.status == 200
    await asyncio.sleep(0.1)  # this instance's own change reaches the key cache at once
    await page.click("nav >> text=Models")
    await page.locator(".login .alert", has_text="session has ended").wait_for()
