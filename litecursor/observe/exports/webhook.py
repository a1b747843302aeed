"""The `webhook` exporter: request records POSTed in batches, as a JSON array, to a URL."""

from __future__ import annotations

import aiohttp
import orjson

from ...config.observability import WebhookExport
from ..delivery import post_json
from .record import Record


class WebhookExporter:
    name = "webhook"

    def __init__(self, settings: WebhookExport) -> None:
        self.settings = settings
        self.session: aiohttp.ClientSession | None = None

    async def send(self, batch: list[Record]) -> None:
        assert self.session is not None, "the exporter was not started"
        await post_json(self.session, self.settings.url, orjson.dumps(batch), self.settings.headers)

    async def aclose(self) -> None:
        pass
