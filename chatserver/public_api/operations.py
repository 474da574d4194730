"""One API operation: its route, scope, parameters and shapes, and the door every call goes through.

An Operation is both a route and its documentation: routes.py mounts each one and openapi.py
describes each one, from the same declaration, so no route goes undocumented. The door reads
the bearer token, checks its scope, parses the declared query and body and nothing else,
honours an Idempotency-Key on creates, and answers every refusal in the API's one error shape.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver import json_input, sites
from chatserver.api import MAX_BODY_BYTES, ApiError, error_response
from chatserver.chat.messages import Overloaded
from chatserver.protocol import ProtocolError
from chatserver.public_api import idempotency, limits, tokens
from chatserver.public_api.shapes import Schema, ShapeError, check
from chatserver.public_api.tokens import ApiToken, Scope
from chatserver.runtime import Runtime

log = logging.getLogger("chatserver.public_api")

PREFIX = "/api/v2"
# What a core command's refusal (protocol error code) is over HTTP.
_STATUS = {"not_found": 404, "forbidden": 403, "invalid_message": 400, "too_large": 413,
           "rate_limited": 429, "unavailable": 503}


@dataclass(frozen=True)
class Param:
    """A query parameter: its name and JSON Schema (string or integer)."""

    name: str
    schema: Schema
    description: str
    required: bool = False


@dataclass(frozen=True)
class Call:
    """What a handler gets: the runtime, the token's site, and the checked input."""

    rt: Runtime
    token: ApiToken
    site: sites.Site
    path: dict[str, str]
    query: dict[str, Any]
    body: dict[str, Any]
    idempotency_key: str | None
    base_url: str


Handler = Callable[[Call], Awaitable[dict[str, Any]]]
PublicHandler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # below PREFIX, with {name} for path parameters
    summary: str
    tag: str
    scope: Scope
    handler: Handler
    response: Schema
    query: tuple[Param, ...] = ()
    body: Schema | None = None
    # A create answers 201 and honours an Idempotency-Key.
    create: bool = False
    description: str = ""
    # Besides 401, 403 and 429, which every operation may answer.
    errors: tuple[int, ...] = field(default=(400, 404))

    @property
    def full_path(self) -> str:
        return PREFIX + self.path

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def status(self) -> int:
        return 201 if self.create else 200

    @property
    def operation_id(self) -> str:
        words = [w for w in re.split(r"[^a-z0-9]+", self.path.lower()) if w]
        return "_".join([self.method.lower(), *words])


@dataclass(frozen=True)
class Page:
    """A page served without a token (the OpenAPI document and its readable page)."""

    path: str
    summary: str
    media_type: str
    handler: PublicHandler

    @property
    def full_path(self) -> str:
        return PREFIX + self.path


_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_id(value: str, name: str) -> str:
    """Return value if it can be an id this server gave out; 400 before any store read."""
    if not _ID.fullmatch(value):
        raise ApiError(400, "invalid_parameter", f"{name!r} is not an id: 1-64 letters, digits, - or _")
    return value


def ident(call: Call, name: str) -> str:
    return check_id(call.path[name], name)


def bearer(request: Request) -> str | None:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


async def _token(rt: Runtime, request: Request) -> ApiToken:
    secret = bearer(request)
    token = await tokens.authenticate(rt.store, secret) if secret else None
    if token is None:
        raise ApiError(401, "unauthorized",
                       "send a live API token as 'Authorization: Bearer csk_...'" if secret is None
                       else "this API token is unknown or revoked",
                       {"WWW-Authenticate": 'Bearer realm="chatserver"'})
    return token


