"""Typed keys for state on the application and on each request."""

from __future__ import annotations

from aiohttp import web

from ..config import Config
from ..context import RequestContext
from ..router import Router
from ..upstream import UpstreamClient
from .access import AccessLog

CONFIG = web.AppKey("config", Config)
ROUTER = web.AppKey("router", Router)
UPSTREAM = web.AppKey("upstream", UpstreamClient)
CONTEXT = web.RequestKey("context", RequestContext)
STARTED = web.AppKey("started", float)
ACCESS_LOG = web.AppKey("access_log", AccessLog)
