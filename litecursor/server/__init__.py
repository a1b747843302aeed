"""The aiohttp shell around the protocol core."""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
