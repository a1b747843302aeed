"""The aiohttp shell around the protocol core."""

from .app import DEFAULT_BACKLOG, create_app, listen

__all__ = ["DEFAULT_BACKLOG", "create_app", "listen"]
