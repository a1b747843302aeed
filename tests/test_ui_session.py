"""The admin page's login: a signed session cookie (HttpOnly, Secure, SameSite=Strict), CSRF on every change, logout, throttled guessing."""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from http.cookies import SimpleCookie
from typing import Any

import orjson
import pytest

from litecursor.server.ui.session import COOKIE, LoginThrottle, SessionRefused, Sessions

from .harness import MASTER_KEY, Gateway, make_config, run_gateway


async def login(gw: Gateway, key: str = MASTER_KEY, **headers: str) -> tuple[int, Any, str | None]:
    """POST /ui/login; returns (status, body, the Set-Cookie header of the session)."""
    async with gw.session.post(
        gw.base + "/ui/login",
        data=orjson.dumps({"key": key}),
        headers={"content-type": "application/json", **headers},
    ) as r:
        return r.status, await r.json(), r.headers.get("Set-Cookie")


def cookie_value(set_cookie: str) -> str:
    jar: SimpleCookie = SimpleCookie()
    jar.load(set_cookie)
    return jar[COOKIE].value


async def get(gw: Gateway, path: str, cookie: str | None = None) -> tuple[int, Any]:
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    async with gw.session.get(gw.base + path, headers=headers) as r:
        return r.status, await r.json()


async def post(
    gw: Gateway, path: str, cookie: str, csrf: str | None, **headers: str
) -> tuple[int, Any, str | None]:
    h = {"Cookie": f"{COOKIE}={cookie}", "content-type": "application/json", **headers}
    if csrf is not None:
        h["x-csrf-token"] = csrf
    async with gw.session.post(gw.base + path, data=b"{}", headers=h) as r:
        return r.status, await r.json(), r.headers.get("Set-Cookie")


async def test_the_page_and_its_files_need_no_key_and_forbid_framing(mock_gateway) -> None:
    for path in ("/ui", "/ui/", "/ui/logs", "/ui/developers/abc", "/ui/login"):
        async with mock_gateway.session.get(mock_gateway.base + path) as r:
            text = await r.text()
            assert r.status == 200, path
            assert r.content_type == "text/html" and '<script type="module"' in text
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            assert r.headers["X-Frame-Options"] == "DENY"
    async with mock_gateway.session.get(mock_gateway.base + "/ui/static/js/app.js") as r:
        assert r.status == 200 and r.content_type == "text/javascript"
        etag = r.headers["ETag"]
    async with mock_gateway.session.get(
        mock_gateway.base + "/ui/static/js/app.js", headers={"If-None-Match": etag}
    ) as r:
        assert r.status == 304
    async with mock_gateway.session.get(mock_gateway.base + "/ui/static/nope.js") as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


async def test_the_data_behind_the_page_needs_a_session(mock_gateway) -> None:
    status, body = await get(mock_gateway, "/ui/api/session")
    assert status == 401 and body["error"]["type"] == "authentication_error"
    status, _ = await get(mock_gateway, "/health/deployments")
    assert status == 401


async def test_login_with_the_master_key_sets_a_strict_http_only_secure_cookie(
    mock_gateway,
) -> None:
    status, body, set_cookie = await login(mock_gateway)
    assert status == 200 and set_cookie is not None
    jar: SimpleCookie = SimpleCookie()
    jar.load(set_cookie)
    morsel = jar[COOKIE]
    assert COOKIE.startswith("__Host-")
    assert morsel["httponly"] and morsel["secure"] and morsel["samesite"] == "Strict"
    assert morsel["path"] == "/" and not morsel["domain"]
    assert MASTER_KEY not in set_cookie and MASTER_KEY not in orjson.dumps(body).decode()
    assert body["user"]["kind"] == "master" and len(body["csrf_token"]) >= 32
    # the cookie opens the page's data
    status, info = await get(mock_gateway, "/ui/api/session", morsel.value)
    assert status == 200 and info["csrf_token"] == body["csrf_token"]
    status, health = await get(mock_gateway, "/health/deployments", morsel.value)
    assert status == 200 and health["healthy"] == 1


async def test_a_wrong_key_is_refused_without_a_cookie(mock_gateway) -> None:
    status, body, set_cookie = await login(mock_gateway, "sk-not-the-key")
    assert status == 401 and set_cookie is None
    assert body["error"]["type"] == "authentication_error"
    status, body, _ = await login(mock_gateway, "")
    assert status == 400 and body["error"]["param"] == "key"


async def test_guessing_the_key_is_throttled_per_address(mock_gateway) -> None:
    for _ in range(10):
        status, _, _ = await login(mock_gateway, "sk-guess")
        assert status == 401
    async with mock_gateway.session.post(
        mock_gateway.base + "/ui/login", data=orjson.dumps({"key": MASTER_KEY})
    ) as r:
        assert r.status == 429 and int(r.headers["retry-after"]) > 0
        assert "Set-Cookie" not in r.headers


async def test_login_from_another_site_is_refused(mock_gateway) -> None:
    status, body, set_cookie = await login(mock_gateway, Origin="https://evil.example")
    assert body["error"]["type"] == "permission_error"
    assert status == 403 and set_cookie is None


async def test_a_change_made_with_the_cookie_needs_the_csrf_token(mock_gateway) -> None:
    _, body, set_cookie = await login(mock_gateway)
    assert set_cookie is not None
    cookie, csrf = cookie_value(set_cookie), body["csrf_token"]
    status, err, _ = await post(mock_gateway, "/ui/api/logout", cookie, None)
    assert status == 403 and err["error"]["code"] == "csrf_token_invalid"
    status, err, _ = await post(mock_gateway, "/ui/api/logout", cookie, "x" * 43)
    assert status == 403
    # the right token from another site's page is refused too
    status, err, _ = await post(
        mock_gateway, "/ui/api/logout", cookie, csrf, Origin="https://evil.example"
    )
    assert status == 403
    status, _ = await get(mock_gateway, "/ui/api/session", cookie)
    assert status == 200  # none of those logged out


