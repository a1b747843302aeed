"""Route handlers: chat completions (streamed or not), the model list, health, CORS preflight."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Any

import orjson
from aiohttp import web

from ..errors import InvalidRequestError, LitecursorError, PayloadTooLargeError, ShuttingDownError
from ..ops.drain import is_shutdown
from ..pipeline import Call
from ..protocol.chat_out import ChunkEncoder, CompletionBuilder
from ..protocol.inbound import parse_request
from ..protocol.types import ChatRequest, Event, Finish, TextDelta
from .keys import CALL, CONFIG, PIPELINE, REDACTOR, ROUTER, STARTED
from .middleware import CLIENT_CLOSED

_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # tell nginx-style proxies in front not to buffer the stream
}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, headers=headers, content_type="application/json"
    )


async def read_body(request: web.Request) -> bytes:
    """The body, within the configured size. Read from the stream rather than with
    `request.read()`, which would keep a copy on the request for as long as the response
    streams: an agent turn's body can be hundreds of KB, held once per open stream."""
    config = request.app[CONFIG]
    limit = config.max_request_bytes
    if (request.content_length or 0) > limit:
        raise PayloadTooLargeError.over_limit(config.max_request_size_mb)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError.over_limit(config.max_request_size_mb)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_json(request: web.Request) -> Any:
    raw = await read_body(request)
    request[CALL].request_bytes = len(raw)
    request[CALL].received(raw)
    if not raw or raw.isspace():  # not `raw.strip()`: no copy of the body
        raise InvalidRequestError("the request body is empty; send a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidRequestError(f"the request body is not valid JSON: {e}") from None


def _answer_headers(call: Call) -> dict[str, str]:
    headers = {"x-request-id": call.request_id, **call.headers}
    if call.model_group:
        headers["x-litecursor-model-group"] = call.model_group
    if call.deployment is not None:
        headers["x-litecursor-deployment"] = call.deployment.id
    return headers


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """parse -> admit -> route -> encode -> write. The call records what happened; the
    middleware closes it."""
    call = request[CALL]
    app = request.app
    config = app[CONFIG]
    req = parse_request(await read_json(request))
    call.parsed(req)
    model, stream = req.model, req.stream
    # `cursor_errors: message`: Cursor shows every 429 and 5xx as "User API Key Rate limit
    # exceeded", so on its routes such a failure is told as an assistant message instead
    as_message = config.cursor_errors == "message" and request.path.startswith("/cursor/")
    answer = _chat(request, call, req, as_message)
    del req  # `_chat` lets it go once the router has it: an open stream must not hold it
    try:
        return await answer
    except LitecursorError as e:
        note = cursor_note(app[REDACTOR].error(e)) if as_message else None
        if note is None:
            raise  # nothing sent yet: the middleware answers with the right status
        call.failed_in_message(e)
        return await _told(request, call, model, stream, note)


async def _chat(
    request: web.Request, call: Call, req: ChatRequest, as_message: bool
) -> web.StreamResponse:
    app = request.app
    config, router = app[CONFIG], app[ROUTER]
    router.resolve(req.model)  # an unknown model is a 404 before anything else happens
    await app[PIPELINE].admit(call, req)
    response_id = call.response_id = "chatcmpl-" + secrets.token_hex(12)
    created = int(time.time())

    if not req.stream:
        builder = CompletionBuilder(
            id=response_id,
            created=created,
            model=req.model,
            reasoning_display=config.reasoning_display,
        )
        try:
            events = await router.complete(req, call)
        except asyncio.CancelledError as e:
            raise _shutdown_error(e) from None
        builder.feed(events)
        body = orjson.dumps(builder.result())
        call.answered(
            builder.usage,
            builder.call_ids,
            builder.reasoning_items,
            finish_reason=builder.finish_reason,
            chars=builder.chars,
        )
        call.sent(body)
        call.first_byte()
        return web.Response(
            body=body, content_type="application/json", headers=_answer_headers(call)
        )

    # Cursor needs the usage chunk for its context meter, asked for or not
    include_usage = req.include_usage or request.path.startswith("/cursor/")
    encoder = ChunkEncoder(
        id=response_id,
        created=created,
        model=req.model,
        include_usage=include_usage,
        reasoning_display=config.reasoning_display,
        error_note=cursor_note if as_message else None,
        redact=app[REDACTOR].error,
    )
    # the request log keeps the answer as one chat.completion, streamed or not
    copy = (
        CompletionBuilder(
            id=response_id, created=created, model=req.model, reasoning_display="field"
        )
        if call.body_limit
        else None
    )
    resp: web.StreamResponse | None = None
    try:
        # aclosing: however the loop ends, the upstream response is closed now, not at GC
        stream = router.stream(req, call)
        del req  # the router keeps it while it may retry, then lets it go
        async with contextlib.aclosing(stream) as batches:
            async for events in batches:
                if copy is not None:
                    copy.feed(events)
                data = encoder.feed(events)
                if data:
                    if resp is None:
                        resp = await _start_stream(request, call)
                    await resp.write(data)
        if resp is None:
            resp = await _start_stream(request, call)
        # the last chunks and the end of the body: one write
        await resp.write_eof(encoder.close())
    except LitecursorError as e:
        if resp is None:
            raise  # nothing sent yet: the caller answers with the right status
        note = cursor_note(app[REDACTOR].error(e)) if as_message else None
        if note is None:
            await resp.write_eof(encoder.fail(e))
        else:  # the stream broke after it started: the note ends the answer
            call.failed_in_message(e)
            await resp.write_eof(encoder.feed([TextDelta(f"\n\n{note}")]) + encoder.close())
    except ConnectionResetError:  # the client went away between two writes
        call.gone()
        return resp or web.Response(status=CLIENT_CLOSED)
    except asyncio.CancelledError as e:
        # the graceful stop ran out of time: end the stream in a way the client understands
        err = _shutdown_error(e)
        if resp is None:
            raise err from None
        await resp.write_eof(encoder.fail(err))
    finally:
        # however it ended, what the upstream did produce (a cut stream is charged for it)
        call.answered(
            encoder.usage,
            encoder.call_ids,
            encoder.reasoning_items,
            encoder.error,
            finish_reason=encoder.finish_reason,
            chars=encoder.chars,
            done=encoder.done,
        )
        if copy is not None:
            call.sent(orjson.dumps(copy.result()))
        if encoder.noted and encoder.error is not None:
            call.failed_in_message(encoder.error)
    return resp


def cursor_note(e: LitecursorError) -> str | None:
    """The assistant message that tells a Cursor user of a 429 or 5xx, or None for any other
    failure: a 4xx reads well in Cursor as it is, and a context overflow must stay OpenAI's
    error, the one Cursor summarises the chat on."""
    if e.status != 429 and e.status < 500:
        return None
    note = f"litecursor: {e.message}"
    retry = getattr(e, "retry_after", None)
    if retry is not None and "retry in" not in note:
        note += f"; retry in {max(1, int(-(-retry // 1)))} s"
    return note


async def _told(
    request: web.Request, call: Call, model: str, stream: bool, note: str
) -> web.StreamResponse:
    """A failure told as a finished assistant answer (`cursor_errors: message`)."""
    config = request.app[CONFIG]
    events: list[Event] = [TextDelta(note), Finish("stop")]
    response_id = call.response_id = "chatcmpl-" + secrets.token_hex(12)
    created = int(time.time())
    if not stream:
        builder = CompletionBuilder(
            id=response_id, created=created, model=model, reasoning_display=config.reasoning_display
        )
        builder.feed(events)
        call.first_byte()
        return _json(builder.result(), headers=_answer_headers(call))
    encoder = ChunkEncoder(
        id=response_id,
        created=created,
        model=model,
        include_usage=True,
        reasoning_display=config.reasoning_display,
    )
    resp = await _start_stream(request, call)
    await resp.write_eof(encoder.feed(events) + encoder.close())
    return resp


def _shutdown_error(cancelled: asyncio.CancelledError) -> ShuttingDownError:
    """The drain's cancellation (`ops.drain`) as the error the client is told; any other
    cancellation (the client went away) goes on as it was."""
    if not is_shutdown(cancelled):
        raise cancelled
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    return ShuttingDownError()


class _SSEResponse(web.StreamResponse):
    """A stream response whose headers go out with its first chunk, in one TLS record and one
    send, instead of on their own: `_start_stream` is only called once there is a chunk."""

    _send_headers_immediately = False  # aiohttp's own switch (what `web.Response` sets)


async def _start_stream(request: web.Request, call: Call) -> web.StreamResponse:
    resp = _SSEResponse(status=200, headers={**_SSE_HEADERS, **_answer_headers(call)})
    await resp.prepare(request)
    call.first_byte()
    return resp


async def list_models(request: web.Request) -> web.Response:
    """The configured models, as the caller sees them: a virtual key restricted to some
    models sees only those (the listeners' `list_models` point)."""
    config = request.app[CONFIG]
    created = int(request.app[STARTED])
    names = config.model_names
    if request.path.startswith("/cursor/"):  # the Cursor variants the admin opted into
        names = [*names, *config.model_variants]
    names = request.app[PIPELINE].list_models(request[CALL], names)
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": "litecursor"}
        for name in names
    ]
    return _json({"object": "list", "data": data})


async def health(request: web.Request) -> web.Response:
    return _json({"status": "ok", "models": len(request.app[CONFIG].model_names)})
