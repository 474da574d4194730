"""/api/v1/sites/{key}/webhooks: an admin's webhooks, dead letters and allow-list, as JSON.

Signed-in admins only (the console's session cookie); writes from other origins are refused,
as in the ticket API. Errors use protocol.error's shape through api.ApiError. The secret of
a webhook is in the answer that creates it and never again.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver import agents, auth, sites
from chatserver.api import ApiError, json_body
from chatserver.runtime import Runtime
from chatserver.webhooks import events, guard, outbox, signing, subscriptions

MAX_REPLAY_IDS = 500


async def _admin(request: Request) -> tuple[Runtime, sites.Site]:
    rt: Runtime = request.app.state.runtime
    if request.method not in ("GET", "HEAD"):
        origin = request.headers.get("origin")
        if origin and not sites.same_origin(origin, request.headers.get("host", ""), request.url.scheme):
            raise ApiError(403, "forbidden", "requests from other origins are refused")
    found = await agents.signed_in(rt.store, rt.signer, request.cookies.get(auth.SESSION_COOKIE))
    if found is None:
        raise ApiError(401, "unauthorized", "sign in first: no valid session cookie")
    if found[0].role != "admin":
        raise ApiError(403, "forbidden", "webhooks are for admins")
    site = await sites.by_key(rt.store, request.path_params["key"])
    if site is None:
        raise ApiError(404, "not_found", "no site with this key")
    return rt, site


def _forget(rt: Runtime, site: sites.Site) -> None:
    if rt.webhooks is not None:
        rt.webhooks.recorder.forget(site.id)


async def check_url(rt: Runtime, site_id: str, url: Any) -> str:
    """Return a URL deliveries may reach now; raise ApiError saying why not."""
    if not isinstance(url, str):
        raise ApiError(400, "invalid_message", "'url' must be an https:// address")
    try:
        return await subscriptions.check_url(rt.store, rt.settings.webhooks.allow, site_id, url)
    except guard.Refused as refused:
        raise ApiError(400, "invalid_url", str(refused)) from None


async def list_webhooks(request: Request) -> Response:
    rt, site = await _admin(request)
    found = await subscriptions.of_site(rt.store, site.id)
    allow = await subscriptions.allow_list(rt.store, site.id)
    return JSONResponse({"webhooks": [s.public() for s in found], "events": list(events.NAMES),
                         "allow": [str(n) for n in allow]})


async def create_webhook(request: Request) -> Response:
    rt, site = await _admin(request)
    body = await json_body(request)
    try:
        names = subscriptions.check_events(body.get("events", "*"))
    except ValueError as bad:
        raise ApiError(400, "invalid_message", str(bad)) from None
    url = await check_url(rt, site.id, body.get("url"))
    secret = signing.new_secret()
    try:
        made = await subscriptions.create(rt.store, site.id, url, names, secret)
    except ValueError as bad:
        raise ApiError(409, "conflict", str(bad)) from None
    _forget(rt, site)
    return JSONResponse({**made.public(), "secret": secret}, status_code=201)


async def _subscription(rt: Runtime, site: sites.Site, request: Request) -> subscriptions.Subscription:
    found = await subscriptions.get(rt.store, site.id, request.path_params["id"])
    if found is None:
        raise ApiError(404, "not_found", "no such webhook")
    return found


async def change_webhook(request: Request) -> Response:
    rt, site = await _admin(request)
    found = await _subscription(rt, site, request)
    if request.method == "DELETE":
        await subscriptions.remove(rt.store, site.id, found.id)
        _forget(rt, site)
        return Response(status_code=204)
    enabled = (await json_body(request)).get("enabled")
    if not isinstance(enabled, bool):
        raise ApiError(400, "invalid_message", "'enabled' must be true or false")
    await subscriptions.set_enabled(rt.store, site.id, found.id, enabled)
    _forget(rt, site)
    if rt.webhooks is not None:
        rt.webhooks.worker.wake()  # re-enabled: what waited goes now
    return JSONResponse({**found.public(), "enabled": enabled})


async def test_webhook(request: Request) -> Response:
    rt, site = await _admin(request)
    found = await _subscription(rt, site, request)
    event_id = await outbox.ping(rt.store, site.id, site.public_key, found.id)
    if rt.webhooks is not None:
        rt.webhooks.worker.wake()
    return JSONResponse({"event_id": event_id, "type": events.PING}, status_code=202)


async def dead_letters(request: Request) -> Response:
    rt, site = await _admin(request)
    return JSONResponse({"dead": await outbox.dead_letters(rt.store, site.id)})


async def replay(request: Request) -> Response:
    rt, site = await _admin(request)
    ids = (await json_body(request)).get("ids")
    if ids is not None and (not isinstance(ids, list) or len(ids) > MAX_REPLAY_IDS
                            or not all(isinstance(i, str) for i in ids)):
        raise ApiError(400, "invalid_message", f"'ids' must be a list of at most {MAX_REPLAY_IDS} ids")
    count = await outbox.replay(rt.store, site.id, ids)
    if rt.webhooks is not None:
        rt.webhooks.worker.wake()
    return JSONResponse({"replayed": count})


async def set_allow(request: Request) -> Response:
    rt, site = await _admin(request)
    try:
        asked = (await json_body(request)).get("networks")
        networks = await subscriptions.set_allow_list(rt.store, site.id, asked)
    except guard.Refused as bad:
        raise ApiError(400, "invalid_message", str(bad)) from None
    return JSONResponse({"allow": [str(n) for n in networks]})


def routes() -> list[Route]:
    base = "/api/v1/sites/{key}/webhooks"
    return [
        Route(base, list_webhooks, methods=["GET"]),
        Route(base, create_webhook, methods=["POST"]),
        Route(base + "/dead", dead_letters, methods=["GET"]),
        Route(base + "/dead/replay", replay, methods=["POST"]),
        Route(base + "/allow", set_allow, methods=["PUT"]),
        Route(base + "/{id}", change_webhook, methods=["PATCH", "DELETE"]),
        Route(base + "/{id}/test", test_webhook, methods=["POST"]),
    ]
