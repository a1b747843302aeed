"""`litecursor keys|spend|db|prices`: the admin commands, on the database the config names."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from .accounting import manage, reports
from .accounting.setup import store_for
from .config import ConfigError, load
from .errors import LitecursorError
from .pricing import PriceFileError, parse_litellm, to_entries
from .store import SchemaTooNewError, Store, StoreError

EXIT_ERROR = 2


def add_commands(sub: Any) -> None:
    """Register the admin sub-commands on the main parser's sub-parsers."""
    keys = sub.add_parser("keys", help="virtual keys: create, list, info, update, block, delete")
    ksub = keys.add_subparsers(metavar="ACTION", required=True)

    c = ksub.add_parser("create", help="make a key (shown once)")
    _key_options(c)
    c.set_defaults(func=_run(_create))
    ls = ksub.add_parser("list", help="the keys (never a full key)")
    _common(ls)
    ls.add_argument("--user", help="only this user's keys")
    ls.add_argument("--team", help="only this team's keys")
    ls.set_defaults(func=_run(_list))
    i = ksub.add_parser("info", help="one key: limits, budget, spend")
    _common(i)
    i.add_argument("key", help="the key, its hash, or its alias")
    i.set_defaults(func=_run(_info))
    u = ksub.add_parser("update", help="change a key's models, budget or limits")
    u.add_argument("key", help="the key, its hash, or its alias")
    _key_options(u)
    u.set_defaults(func=_run(_update))
    b = ksub.add_parser("block", help="refuse a key (or --unblock it)")
    _common(b)
    b.add_argument("key", help="the key, its hash, or its alias")
    b.add_argument("--unblock", action="store_true", help="accept the key again")
    b.set_defaults(func=_run(_block))
    d = ksub.add_parser("delete", help="delete keys")
    _common(d)
    d.add_argument("keys", nargs="+", metavar="KEY", help="keys, hashes or aliases")
    d.set_defaults(func=_run(_delete))

    spend = sub.add_parser("spend", help="spend reports")
    ssub = spend.add_subparsers(metavar="ACTION", required=True)
    r = ssub.add_parser("report", help="spend grouped by key, user, team or model")
    _common(r)
    r.add_argument("--by", default="key", choices=["key", "user", "team", "model", "end_user"])
    r.add_argument("--since", help="7d, 12h, 1mo or a date (default: everything)")
    r.add_argument("--until", help="a date or ISO date-time (default: now)")
    r.set_defaults(func=_run(_report))

    db = sub.add_parser("db", help="the database")
    dsub = db.add_subparsers(metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="bring the schema up to date (serve does it at start)")
    _common(up, json=False)
    up.set_defaults(func=_run(_upgrade, migrate=False))

    prices = sub.add_parser("prices", help="the price table")
    psub = prices.add_subparsers(metavar="ACTION", required=True)
    imp = psub.add_parser("import", help="read LiteLLM's model_prices_and_context_window.json")
    _common(imp, json=False)
    imp.add_argument("file", help="a JSON file in LiteLLM's price format")
    imp.set_defaults(func=_run(_import_prices))


def _common(p: argparse.ArgumentParser, *, json: bool = True) -> None:
    p.add_argument("--config", "-c", default="config.yaml", help="the config naming the database")
    if json:
        p.add_argument("--json", action="store_true", help="JSON instead of a table")


