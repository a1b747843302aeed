"""The state directory: where the ACME account and certificates live, and how files in it are written.

`--state-dir` wins; under systemd `StateDirectory=` hands the service `$STATE_DIRECTORY` (the
first path when several are listed); else `$XDG_DATA_HOME/litecursor`, i.e.
`~/.local/share/litecursor`. Private keys are written with mode 0600 from the start, and every
file is replaced atomically, so a crash or a concurrent reader never sees half a certificate.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["default_state_dir", "exclusive_lock", "prepare", "write_atomic"]


def default_state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    state = environ.get("STATE_DIRECTORY", "")
    if state:
        return Path(state.split(":")[0])
    data_home = environ.get("XDG_DATA_HOME", "")
    base = Path(data_home) if data_home else Path.home() / ".local" / "share"
    return base / "litecursor"


def prepare(directory: Path) -> Path:
    """Create the directory (and parents) private to this user; return it."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to a temporary file beside `path`, created with `mode`, then rename it over
    `path`: readers see the old file or the new one, never a mix; a key is never readable by
    others, not even for a moment."""
    prepare(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an advisory lock on `path` (blocking): two gateways sharing a state directory, a
    restart overlapping the old process, never run an ACME order side by side."""
    prepare(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
