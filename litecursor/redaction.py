"""Credentials out of every text that leaves the process: one `Redactor` knows every secret the config holds.

Providers echo the key they were sent ("Incorrect API key provided: sk-proj-****abcd"), in JSON
errors, HTML error pages and in-stream error events. Upstream text is cleaned where it enters
the process (the router, for every error an attempt ends with; the chunk encoder, for an error
event inside a stream) and once more where an error is rendered (the error body, the access
line, the health endpoint), so a message that reaches a client, a log or a stored row never
carries a credential, whole or in the partial forms providers print.

A new kind of credential registers where it lives: a settings field declared `repr=False` is
found as it is, another place gets a reader in `CREDENTIAL_SOURCES`, and those minted at run
time (a Google access token, temporary AWS keys) go to `Redactor.learn`: each `RequestAuth`
hands them over through `watch_secrets`. The request log's prompts and answers also lose
anything shaped like a key (`Redactor.everything`).
"""

from __future__ import annotations

import dataclasses
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import LitecursorError

if TYPE_CHECKING:
    from .config import Deployment

REDACTED = "[redacted]"

#: shorter values are not treated as secrets: they are placeholders ("none", "EMPTY") or words
#: that would blank out ordinary text, and guess no harder than a PIN
MIN_SECRET = 6
#: secrets shorter than this are redacted only as whole tokens, longer ones anywhere
_WHOLE_TOKEN_BELOW = 12
#: a cut-off text may end with the first characters of a secret: this many are enough to redact
_MIN_CUT_PREFIX = 6
#: a masked form shows this many of a secret's last (or first) characters at least
_MIN_SHOWN = 4
#: secrets learnt at run time kept (the newest): tokens expire, and each costs a little on
#: every redaction
LEARNT = 256

#: header and query parameter names whose values are credentials (any name containing one of
#: these, in any case)
SECRET_NAME_WORDS = ("auth", "key", "token", "secret", "password", "sig", "cookie", "credential")
#: schemes whose token follows a space in an Authorization-style value
_AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "apikey", "key"})

_TOKEN = r"[A-Za-z0-9_\-]"
#: a credential shown in part: visible head, a run of mask characters, visible tail
_MASKED = re.compile(rf"({_TOKEN}*)(?:\*{{3,}}|…|\.{{3,}}|x{{6,}})({_TOKEN}*)")


def api_key(d: Deployment) -> Iterator[str]:
    if d.target.api_key:
        yield d.target.api_key


def secret_headers(d: Deployment) -> Iterator[str]:
    """Values of the deployment's own headers whose names say they carry a credential, and
    the token of an `Authorization: <scheme> <token>` value."""
    for name, value in d.target.headers.items():
        if not _secret_name(name):
            continue
        yield value
        scheme, _, token = value.strip().partition(" ")
        if token and scheme.lower() in _AUTH_SCHEMES:
            yield token.strip()


def url_credentials(d: Deployment) -> Iterator[str]:
    """A password in the `api_base` URL's user info, and credential query values (`?key=...`)."""
    try:
        parts = urlsplit(d.target.api_base)
        password = parts.password
    except ValueError:
        return
    if password:
        yield unquote(password)
    for name, value in parse_qsl(parts.query):
        if _secret_name(name):
            yield value


def _secret_name(name: str) -> bool:
    low = name.lower()
    return any(word in low for word in SECRET_NAME_WORDS)


#: settings fields that hold credentials whatever their type says (`repr=False` marks the rest)
_SECRET_FIELDS = frozenset({"api_key", "master_key", "headers"})
#: config strings shorter than this found by `secrets_in` are not worth a search (regions)
_MIN_MARKED = 12


def secrets_in(obj: Any, name: str = "") -> list[str]:
    """The secret strings in the settings `obj`: dataclass fields declared `repr=False` (how
    the config marks credentials: cloud keys, tokens, private keys), `api_key`s and header
    values, at any depth."""
    found: list[str] = []
    if isinstance(obj, str):
        if name and len(obj) >= _MIN_MARKED:
            found.append(obj)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            secret = not f.repr or f.name in _SECRET_FIELDS
            found += secrets_in(getattr(obj, f.name), f.name if secret else "")
    elif isinstance(obj, Mapping):
        for value in obj.values():
            found += secrets_in(value, name)
    elif isinstance(obj, list | tuple | frozenset | set):
        for value in obj:
            found += secrets_in(value, name)
    return found


def marked_secrets(d: Deployment) -> Iterator[str]:
    """Every field of the deployment the config marks as a credential (Vertex AI and AWS
    credentials among them): a new kind is found as soon as its field says `repr=False`."""
    yield from secrets_in(d)


