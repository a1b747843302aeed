"""The admin page at `/ui`: served by the gateway itself, no build step, the project's own code."""

from .pages import add_routes

__all__ = ["add_routes"]