async def test_logout_clears_the_cookie_and_ends_the_session(mock_gateway) -> None:
    _, body, set_cookie = await login(mock_gateway)
    assert set_cookie is not None
    cookie = cookie_value(set_cookie)
    origin = mock_gateway.base
    status, out, cleared = await post(
        mock_gateway, "/ui/api/logout", cookie, body["csrf_token"], Origin=origin
    )
    assert status == 200 and out == {"logged_out": True}
    assert cleared is not None and COOKIE in cleared and "Max-Age=0" in cleared
    status, err = await get(mock_gateway, "/ui/api/session", cookie)
    assert status == 401 and "logged out" in err["error"]["message"]


async def test_a_bearer_key_wins_over_the_cookie(mock_gateway) -> None:
    async with mock_gateway.session.get(
        mock_gateway.base + "/ui/api/session",
        headers={"Cookie": f"{COOKIE}=garbage", "Authorization": f"Bearer {MASTER_KEY}"},
    ) as r:
        assert r.status == 200 and (await r.json())["csrf_token"] is None


async def test_a_session_survives_a_restart_and_works_on_another_worker(
    dev_certs, tmp_path
) -> None:
    """The signing key comes from the master key: a new process with the same config (a
    reload, another worker) accepts the cookie, until a logout on any of them; a changed
    master key ends every session."""
    models = [{"model_name": "mock", "litellm_params": {"model": "mock/echo"}}]
    general = {"master_key": MASTER_KEY, "database_url": str(tmp_path / "lc.db")}
    config = make_config(models, general_settings=general)
    async with run_gateway(config, dev_certs) as first:
        _, body, set_cookie = await login(first)
        _, _, other_cookie = await login(first)
    assert set_cookie is not None and other_cookie is not None
    cookie, other = cookie_value(set_cookie), cookie_value(other_cookie)
    async with run_gateway(config, dev_certs) as second, run_gateway(config, dev_certs) as third:
        assert (await get(second, "/ui/api/session", cookie))[0] == 200
        assert (await get(third, "/ui/api/session", cookie))[0] == 200
        # logged out on one worker: refused on the other
        assert (await post(second, "/ui/api/logout", cookie, body["csrf_token"]))[0] == 200
        status, err = await get(third, "/ui/api/session", cookie)
        assert status == 401 and "logged out" in err["error"]["message"]
        assert (await get(third, "/ui/api/session", other))[0] == 200
    other_key = replace(config, master_key="sk-other")
    async with run_gateway(other_key, dev_certs) as fourth:
        status, err = await get(fourth, "/ui/api/session", other)
        assert status == 401 and "not a session of this gateway" in err["error"]["message"]


# -- the session itself, without a server ---------------------------------------------------


def test_a_tampered_cookie_is_not_a_session() -> None:
    sessions = Sessions("sk-master")
    _, cookie = sessions.issue("master", now=1000.0)
    payload, mac = cookie.split(".")
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + mac
    for bad in (forged, payload, payload + ".", "x.y", ""):
        with pytest.raises(SessionRefused):
            sessions.check(bad, now=1001.0)
    assert sessions.check(cookie, now=1001.0).subject == "master"


def test_a_session_ends_at_its_expiry_however_much_it_is_used() -> None:
    sessions = Sessions("sk-master", ttl=60)
    session, cookie = sessions.issue("master", now=1000.0)
    assert sessions.check(cookie, now=1059.0) == session
    with pytest.raises(SessionRefused, match="expired"):
        sessions.check(cookie, now=1060.0)


def test_the_throttle_forgets_failures_after_its_window() -> None:
    t = LoginThrottle(limit=3, window=60)
    for i in range(3):
        assert t.retry_after("1.2.3.4", 100.0 + i) is None
        t.failed("1.2.3.4", 100.0 + i)
    assert t.retry_after("1.2.3.4", 110.0) == pytest.approx(50.0)
    assert t.retry_after("5.6.7.8", 110.0) is None
    assert t.retry_after("1.2.3.4", 161.0) is None


async def test_the_pages_files_and_reads_make_no_access_line_its_changes_do(
    dev_certs, caplog: pytest.LogCaptureFixture
) -> None:
    """The page refreshes itself every few seconds: its files and its reads would bury the
    log; what it changes (log in, log out, keys) is logged like any API call."""
    caplog.set_level(logging.INFO, logger="litecursor.access")
    lines = io.StringIO()
    models = [{"model_name": "mock", "litellm_params": {"model": "mock/echo"}}]
    async with run_gateway(make_config(models), dev_certs, access_stream=lines) as gw:
        for path in ("/ui/", "/ui/static/js/app.js"):
            async with gw.session.get(gw.base + path) as r:
                assert r.status == 200
        _, body, set_cookie = await login(gw)
        assert set_cookie is not None
        cookie = cookie_value(set_cookie)
        assert (await get(gw, "/health/deployments", cookie))[0] == 200
        assert (await post(gw, "/ui/api/logout", cookie, body["csrf_token"]))[0] == 200
        # the same read with a bearer key is an API call: logged
        async with gw.session.get(
            gw.base + "/health/deployments", headers={"Authorization": f"Bearer {MASTER_KEY}"}
        ) as r:
            assert r.status == 200
    routes = [line.split()[6] for line in lines.getvalue().splitlines()]
    assert routes == ["/ui/login", "/ui/api/logout", "/health/deployments"]
