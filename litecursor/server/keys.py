"""Typed keys for state on the application and on each request."""

from __future__ import annotations

from aiohttp import web

from ..accounting.service import AccountingService
from ..config import Config
from ..observe import Observability
from ..pipeline import Call, Pipeline
from ..redaction import Redactor
from ..replay import ReasoningReplay
from ..requestlog.bodies import Bodies
from ..router import Router
from ..store import Store
from ..upstream import UpstreamClient
from .access import AccessLog
from .lasting import Lasting

CONFIG = web.AppKey("config", Config)
ROUTER = web.AppKey("router", Router)
UPSTREAM = web.AppKey("upstream", UpstreamClient)
PIPELINE = web.AppKey("pipeline", Pipeline)
REPLAY = web.AppKey("replay", ReasoningReplay)
CALL = web.RequestKey("call", Call)
STARTED = web.AppKey("started", float)
ACCESS_LOG = web.AppKey("access_log", AccessLog)
STORE = web.AppKey("store", Store)
OBSERVE = web.AppKey("observe", Observability)
ACCOUNTING = web.AppKey("accounting", AccountingService)
#: reserve budgets in the database whatever it is (None: only on PostgreSQL)
SHARED_BUDGETS: web.AppKey[bool | None] = web.AppKey("shared_budgets")
BODIES = web.AppKey("bodies", Bodies)
#: every credential the config holds, to keep out of what leaves the process
REDACTOR = web.AppKey("redactor", Redactor)
#: what the process keeps across reloads (server.lasting)
LASTING = web.AppKey("lasting", Lasting)
