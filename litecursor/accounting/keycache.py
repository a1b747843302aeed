"""Who a bearer token is, from memory: keys with their user and team, loaded once, kept fresh.

The request path never waits on the database for a key it has seen: records live here, and the
change feed (`Store.changes_since`, polled every `poll_interval`) drops what another process
changed (the CLI, another instance), within that interval; this instance's own changes drop
them at once. Unknown tokens are remembered as unknown for a short while, so random tokens cost
one lookup each, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..background import stop
from ..store import KeyRecord, Store, StoreError, TeamRecord, UserRecord
from ..store.tokens import hash_key
from .quiet import Throttled

log = logging.getLogger("litecursor.keys")
warn = Throttled(log)

#: how long a token found nowhere is not looked up again
NEGATIVE_TTL = 5.0
NEGATIVE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Identity:
    """A virtual key and the user and team it belongs to."""

    key: KeyRecord
    user: UserRecord | None = None
    team: TeamRecord | None = None

    @property
    def role(self) -> str | None:
        """The key's role (`metadata.role`): "admin" opens the admin API and page."""
        role = self.key.metadata.get("role")
        return role if isinstance(role, str) else None

    def usable(self, now: float) -> bool:
        """Neither the key nor its team is blocked, and the key has not expired."""
        blocked = self.key.blocked or (self.team is not None and self.team.blocked)
        return not blocked and not self.key.expired(now)


class KeyCache:
    def __init__(
        self,
        store: Store,
        *,
        poll_interval: float = 0.5,
        on_change: Callable[[str, str], None] | None = None,
    ) -> None:
        self.store = store
        self.poll_interval = poll_interval
        #: told of every change the feed brings (prices, end users: what others cache)
        self.on_change = on_change
        self._by_token: dict[str, Identity] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self._loads: dict[str, asyncio.Future[Identity | None]] = {}
        #: bumped by every invalidation: a load that started before one is not kept
        self._generation = 0

    async def start(self) -> None:
        self._seq = await self.store.last_change()
        self._task = asyncio.create_task(self._poll(), name="litecursor-key-cache")

    async def close(self) -> None:
        await stop(self._task)
        self._task = None

    def cached(self, token_hash: str) -> Identity | None:
        return self._by_token.get(token_hash)

    async def identify(self, key: str) -> Identity | None:
        """The identity of a bearer token, or None when it is no key (blocked and expired
        keys are returned: the caller decides, so all three look alike to the client)."""
        return await self.identify_hash(hash_key(key))

    async def identify_hash(self, token: str) -> Identity | None:
        """The same, from the key's hash (what an admin page session holds)."""
        found = self._by_token.get(token)
        if found is not None:
            return found
        seen = self._unknown.get(token)
        if seen is not None and time.monotonic() - seen < NEGATIVE_TTL:
            return None
        # one lookup however many requests with the same new key arrive together
        pending = self._loads.get(token)
        if pending is None:
            pending = self._loads[token] = asyncio.ensure_future(self._load(token))
            pending.add_done_callback(lambda _: self._loads.pop(token, None))
        return await asyncio.shield(pending)

    async def _load(self, token: str) -> Identity | None:
        # a change seen while the records were read may have changed them: read again
        for _ in range(3):
            generation = self._generation
            identity = await self._read(token)
            if generation == self._generation:
                break
        if identity is None:
            self._unknown[token] = time.monotonic()
            while len(self._unknown) > NEGATIVE_MAX:
                self._unknown.popitem(last=False)
            return None
        self._by_token[token] = identity
        self._unknown.pop(token, None)
        return identity

    async def _read(self, token: str) -> Identity | None:
        record = await self.store.get_key(token)
        if record is None:
            return None
        user = await self.store.get_user(record.user_id) if record.user_id else None
        team = await self.store.get_team(record.team_id) if record.team_id else None
        return Identity(record, user, team)

    def invalidate(self, kind: str, id: str) -> None:
        """Drop what a change touched: a key, or every key of a user or team."""
        self._generation += 1
        if kind == "key":
            self._by_token.pop(id, None)
            self._unknown.pop(id, None)
        elif kind in ("user", "team"):
            for token, ident in list(self._by_token.items()):
                owner = ident.key.user_id if kind == "user" else ident.key.team_id
                if owner == id:
                    del self._by_token[token]

    async def refresh(self) -> list[tuple[str, str]]:
        """Apply the change feed once; returns what changed."""
        self._seq, changed = await self.store.changes_since(self._seq)
        for kind, id in changed:
            self.invalidate(kind, id)
            if self.on_change is not None:
                self.on_change(kind, id)
        return changed

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.refresh()
            except StoreError as e:
                warn.warning("feed", "cannot read the change feed of %s: %s", self.store.where, e)