def _key_options(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--alias", help="a name for the key (unique)")
    p.add_argument("--models", help="comma-separated model names it may call (default: all)")
    p.add_argument("--budget", type=float, help="max spend in US dollars")
    p.add_argument("--budget-duration", help="budget period: 30s, 1h, 1d, 30d, 1mo")
    p.add_argument("--rpm", type=int, help="requests per minute")
    p.add_argument("--tpm", type=int, help="tokens per minute")
    p.add_argument("--parallel", type=int, help="requests in flight at once")
    p.add_argument("--duration", help="expires after: 1h, 30d, 1mo")
    p.add_argument("--user", help="the user it belongs to")
    p.add_argument("--team", help="the team it belongs to")


def _key_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for attr, field in (
        ("alias", "key_alias"),
        ("budget", "max_budget"),
        ("budget_duration", "budget_duration"),
        ("rpm", "rpm_limit"),
        ("tpm", "tpm_limit"),
        ("parallel", "max_parallel_requests"),
        ("duration", "duration"),
        ("user", "user_id"),
        ("team", "team_id"),
    ):
        value = getattr(args, attr)
        if value is not None:
            body[field] = value
    if args.models is not None:
        body["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    return body


Command = Callable[[Store, argparse.Namespace], Awaitable[int]]


def _run(command: Command, *, migrate: bool = True) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            config = load(args.config)
        except ConfigError as e:
            return _error(str(e))
        store = store_for(config)

        async def go() -> int:
            await store.open(migrate=migrate)
            try:
                return await command(store, args)
            finally:
                await store.close()

        try:
            return asyncio.run(go())
        except (LitecursorError, SchemaTooNewError, StoreError) as e:
            return _error(getattr(e, "message", None) or str(e))

    return run


def _error(message: str) -> int:
    print(f"litecursor: error: {message}", file=sys.stderr)
    return EXIT_ERROR


async def _resolve(store: Store, name: str) -> str:
    """A key given as itself, its hash, or its alias."""
    _, found = await store.list_keys(key_alias=name, limit=1)
    if found:
        return found[0].token
    return (await manage.find_key(store, name)).token


# -- keys --------------------------------------------------------------------------------

_KEY_COLUMNS = (
    ("alias", "key_alias"),
    ("key", "key_name"),
    ("user", "user_id"),
    ("team", "team_id"),
    ("models", "models"),
    ("spend", "spend"),
    ("budget", "max_budget"),
    ("period", "budget_duration"),
    ("rpm", "rpm_limit"),
    ("tpm", "tpm_limit"),
    ("expires", "expires"),
    ("blocked", "blocked"),
)


async def _create(store: Store, args: argparse.Namespace) -> int:
    made = await manage.generate_key(store, _key_body(args))
    if args.json:
        _print_json(made)
    else:
        print(f"key: {made['key']}   (shown once: copy it now)")
        _table([made], _KEY_COLUMNS)
    return 0


async def _list(store: Store, args: argparse.Namespace) -> int:
    records = []
    offset = 0
    while True:
        total, page = await store.list_keys(
            user_id=args.user, team_id=args.team, offset=offset, limit=500
        )
        records += [manage.key_info(r) for r in page]
        offset += len(page)
        if not page or offset >= total:
            break
    if args.json:
        _print_json(records)
    else:
        _table(records, _KEY_COLUMNS)
    return 0


async def _info(store: Store, args: argparse.Namespace) -> int:
    record = await manage.find_key(store, await _resolve(store, args.key))
    info = manage.key_info(record)
    if args.json:
        _print_json(info)
    else:
        width = max(len(k) for k in info)
        for k, v in info.items():
            print(f"{k:<{width}}  {_cell(v)}")
    return 0


async def _update(store: Store, args: argparse.Namespace) -> int:
    body = {"key": await _resolve(store, args.key), **_key_body(args)}
    info = await manage.update_key(store, body)
    _print_json(info) if args.json else _table([info], _KEY_COLUMNS)
    return 0


async def _block(store: Store, args: argparse.Namespace) -> int:
    info = await manage.set_blocked(store, await _resolve(store, args.key), not args.unblock)
    _print_json(info) if args.json else _table([info], _KEY_COLUMNS)
    return 0


async def _delete(store: Store, args: argparse.Namespace) -> int:
    tokens = [await _resolve(store, k) for k in args.keys]
    done = await manage.delete_keys(store, {"keys": tokens})
    if args.json:
        _print_json(done)
    else:
        print(f"deleted {len(done['deleted_keys'])} key(s)")
    return 0


# -- spend, db, prices -------------------------------------------------------------------


async def _report(store: Store, args: argparse.Namespace) -> int:
    start = reports.since(args.since) if args.since else None
    end = reports.parse_time(args.until, "until", end=True) if args.until else None
    by = reports.group_by(args.by)
    rows = reports.report_rows(by, await store.spend_report(by, start, end))
    if args.json:
        _print_json(rows)
        return 0
    columns: list[tuple[str, str]] = [(by, by)]
    if by == "key":
        columns.append(("alias", "key_alias"))
    columns += [
        ("requests", "requests"),
        ("spend", "spend"),
        ("prompt", "prompt_tokens"),
        ("completion", "completion_tokens"),
        ("cached", "cached_tokens"),
    ]
    _table(rows, columns)
    print(
        f"total: ${sum(r['spend'] for r in rows):.4f} over {sum(r['requests'] for r in rows)} request(s)"
    )
    return 0


async def _upgrade(store: Store, args: argparse.Namespace) -> int:
    before = await store.schema_version()
    applied = await store.upgrade()
    if applied:
        print(f"{store.where}: schema upgraded from version {before} to {applied[-1]}")
    else:
        print(f"{store.where}: schema is up to date (version {before})")
    return 0


async def _import_prices(store: Store, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as e:
        return _error(f"{path}: cannot read: {e.strerror or e}")
    except orjson.JSONDecodeError as e:
        return _error(f"{path}: not valid JSON: {e}")
    try:
        prices = parse_litellm(data)
    except PriceFileError as e:
        return _error(f"{path}: {e}")
    if not prices:
        return _error(f"{path}: no model in it has a per-token price")
    count = await store.import_prices(to_entries(prices), time.time())
    print(
        f"imported {count} model price(s) into {store.where}; running servers use them within a second"
    )
    return 0


# -- output ------------------------------------------------------------------------------


def _print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4f}".rstrip("0").rstrip(".") if v else "0"
    if isinstance(v, list):
        return ",".join(v) or "all"
    return str(v)


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    cells = [[_cell(r.get(field)) for _, field in columns] for r in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, (h, _) in enumerate(columns)]
    print("  ".join(h.upper().ljust(w) for (h, _), w in zip(columns, widths, strict=True)).rstrip())
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
    if not rows:
        print("(none)")
