"""Which deployments serve a requested model name: aliases, exact groups, Cursor's variants of them
(`gpt-5.4-thinking-high`), then wildcard patterns."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..config import Deployment
from ..config.router import wildcard_regex
from ..errors import InvalidRequestError
from ..protocol.variants import Variant, split_variant


@dataclass(frozen=True, slots=True)
class Group:
    """The deployments serving one request's model: `name` is the group's `model_name`
    (the pattern, for a wildcard group), which the routing headers report."""

    name: str
    deployments: tuple[Deployment, ...]
    #: the suffix of a variant name (`-thinking-high`), applied to the request per deployment
    variant: Variant | None = None


class Names:
    def __init__(self, deployments: Iterable[Deployment], aliases: Mapping[str, str]) -> None:
        grouped: dict[str, list[Deployment]] = {}
        for d in deployments:
            grouped.setdefault(d.model_name, []).append(d)
        self.aliases = dict(aliases)
        self._exact = {
            name: Group(name, tuple(ds)) for name, ds in grouped.items() if "*" not in name
        }
        patterns = [(name, ds) for name, ds in grouped.items() if "*" in name]
        # the most specific pattern wins: most literal characters, then config order
        patterns.sort(key=lambda p: -len(p[0].replace("*", "")))
        self._patterns = [(wildcard_regex(name), Group(name, tuple(ds))) for name, ds in patterns]
        self.model_names = [*grouped, *(a for a in self.aliases if a not in grouped)]

    def resolve(self, model: str) -> Group | None:
        """The group for `model`. A name configured (or aliased) as it is always wins; then
        a variant of a configured name (`gpt-5.4-high` when `gpt-5.4` is configured); then
        the wildcard patterns, which forward the whole name."""
        group = self._exact.get(self.aliases.get(model, model))
        if group is not None:
            return group
        found = split_variant(model)
        if found is not None:
            base, variant = found
            group = self._exact.get(self.aliases.get(base, base))
            if group is not None:
                return dataclasses.replace(group, variant=variant)
        group = self._pattern(self.aliases.get(model, model))
        if group is None and found is not None:
            group = self._pattern(self.aliases.get(found[0], found[0]))
            if group is not None:
                return dataclasses.replace(group, variant=found[1])
        return group

    def _pattern(self, name: str) -> Group | None:
        for pattern, group in self._patterns:
            m = pattern.fullmatch(name)
            if m is not None:
                captures = m.groups()
                filled = tuple(_fill(d, captures, name) for d in group.deployments)
                return Group(group.name, filled)
        return None


#: what no model name has, and what would change an upstream URL built with one
_UNSAFE = frozenset("?#%\\")


def forwardable(name: str, part: str) -> None:
    """Refuse a requested name whose wildcard part could change the upstream URL it is sent
    to: control characters, whitespace, `?#%\\`, or `.`/`..` path segments (`x/../../admin`).
    Adapters quote what they put in a path as well; this says what is wrong, with a 400."""
    bad = (
        not part.isprintable()
        or any(c.isspace() or c in _UNSAFE for c in part)
        or part.startswith("/")
        or any(seg in (".", "..") for seg in part.split("/"))
    )
    if bad:
        raise InvalidRequestError(
            f"model '{name}' cannot be forwarded to a provider: a name may not hold control "
            "characters, spaces, '?', '#', '%', '\\', a leading '/' or '.' and '..' segments",
            param="model",
            code="invalid_model_name",
        )


def _fill(d: Deployment, captures: tuple[str, ...], name: str) -> Deployment:
    """The deployment with the requested name forwarded: each `*` of its upstream model is
    replaced by what the matching `*` of the pattern matched (`claude-*` -> `claude-opus-4`)."""
    model = d.target.model
    if "*" not in model:
        return d
    for part in captures:
        forwardable(name, part)
    for part in captures:
        model = model.replace("*", part, 1)
    model = model.replace("*", captures[-1] if captures else "")
    litellm_model = d.litellm_model[: len(d.litellm_model) - len(d.target.model)] + model
    return dataclasses.replace(
        d, litellm_model=litellm_model, target=dataclasses.replace(d.target, model=model)
    )
