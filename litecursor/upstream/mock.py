"""The mock transport: `mock://` requests answered in-process by the mock model, paced like a network stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from types import TracebackType

from ..protocol.providers import HttpRequest
from ..protocol.providers.mock import MockAnswer, respond


class _MockResponse:
    __slots__ = ("_answer", "headers", "status")

    def __init__(self, answer: MockAnswer) -> None:
        self._answer = answer
        self.status = answer.status
        self.headers: Mapping[str, str] = {"content-type": answer.content_type}

    async def chunks(self) -> AsyncIterator[bytes]:
        delay = self._answer.delay
        for i, piece in enumerate(self._answer.pieces):
            if delay and i:
                await asyncio.sleep(delay)
            yield piece

    async def read(self, limit: int) -> bytes:
        return b"".join(self._answer.pieces)

    async def read_start(self, limit: int) -> bytes:
        return b"".join(self._answer.pieces)[:limit]


class MockExchange:
    """One request to the mock model and its response, as `UpstreamClient.open` hands out."""

    __slots__ = ("_http",)

    def __init__(self, http: HttpRequest) -> None:
        self._http: HttpRequest | None = http

    async def __aenter__(self) -> _MockResponse:
        http, self._http = self._http, None
        assert http is not None, "an exchange is entered once"
        return _MockResponse(respond(http))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
