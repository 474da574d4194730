"""Fetching a file of a chat: only for those who may read the conversation, always inert.

Three ways in: a visitor's token (the widget, from the host page's origin), an agent's
session (the console), or a signed link (transcript and ticket mails, read where neither
exists). Every answer carries sniff.SAFE_HEADERS: `nosniff`, and a `sandbox` CSP that lets
nothing run even if a browser is sent straight to the address; only the four raster image
types go out inline, everything else as `Content-Disposition: attachment`. So a file served
from the console's own origin never acts there as a page: no script, no form, no plugin.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from chatserver import sites
from chatserver.api import ApiError
from chatserver.chat import commands
from chatserver.chat.actors import Actor
from chatserver.files import records, sniff
from chatserver.files.links import MAIL_LINK_SECONDS
from chatserver.files.storage import StorageError
from chatserver.files.uploads import staff_of, visitor_of
from chatserver.protocol import ProtocolError
from chatserver.runtime import Runtime

log = logging.getLogger("chatserver.files")



async def visitor_download(request: Request, rt: Runtime, site: sites.Site) -> Response:
    """GET /api/v1/sites/{key}/files/{id}: a visitor's file, with their token."""
    return await _serve(rt, request.path_params["id"], visitor_of(request, rt, site))


async def download(request: Request) -> Response:
    """GET /api/v1/files/{id}: with a signed link (?sig=) or an agent's session."""
    rt: Runtime = request.app.state.runtime
    file_id = request.path_params["id"]
    signature = request.query_params.get("sig")
    if signature is not None:
        if rt.signer.file_of_link(signature, MAIL_LINK_SECONDS) != file_id:
            raise ApiError(403, "forbidden", "this link is wrong or has expired")
        return await _serve(rt, file_id, None)
    _, staff = await staff_of(request)
    return await _serve(rt, file_id, staff)


async def _serve(rt: Runtime, file_id: str, actor: Actor | None) -> Response:
    file = await records.get(rt.store, file_id)
    if file is None:
        raise ApiError(404, "not_found", "no such file")
    if actor is not None:
        try:
            await commands.usable(rt, actor, file.conversation_id)
        except ProtocolError:
            # Someone else's file is answered as no file at all: its id tells nothing.
            raise ApiError(404, "not_found", "no such file") from None
    chunks = rt.files.read(file.id)
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    except KeyError:
        log.warning("event=file_missing file=%s", file.id)
        raise ApiError(404, "not_found", "this file is no longer stored") from None
    except StorageError as failed:
        log.warning("event=file_storage_failed file=%s error=%s", file.id, failed)
        raise ApiError(503, "unavailable", "the file cannot be read now; try again") from None

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(body(), headers=sniff.headers(file.name, file.served, file.size),
                             media_type=file.content_type)
