"""LiteLLM's key, user, team and spend endpoints over HTTPS, on the embedded database."""

from __future__ import annotations

from typing import Any

import pytest

from litecursor.server.keys import STORE
from litecursor.store import SpendRow
from litecursor.store.tokens import hash_key

from .conftest import GatewayFactory
from .harness import Gateway

MOCK = [{"model_name": "mock", "litellm_params": {"model": "mock/echo"}}]


@pytest.fixture
async def gw(gateway_factory: GatewayFactory) -> Gateway:
    return await gateway_factory(MOCK)


async def call(gw: Gateway, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    if method == "POST":
        resp = await gw.post(path, body if body is not None else {}, **kw)
    else:
        key = kw.pop("key", "sk-test-master")
        resp = await gw.session.get(
            gw.base + path, headers={"authorization": f"Bearer {key}"}, **kw
        )
    async with resp:
        return resp.status, await resp.json()


async def test_a_generated_key_is_shown_once_and_found_by_key_or_hash(gw: Gateway) -> None:
    status, made = await call(
        gw, "POST", "/key/generate",
        {"key_alias": "alice", "models": ["mock"], "max_budget": 5, "budget_duration": "30d",
         "rpm_limit": 10, "duration": "1h", "metadata": {"team": "core"}},
    )  # fmt: skip
    assert status == 200, made
    key = made["key"]
    assert key.startswith("sk-") and made["token"] == hash_key(key)
    assert made["max_budget"] == 5 and made["budget_duration"] == "30d" and made["expires"]
    for name in (key, hash_key(key)):
        status, info = await call(gw, "GET", "/key/info", params={"key": name})
        assert status == 200 and info["info"]["key_alias"] == "alice"
        assert key not in str(info)
    status, listed = await call(gw, "GET", "/key/list", params={"return_full_object": "true"})
    assert listed["total_count"] == 1 and key not in str(listed)
    assert listed["keys"][0]["key_name"] == f"sk-...{key[-4:]}"


async def test_update_block_unblock_regenerate_delete(gw: Gateway) -> None:
    _, made = await call(gw, "POST", "/key/generate", {"key_alias": "bob"})
    key = made["key"]
    status, upd = await call(
        gw, "POST", "/key/update", {"key": key, "models": ["mock"], "tpm_limit": 1000}
    )
    assert status == 200 and upd["models"] == ["mock"] and upd["tpm_limit"] == 1000
    assert (await call(gw, "POST", "/key/block", {"key": key}))[1]["blocked"] is True
    assert (await call(gw, "POST", "/key/unblock", {"key": key}))[1]["blocked"] is False
    status, regen = await call(gw, "POST", "/key/regenerate", {"key": key})
    assert status == 200 and regen["key"] != key and regen["key_alias"] == "bob"
    assert (await call(gw, "GET", "/key/info", params={"key": key}))[0] == 404
    status, gone = await call(gw, "POST", "/key/delete", {"key_aliases": ["bob"]})
    assert status == 200 and gone == {"deleted_keys": [hash_key(regen["key"])]}
    assert (await call(gw, "GET", "/key/info", params={"key": regen["key"]}))[0] == 404


async def test_bad_bodies_are_400_naming_the_field(gw: Gateway) -> None:
    cases = [
        ({"max_budget": "ten"}, "max_budget"),
        ({"budget_duration": "monthly"}, "budget_duration"),
        ({"models": "mock"}, "models"),
        ({"rpm_limit": 1.5}, "rpm_limit"),
        ({"color": "red"}, "color"),
        ({"team_id": "nope"}, "team_id"),
        ({"key": "sk-short"}, "key"),
    ]
    for body, param in cases:
        status, err = await call(gw, "POST", "/key/generate", body)
        assert status == 400 and err["error"]["param"] == param, (body, err)
    await call(gw, "POST", "/key/generate", {"key_alias": "dup"})
    status, err = await call(gw, "POST", "/key/generate", {"key_alias": "dup"})
    assert status == 400 and "already used" in err["error"]["message"]


async def test_the_admin_endpoints_need_the_master_key(gw: Gateway) -> None:
    _, made = await call(gw, "POST", "/key/generate", {})
    for method, path in (("POST", "/key/generate"), ("GET", "/key/list"), ("GET", "/spend/logs")):
        status, _ = await call(gw, method, path, key=made["key"])
        assert status in (401, 403), path
        status, _ = await call(gw, method, path, key="sk-wrong")
        assert status == 401, path


async def test_users_and_teams_with_their_budgets_and_keys(gw: Gateway) -> None:
    status, team = await call(
        gw, "POST", "/team/new", {"team_alias": "core", "max_budget": 100, "models": ["mock"]}
    )
    assert status == 200 and team["team_id"] and team["max_budget"] == 100
    status, user = await call(
        gw, "POST", "/user/new",
        {"user_id": "ann", "user_email": "ann@example.com", "team_id": team["team_id"],
         "max_budget": 10, "budget_duration": "1mo"},
    )  # fmt: skip
    assert status == 200 and user["key"].startswith("sk-")
    assert user["budget_reset_at"].endswith("-01T00:00:00Z")  # calendar months
    status, info = await call(gw, "GET", "/user/info", params={"user_id": "ann"})
    assert status == 200 and info["user_info"]["user_email"] == "ann@example.com"
    assert [k["token"] for k in info["keys"]] == [hash_key(user["key"])]
    status, tinfo = await call(gw, "GET", "/team/info", params={"team_id": team["team_id"]})
    assert status == 200 and tinfo["team_info"]["team_alias"] == "core" and len(tinfo["keys"]) == 1
    assert (await call(gw, "POST", "/user/new", {"user_id": "ann"}))[0] == 400
    assert (await call(gw, "GET", "/team/info", params={"team_id": "nope"}))[0] == 404


def _row(i: int, key: str, **kw: Any) -> SpendRow:
    fields: dict[str, Any] = dict(
        request_id=f"r{i:03d}", start_time=1_780_000_000.0 + i * 3600, end_time=1_780_000_001.0 + i * 3600,
        key_hash=hash_key(key), key_alias="alice", user_id="ann", model="mock", model_group="mock",
        prompt_tokens=10, completion_tokens=5, spend=0.5,
    )  # fmt: skip
    fields.update(kw)
    return SpendRow(**fields)


async def test_spend_logs_filter_and_page_and_the_report_groups(gw: Gateway) -> None:
    _, made = await call(gw, "POST", "/key/generate", {"key_alias": "alice"})
    key = made["key"]
    rows = [_row(i, key) for i in range(5)] + [
        _row(5, "sk-other", user_id="bob", key_alias=None, spend=2.0)
    ]
    await gw.app[STORE].write_spend(rows)
    resp = await gw.session.get(
        gw.base + "/spend/logs", params={"api_key": key, "limit": "2"},
        headers={"authorization": "Bearer sk-test-master"},
    )  # fmt: skip
    page = await resp.json()
    assert [r["request_id"] for r in page] == ["r004", "r003"]
    assert page[0]["api_key"] == hash_key(key) and page[0]["total_tokens"] == 15
    cursor = resp.headers["x-litecursor-next-cursor"]
    _, page2 = await call(
        gw, "GET", "/spend/logs", params={"api_key": key, "limit": "2", "cursor": cursor}
    )
    assert [r["request_id"] for r in page2] == ["r002", "r001"]
    _, one = await call(gw, "GET", "/spend/logs", params={"request_id": "r005"})
    assert one[0]["user"] == "bob" and one[0]["spend"] == 2.0
    _, report = await call(gw, "GET", "/global/spend/report", params={"group_by": "user"})
    assert [(r["user"], r["spend"], r["requests"]) for r in report] == [
        ("ann", 2.5, 5),
        ("bob", 2.0, 1),
    ]
    _, by_key = await call(
        gw, "GET", "/global/spend/report",
        params={"group_by": "key", "start_date": "2026-05-28", "end_date": "2026-05-28"},
    )  # fmt: skip
    assert by_key[0]["key_alias"] == "alice"
    status, err = await call(gw, "GET", "/global/spend/report", params={"group_by": "color"})
    assert status == 400 and err["error"]["param"] == "group_by"
