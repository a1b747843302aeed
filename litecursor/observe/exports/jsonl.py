"""The `jsonl` exporter: one JSON line per request appended to a file, rotated by size.

Lines are written in batches from a worker thread, so a slow disk never holds up the event
loop. When the file would grow past `max_bytes` it becomes `path.1` (the older ones move to
`path.2` ... up to `backups`, the oldest deleted) and a new file starts.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import IO

import orjson

from ...config.observability import JsonlExport
from .record import Record


class JsonlFile:
    """Appends lines to one file, rotating it by size. Used from one thread at a time."""

    def __init__(self, settings: JsonlExport) -> None:
        self.path = Path(settings.path)
        self.max_bytes = settings.max_bytes
        self.backups = settings.backups
        self._file: IO[bytes] | None = None
        self._size = 0

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # 0600: request records name keys, users and client addresses
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._file = os.fdopen(fd, "ab")
            self._size = os.fstat(fd).st_size
        return self._file

    def _rotate(self) -> None:
        self.close()
        if self.backups <= 0:
            self.path.unlink(missing_ok=True)
            return
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def write(self, records: list[Record]) -> None:
        data = b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in records)
        f = self._open()
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
            f = self._open()
        f.write(data)
        f.flush()
        self._size += len(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class JsonlExporter:
    name = "jsonl"

    def __init__(self, settings: JsonlExport) -> None:
        self.file = JsonlFile(settings)

    async def send(self, batch: list[Record]) -> None:
        await asyncio.to_thread(self.file.write, batch)

    async def aclose(self) -> None:
        self.file.close()
