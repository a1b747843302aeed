"""Environment files (`KEY=VALUE` lines) for provider keys: systemd credentials, Docker `--env-file`, a 0600 file.

The values join the process environment only as the config sees it (`os.environ/NAME`); the
real environment wins over a file, as with python-dotenv and Docker Compose, so a one-off
`OPENAI_API_KEY=... litecursor serve` still overrides. Re-read at each reload.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["EnvFileError", "environ_with", "read_env_file"]

_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")


class EnvFileError(Exception):
    """`str()` is one line naming the file, the line and the problem."""


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Blank lines and `#` comments are skipped; `export ` is allowed; a value may be quoted
    with ' (taken as is) or " (with \\n, \\" and \\\\ escapes); an unquoted value ends at ` #`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise EnvFileError(f"{os.fspath(path)}: cannot read: {reason}") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise EnvFileError(f"{os.fspath(path)}:{number}: expected NAME=value")
        name, value = match.groups()
        values[name] = _value(value, f"{os.fspath(path)}:{number}")
    return values


def _value(value: str, where: str) -> str:
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        while quote == '"' and end > 0 and value[end - 1] == "\\":
            end = value.find(quote, end + 1)
        if end < 0:
            raise EnvFileError(f"{where}: unterminated {quote} quote")
        rest = value[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            raise EnvFileError(f"{where}: unexpected text after the closing quote")
        inner = value[1:end]
        if quote == '"':
            inner = re.sub(
                r'\\([n"\\])', lambda m: "\n" if m.group(1) == "n" else m.group(1), inner
            )
        return inner
    return re.split(r"\s+#", value, maxsplit=1)[0].rstrip()


def environ_with(files: Sequence[str], base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment the config is read with: the files' values (later files win), then
    the real environment over them."""
    merged: dict[str, str] = {}
    for f in files:
        merged.update(read_env_file(f))
    merged.update(base)
    return merged