def _query(op: Operation, request: Request) -> dict[str, Any]:
    declared = {p.name: p for p in op.query}
    unknown = [name for name in request.query_params if name not in declared]
    if unknown:
        raise ApiError(400, "invalid_parameter", f"unknown query parameter {unknown[0]!r}")
    values: dict[str, Any] = {}
    for param in op.query:
        raw = request.query_params.get(param.name)
        if raw is None:
            if param.required:
                raise ApiError(400, "invalid_parameter", f"query parameter {param.name!r} is required")
            if "default" in param.schema:
                values[param.name] = param.schema["default"]
            continue
        value: Any = raw
        if param.schema.get("type") in ("integer", "number"):
            try:
                value = int(raw) if param.schema["type"] == "integer" else float(raw)
            except ValueError:
                raise ApiError(400, "invalid_parameter", f"{param.name!r} must be a number") from None
        try:
            values[param.name] = check(param.schema, value, param.name)
        except ShapeError as bad:
            raise ApiError(400, "invalid_parameter", str(bad)) from None
    return values


async def _raw_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"request body is larger than {MAX_BODY_BYTES} bytes")
    return body


def _body(op: Operation, raw: bytes) -> dict[str, Any]:
    if op.body is None:
        if raw.strip():
            raise ApiError(400, "invalid_message", "this request takes no body")
        return {}
    try:
        return dict(check(op.body, json_input.loads(raw)))
    except json_input.BadJson as bad:
        raise ApiError(400, "invalid_json", str(bad)) from None
    except ShapeError as bad:
        raise ApiError(400, "invalid_message", str(bad)) from None


def refusal(error: ProtocolError) -> ApiError:
    """Turn a core command's refusal into the HTTP error that says the same."""
    return ApiError(_STATUS.get(error.code, 409), error.code, error.message)


def endpoint(op: Operation) -> Callable[[Request], Awaitable[Response]]:
    """Serve an operation: every answer is JSON, every refusal in the one error shape."""

    async def serve(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        key: str | None = None
        site_id: str | None = None
        try:
            token = await _token(rt, request)
            wait = limits.CALLS.take(token.id)
            if wait is not None:
                raise ApiError(429, "rate_limited", f"at most {limits.CALLS.limit} calls a minute per token; "
                               f"try again in {wait:g} seconds", {"Retry-After": str(max(1, round(wait)))})
            if not token.allows(op.scope):
                raise ApiError(403, "forbidden", f"this token's scopes ({', '.join(token.scopes)}) "
                               f"do not include {op.scope}")
            site = await sites.by_id(rt.store, token.site_id)
            if site is None:
                raise ApiError(401, "unauthorized", "this API token's site is gone")
            query = _query(op, request)
            raw = await _raw_body(request)
            body = _body(op, raw)
            header = request.headers.get(idempotency.HEADER)
            if header is not None and op.create:
                key, site_id = idempotency.check_key(header), site.id
                print_ = idempotency.fingerprint(op.method, request.url.path, raw)
                replay = await idempotency.claim(rt.store, site.id, key, print_)
                if replay is not None:
                    key = None  # the first request owns the row
                    return JSONResponse(replay.body, replay.status, headers={"Idempotent-Replayed": "true"})
            call = Call(rt, token, site, dict(request.path_params), query, body, key,
                        str(request.base_url).rstrip("/"))
            try:
                answer = await op.handler(call)
            except ProtocolError as refused:
                raise refusal(refused) from None
            except Overloaded:
                raise ApiError(503, "unavailable", "the server is busy; send it again shortly",
                               {"Retry-After": "1"}) from None
        except ApiError as refused:
            if key is not None and site_id is not None:
                await idempotency.release(rt.store, site_id, key)
            return error_response(refused.status, refused.code, refused.message, refused.headers)
        except BaseException:
            if key is not None and site_id is not None:
                await idempotency.release(rt.store, site_id, key)
            raise
        if key is not None:
            await idempotency.remember(rt.store, site.id, key, op.status, answer)
        log.info("event=api_call token=%s %s %s", token.id, op.method, op.path)
        return JSONResponse(answer, op.status)

    return serve


def route(op: Operation) -> Route:
    return Route(op.full_path, endpoint(op), methods=[op.method])