CredentialSource = Callable[["Deployment"], Iterable[str]]
#: where a deployment's credentials live; a credential the config marks (`repr=False`) is
#: found by `marked_secrets`, another kind adds its reader here
CREDENTIAL_SOURCES: tuple[CredentialSource, ...] = (
    api_key,
    secret_headers,
    url_credentials,
    marked_secrets,
)

#: an API key as OpenAI, Anthropic, OpenRouter and litecursor's virtual keys write them, and
#: the value of a bearer or Authorization header, in JSON or in a curl line: whoever's it is,
#: a prompt or an answer stored in the request log loses it (`Redactor.everything`)
KEY_SHAPES = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"\bsk-[A-Za-z0-9_\-]{16,}",
            r"(?i:(?<=bearer ))[A-Za-z0-9._~+/\-]{12,}=*",
            r"(?i:(?<=authorization: ))[^\s\"',]{12,}",
            r"(?i:(?<=\"authorization\": \"))[^\"]{12,}",
        )
    )
)


def deployment_secrets(d: Deployment) -> Iterator[str]:
    for source in CREDENTIAL_SOURCES:
        yield from source(d)


class Redactor:
    """Replaces every known secret in a text with `[redacted]`: whole, shown in part around
    a mask (`sk-proj-****abcd`, `sk-…abcd`, `sk-abc...wxyz`), or cut off at the end of the text.

    Called only on error paths (an error message, the access line of a failed request), never
    per streamed chunk. `learn` takes secrets obtained at run time.
    """

    __slots__ = ("_kept", "_learnt", "_pattern", "_secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._kept: set[str] = set()  # for as long as the process runs (the config's)
        self._learnt: deque[str] = deque(maxlen=LEARNT)
        self._secrets: tuple[str, ...] = ()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    @classmethod
    def for_deployments(cls, deployments: Iterable[Deployment], *extra: str) -> Redactor:
        """Every credential of the deployments, and `extra` ones (the master key)."""
        found: list[str] = list(extra)
        for d in deployments:
            found.extend(deployment_secrets(d))
        return cls(found)

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    @property
    def margin(self) -> int:
        """Bytes past a cut that a text must be kept to, for no secret to be split by it."""
        return max((len(s.encode()) for s in self._secrets), default=0) + 64

    def add(self, *secrets: str) -> None:
        """Secrets to redact for as long as the process runs."""
        new = {s.strip() for s in secrets if s and len(s.strip()) >= MIN_SECRET} - self._kept
        if new:
            self._kept |= new
            self._rebuild()

    def learn(self, secret: str) -> None:
        """A secret obtained at run time (a token): redacted from now on, among the newest
        `LEARNT` ones."""
        secret = secret.strip() if secret else ""
        if len(secret) >= MIN_SECRET and secret not in self._kept and secret not in self._learnt:
            self._learnt.append(secret)
            self._rebuild()

    def _rebuild(self) -> None:
        # longest first: a secret that contains another is replaced whole
        every = self._kept.union(self._learnt)
        self._secrets = tuple(sorted(every, key=lambda s: (-len(s), s)))
        alternatives = [
            re.escape(s)
            if len(s) >= _WHOLE_TOKEN_BELOW
            else rf"(?<!{_TOKEN}){re.escape(s)}(?!{_TOKEN})"
            for s in self._secrets
        ]
        self._pattern = re.compile("|".join(alternatives))

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        text = pattern.sub(REDACTED, text)
        if "*" in text or "…" in text or "..." in text or "xxxxxx" in text:
            text = _MASKED.sub(self._masked, text)
        return self._cut(text)

    def everything(self, text: str) -> str:
        """`self(text)`, and anything shaped like a key or a bearer credential taken out too:
        for the prompts and answers the request log keeps (a developer may paste a key)."""
        return KEY_SHAPES.sub(REDACTED, self(text))

    def error(self, e: LitecursorError) -> LitecursorError:
        """The same error with its message cleaned (in place: it may already be referenced)."""
        clean = self(e.message)
        if clean != e.message:
            e.message = clean
            e.args = (clean, *e.args[1:])
        return e

    def _masked(self, m: re.Match[str]) -> str:
        head, tail = m.group(1), m.group(2)
        for s in self._secrets:
            if len(tail) >= _MIN_SHOWN and s.endswith(tail) and len(tail) < len(s):
                return REDACTED
            if len(head) >= _MIN_SHOWN + 2 and s.startswith(head) and len(head) < len(s):
                return REDACTED
        return m.group(0)

    def _cut(self, text: str) -> str:
        """A text cut to a length (an error body kept to 500 characters) may end inside a
        secret: its first characters are redacted too."""
        n = len(text)
        for s in self._secrets:
            probe = s[:_MIN_CUT_PREFIX]
            i = text.find(probe, max(0, n - len(s)))
            while i >= 0:
                if s.startswith(text[i:]):
                    return text[:i] + REDACTED
                i = text.find(probe, i + 1)
        return text
