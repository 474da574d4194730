"""Sending a file into a chat: the upload doors for visitors and agents, one path behind them.

The body is the file itself (any Content-Type), streamed: counted against the per-file limit
as it arrives, hashed, its first bytes sniffed, spooled to disk, then handed to the storage.
The message that carries it is appended through the chat core's one append path
(commands.send with `files`), so it gets its sequence number, its ack and its fan-out like
any other message, and a resend with the same client_id stores nothing twice. Every refusal
is the one error shape, and leaves nothing stored: no bytes, no row, no message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chatserver import agents, auth, sites
from chatserver.api import ApiError
from chatserver.chat import commands
from chatserver.chat.actors import Actor, Staff, Visitor
from chatserver.chat.messages import Overloaded
from chatserver.chat.model import Status
from chatserver.files import records, sniff
from chatserver.files.storage import CHUNK_BYTES, StorageError, spool_dir
from chatserver.protocol import ProtocolError
from chatserver.public_api.operations import refusal
from chatserver.runtime import Runtime
from chatserver.store import new_id
from chatserver.store.schema import messages

log = logging.getLogger("chatserver.files")

_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as a `message` frame's client_id


async def visitor_upload(request: Request, rt: Runtime, site: sites.Site) -> Response:
    """POST /api/v1/sites/{key}/conversations/{conversation}/files: a visitor sends a file."""
    return await _upload(request, rt, visitor_of(request, rt, site))


async def agent_upload(request: Request) -> Response:
    """POST /api/v1/conversations/{conversation}/files: an agent sends a file."""
    rt, staff = await staff_of(request)
    return await _upload(request, rt, staff)


def visitor_of(request: Request, rt: Runtime, site: sites.Site) -> Visitor:
    """Return the visitor whose token the request bears (Authorization: Bearer)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    identity = rt.signer.visitor(token.strip()) if scheme.lower() == "bearer" else None
    if identity is None or identity.site_id != site.id:
        raise ApiError(401, "unauthorized", "send the visitor token as Authorization: Bearer")
    return Visitor(site, identity.contact_id, None, "")


async def staff_of(request: Request) -> tuple[Runtime, Staff]:
    """Return the signed-in agent of a request; a write from another origin's page is refused."""
    rt: Runtime = request.app.state.runtime
    origin = request.headers.get("origin")
    if request.method != "GET" and origin and not sites.same_origin(
        origin, request.headers.get("host", ""), request.url.scheme
    ):
        raise ApiError(403, "forbidden", "requests from other origins are refused")
    found = await agents.signed_in(rt.store, rt.signer, request.cookies.get(auth.SESSION_COOKIE))
    if found is None:
        raise ApiError(401, "unauthorized", "sign in first: no valid session cookie")
    return rt, Staff(found[0], await agents.site_ids(rt.store, found[0]))


async def _upload(request: Request, rt: Runtime, actor: Actor) -> Response:
    limits = rt.settings.files
    client_id = request.query_params.get("client_id") or new_id()
    if not _CLIENT_ID.fullmatch(client_id):
        raise ApiError(400, "invalid_message", "client_id: 1 to 64 letters, digits, - or _")
    name = sniff.clean_name(request.query_params.get("name", ""))
    try:
        conversation = await commands.usable(rt, actor, request.path_params["conversation"])
    except ProtocolError as refused:
        raise refusal(refused) from None
    if conversation.status is Status.CLOSED:
        raise ApiError(409, "conflict", "this conversation is closed; start a new one")
    if not actor.may_write(conversation):
        raise ApiError(403, "forbidden", "take the conversation before writing in it")
    earlier = await _earlier(rt, conversation.id, actor, client_id)
    if earlier is not None:
        return JSONResponse(earlier)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_file_bytes:
        raise _too_large(limits.max_file_bytes)
    used = await records.used_bytes(rt.store, conversation.id)
    if used + (int(declared) if declared.isdigit() else 1) > limits.max_conversation_bytes:
        raise _full(limits.max_conversation_bytes, used)
    spooled = await _spool(request, rt, limits.max_file_bytes)
    path, size, sha256, head = spooled
    try:
        kind = sniff.sniff(head)
        file = records.StoredFile(new_id(), conversation.site_id, conversation.id, name,
                                  *_how(kind, head), size)
        await _store(rt, file, actor, path, sha256, limits.max_conversation_bytes)
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # the dir backend renamed it away; on S3 it was uploaded or refused
    try:
        effects = await commands.send(rt, actor, conversation.id, client_id, "", (file.describe(),))
    except (ProtocolError, Overloaded) as refused:
        await _forget(rt, file.id)
        if isinstance(refused, Overloaded):
            raise ApiError(503, "unavailable", "the server is busy; send the file again") from None
        raise refusal(refused) from None
    ack = effects.replies[0]
    if ack.get("duplicate"):
        await _forget(rt, file.id)  # the same upload, sent twice at once: the first one stays
        return JSONResponse(await _earlier(rt, conversation.id, actor, client_id))
    await rt.hub.deliver(effects)
    log.info("event=file_sent conversation=%s file=%s size=%d type=%s by=%s",
             conversation.id, file.id, size, file.content_type, actor.kind)
    return JSONResponse({"file": file.describe(), "ack": ack}, status_code=201)


