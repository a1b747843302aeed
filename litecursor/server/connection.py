"""The client connection: aiohttp's request handler with the limits a public server needs, and the listener.

What a client can hold without a key is bounded here, before any route runs:
- the request head (request line and headers) as a whole, `max_header_kb`: past it, 431 and close;
- the time to send it, `request_head_timeout`, counted from the connection's start (after the
  TLS handshake, which has the same limit) or from the first byte of a request on a kept-alive
  connection: past it, 408 and close (a connection that sent nothing is just closed);
- an idle kept-alive connection, `keepalive_timeout` (aiohttp's own timer);
- a write that waits on a client that stopped reading ends at the request's deadline (the
  deployment's total timeout): the connection is dropped, which ends the upstream request too.
A malformed request gets OpenAI error JSON and one short log line: no traceback, no header
value. Nothing here runs per streamed chunk.

`GatewayConnection` reads aiohttp's parser state (`_messages`, `_request_count`,
`_request_in_progress`), which aiohttp does not promise to keep: setup.cfg bounds aiohttp to the
minor version the security tests ran on.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from http import HTTPStatus

import orjson
from aiohttp import web
from aiohttp.http import RawRequestMessage
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.streams import StreamReader
from aiohttp.web_request import BaseRequest

from ..config import Limits
from ..errors import ClientStalledError
from ..pipeline import Call
from .access import AccessLog

SERVER = "litecursor"
#: after a refusal, input is read and dropped this long so the answer is not lost to a reset
LINGER = 1.0


async def server_header(request: web.Request, response: web.StreamResponse) -> None:
    """`Server: litecursor` instead of aiohttp's and Python's versions (an `on_response_prepare`
    hook, for an application with no `server.middleware.response_headers`)."""
    response.headers["Server"] = SERVER


def error_json(status: int, message: str, code: str) -> bytes:
    kind = "timeout_error" if status == 408 else "invalid_request_error"
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


class GatewayConnection(web.RequestHandler):
    """One client connection (see the module docstring for what it bounds)."""

    __slots__ = (
        "_access",
        "_body",
        "_head_bytes",
        "_head_timer",
        "_limits",
        "_refused",
        "_stall",
        "call",
    )

    def __init__(
        self,
        manager: web.Server,
        *,
        loop: asyncio.AbstractEventLoop,
        limits: Limits,
        access: AccessLog,
    ) -> None:
        cap = limits.max_header_bytes
        super().__init__(
            manager,
            loop=loop,
            keepalive_timeout=limits.keepalive_timeout,
            # no single line may be longer than the whole head may be
            max_line_size=cap,
            max_field_size=cap,
            access_log=None,  # type: ignore[arg-type]  # the gateway writes its own lines
        )
        self._limits = limits
        self._access = access
        self._head_bytes = 0  # of the request head being received
        self._head_timer: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None  # the last request's body, while it arrives
        self._stall: asyncio.TimerHandle | None = None
        self._refused = False
        #: the request being answered (set by the middleware): its deadline bounds a stalled write
        self.call: Call | None = None

    # -- the request head ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_head_timer()  # the first request is due within the limit too

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # input is dropped until the connection closes
        body = self._body
        in_head = body is None or body.is_eof()
        count = self._request_count
        super().data_received(data)
        if not in_head:
            return
        if self._request_count != count:  # a whole head arrived (or a malformed one)
            self._head_bytes = 0
            self._cancel_head_timer()
            if self._messages:
                message, self._body = self._messages[-1]
                if not isinstance(message, RawRequestMessage):
                    # the parser failed: its answer is on the way, and feeding it more would
                    # queue one more failure (with the bytes it quotes) per read until then
                    self._refused = True
            return
        self._head_bytes += len(data)
        if self._head_bytes > self._limits.max_header_bytes:
            kb = self._limits.max_header_kb
            self._refuse(
                431,
                f"the request line and headers are larger than {kb:g} KiB "
                "(litecursor_settings.max_header_kb)",
                "request_header_too_large",
            )
        elif self._head_timer is None and data:
            self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._head_timer = self._loop.call_later(
            self._limits.request_head_timeout, self._head_timed_out
        )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._idle():  # a request is being answered; a head behind it waits its turn
            self._arm_head_timer()
            return
        if self._head_bytes == 0:  # connected and said nothing
            self._log_refusal(408, "no request")
            self.force_close()
            return
        timeout = self._limits.request_head_timeout
        self._refuse(
            408,
            f"the request head did not arrive within {timeout:g} s "
            "(litecursor_settings.request_head_timeout)",
            "request_timeout",
        )

    def _idle(self) -> bool:
        """No response under way or due (to a request already received)."""
        return not self._request_in_progress and not self._messages

    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer `status` and close, reading and dropping input meanwhile (closing a socket
        with unread input resets it, and the client would never see the answer)."""
        self._cancel_head_timer()
        self._refused = True
        transport = self.transport
        if transport is None:
            return
        self._log_refusal(status, message)
        if self._idle():
            body = error_json(status, message, code)
            reason = HTTPStatus(status).phrase
            transport.write(
                f"HTTP/1.1 {status} {reason}\r\nServer: {SERVER}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
        self._loop.call_later(LINGER, self.force_close)

    def _log_refusal(self, status: int, what: str) -> None:
        self._access.refused(status, self._peer(), what)

    def _peer(self) -> str:
        peer = self.peername
        return str(peer[0]) if isinstance(peer, tuple) else "-"

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_head_timer()
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        self._body = None
        self.call = None
        super().connection_lost(exc)

    # -- malformed requests --------------------------------------------------------------

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse: one short line, OpenAI error JSON, close. The
        parser's message quotes the offending bytes (a malformed `Authorization :` line
        carries the key), so neither it nor a traceback is logged or sent back."""
        if not isinstance(exc, HttpProcessingError):
            resp = super().handle_error(request, status, exc, message)
            resp.headers["Server"] = SERVER
            return resp
        if isinstance(exc, LineTooLong):
            status, code = 431, "request_header_too_large"
            text = "a request line or header is too long (litecursor_settings.max_header_kb)"
        else:
            code = "malformed_request"
            text = f"malformed HTTP request ({type(exc).__name__})"
        self._log_refusal(status, text)
        resp = web.Response(
            status=status,
            body=error_json(status, text, code),
            content_type="application/json",
            headers={"Server": SERVER},
        )
        resp.force_close()
        return resp

    # -- a client that stopped reading ---------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        call = self.call
        deadline = call.deadline if call is not None else None
        if deadline is not None and self._stall is None:
            self._stall = self._loop.call_at(deadline, self._stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stalled(self) -> None:
        self._stall = None
        transport = self.transport
        if not self.writing_paused or transport is None:
            return
        call = self.call
        if call is not None and call.error is None:
            call.stalled(
                ClientStalledError(
                    "the client stopped reading; dropped at the request's deadline "
                    "(the deployment's timeout)"
                )
            )
        transport.abort()  # not close(): that would wait for the unsent data forever


class GatewaySite(web.BaseSite):
    """A listening socket serving `GatewayConnection`s: bound here to `host` and `port`, or
    given (`sock`, as the runtime hands each generation a duplicate of the port's socket).
    Sets the backlog of connections not yet accepted and the TLS handshake's time limit."""

    __slots__ = ("_access", "_host", "_limits", "_port", "_sock")

    def __init__(
        self,
        runner: web.BaseRunner,
        *,
        host: str | None = None,
        port: int = 0,
        sock: socket.socket | None = None,
        ssl_context: ssl.SSLContext | None,
        limits: Limits,
        access: AccessLog,
        backlog: int,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host = host
        self._port = port
        self._sock = sock
        self._limits = limits
        self._access = access

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host or '0.0.0.0'}:{self.port}"

    @property
    def port(self) -> int:
        """The port listened on (once started, the one the system chose for port 0)."""
        return self._port

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        limits, access = self._limits, self._access

        def connection() -> GatewayConnection:
            return GatewayConnection(server, loop=loop, limits=limits, access=access)

        tls = self._ssl_context
        handshake = limits.request_head_timeout if tls is not None else None
        # the backlog is given again with a listening socket too: asyncio listens on it anew
        if self._sock is not None:
            listening = await loop.create_server(
                connection,
                sock=self._sock,
                ssl=tls,
                backlog=self._backlog,
                ssl_handshake_timeout=handshake,
            )
        else:
            listening = await loop.create_server(
                connection,
                self._host,
                self._port,
                ssl=tls,
                backlog=self._backlog,
                ssl_handshake_timeout=handshake,
            )
        self._server = listening
        if listening.sockets:
            self._port = int(listening.sockets[0].getsockname()[1])
