"""What admission needs of one virtual key, worked out once per loaded record: its budgets,
rate-limit scopes and the one decision of which models it may call (admission and the model
list both ask it)."""

from __future__ import annotations

import fnmatch

from ..pipeline import Identity
from ..router.names import Group
from ..store import BudgetRef, KeyRecord, TeamRecord, UserRecord
from ..store.records import ALL_MODELS, BudgetKind, allows
from .budgets import Budgets
from .keycache import Identity as CachedIdentity
from .limits import Scope


class KeyPlan:
    """A key with its user and team, as admission uses it."""

    __slots__ = (
        "aliases",
        "blocked",
        "expires_at",
        "identity",
        "limited",
        "models",
        "refs",
        "scopes",
        "source",
    )

    @property
    def key(self) -> KeyRecord:
        """The key's record, as the cache loaded it."""
        return self.source.key

    def __init__(self, source: CachedIdentity, budgets: Budgets) -> None:
        key, user, team = source.key, source.user, source.team
        self.source = source
        self.blocked = key.blocked or (team is not None and team.blocked)
        self.expires_at = key.expires_at
        owners: list[tuple[BudgetKind, str, str | None, KeyRecord | UserRecord | TeamRecord]]
        owners = [("key", key.token, key.key_alias or key.key_name, key)]
        if user is not None:
            owners.append(("user", user.user_id, user.user_alias, user))
        if team is not None:
            owners.append(("team", team.team_id, team.team_alias, team))
        refs: list[BudgetRef] = []
        self.aliases: dict[BudgetRef, str | None] = {}
        self.limited: tuple[BudgetRef, ...] = ()
        scopes: list[Scope] = []
        models: list[tuple[str, tuple[str, ...]]] = []
        for kind, id, alias, record in owners:
            ref = BudgetRef(kind, id)
            refs.append(ref)
            self.aliases[ref] = alias
            budgets.track(ref, record.budget)
            if record.budget.max_budget is not None:
                self.limited += (ref,)
            lim = record.limits
            if lim.any:
                scopes.append(
                    Scope(f"{kind}:{id}", lim.rpm_limit, lim.tpm_limit, lim.max_parallel_requests)
                )
            if record.models and ALL_MODELS not in record.models:
                models.append((who(ref, alias), record.models))
        self.refs = tuple(refs)
        self.scopes = tuple(scopes)
        #: (who, their list) for each of the key, its user and its team that lists models:
        #: a model must be allowed by every one of them
        self.models = tuple(models)
        self.identity = Identity(
            key.token,
            kind="key",
            alias=key.key_alias,
            user_id=key.user_id,
            team_id=key.team_id,
            record=self,
            role=source.role,
        )

    def refusing(self, model: str, group: Group | None) -> tuple[str, tuple[str, ...]] | None:
        """Who (and their list) does not allow `model`, served by `group`; None when all of
        the key, its user and its team allow it. A Cursor variant counts as its base name, an
        alias as the group it names, and an entry may be a wildcard such as `claude-*`."""
        name = group.name if group is not None else None
        for owner, allowed in self.models:
            if allows(allowed, model, name):
                continue
            if any("*" in a and fnmatch.fnmatchcase(model, a) for a in allowed):
                continue
            return owner, allowed
        return None

    def named_models(self) -> list[str]:
        """The names the lists give literally (no wildcard), in their order: a key may be
        allowed an alias or one model of a wildcard group that the model list does not name."""
        names: dict[str, None] = {}
        for _, allowed in self.models:
            names.update((a, None) for a in allowed if "*" not in a)
        return list(names)


def who(ref: BudgetRef, alias: str | None) -> str:
    """How messages name a budget's owner: `key 'alice'`, `team 'eng'`, `the proxy`."""
    if ref.kind == "proxy":
        return "the proxy"
    name = alias or ref.id
    return f"{ref.kind.replace('_', ' ')} '{name}'"