def _how(kind: str, head: bytes) -> tuple[str, bool]:
    how = sniff.served(kind, head)
    return how.content_type, how.inline


async def _spool(request: Request, rt: Runtime, limit: int) -> tuple[Path, int, str, bytes]:
    """Write the body to a spool file: counted, hashed and its head kept, never held whole."""
    folder = spool_dir(rt.settings.files, rt.settings.data_dir)
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=folder, prefix="up-")
    path = Path(name)
    size, digest, head, pending = 0, hashlib.sha256(), bytearray(), bytearray()
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                digest.update(chunk)
                if len(head) < sniff.HEAD_BYTES:
                    head += chunk[: sniff.HEAD_BYTES - len(head)]
                pending += chunk
                if len(pending) >= CHUNK_BYTES:
                    await asyncio.to_thread(out.write, bytes(pending))
                    pending.clear()
            await asyncio.to_thread(out.write, bytes(pending))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise ApiError(400, "invalid_message", "the file is empty")
    return path, size, digest.hexdigest(), bytes(head)


async def _store(
    rt: Runtime, file: records.StoredFile, actor: Actor, path: Path, sha256: str, limit: int
) -> None:
    """Put the bytes in the storage, then the row in the store; undo the bytes if the row fails."""
    try:
        await rt.files.put(file.id, path, file.size, sha256)
    except StorageError as failed:
        log.warning("event=file_storage_failed file=%s error=%s", file.id, failed)
        raise ApiError(503, "unavailable", "the file could not be stored now; send it again") from None
    try:
        await records.add(rt.store, file, actor.kind, actor.id, sha256, limit)
    except records.OverQuota as full:
        await rt.files.delete(file.id)
        raise _full(limit, full.used) from None
    except BaseException:
        await rt.files.delete(file.id)
        raise


async def _forget(rt: Runtime, file_id: str) -> None:
    await records.remove(rt.store, file_id)
    await rt.files.delete(file_id)


async def _earlier(
    rt: Runtime, conversation_id: str, actor: Actor, client_id: str
) -> dict[str, Any] | None:
    """Return the answer to an upload this actor already sent with this client id, or None."""
    async with rt.store.read() as conn:
        row = (await conn.execute(select(
            messages.c.id, messages.c.seq, messages.c.created_at, messages.c.files,
        ).where(
            messages.c.conversation_id == conversation_id, messages.c.author_kind == actor.kind,
            messages.c.author_id == actor.id, messages.c.client_id == client_id,
        ))).first()
    if row is None:
        return None
    sent = json.loads(row.files or "[]")
    return {"file": sent[0] if sent else None, "ack": {
        "type": "ack", "ref": client_id, "conversation": conversation_id, "seq": row.seq,
        "id": row.id, "created_at": row.created_at, "duplicate": True}}


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"files may be at most {_megabytes(limit)}")


def _full(limit: int, used: int) -> ApiError:
    return ApiError(413, "too_large", f"this conversation may hold at most {_megabytes(limit)} of "
                    f"files and holds {_megabytes(used)}; nothing was added")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size} bytes"
