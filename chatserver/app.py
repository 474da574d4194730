"""create_app(settings) -> Starlette: wiring only, no logic."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from chatserver import (
    agents,
    api,
    auth,
    console,
    contact_form,
    helpcenter,
    live_visitors,
    metrics,
    proactive,
    sockets,
    ticket_api,
    widget,
)
from chatserver.config import Settings
from chatserver.console import blocks as console_blocks
from chatserver.files import routes as files_routes
from chatserver.mail import service as mail_service
from chatserver.public_api import routes as public_api
from chatserver.reports import api as reports_api
from chatserver.reports import sla_watch
from chatserver.runtime import Runtime
from chatserver.server import broker, resync
from chatserver.server.hub import Hub
from chatserver.store import Store
from chatserver.suggestions import Suggester
from chatserver.webhooks import api as webhooks_api
from chatserver.webhooks import delivery as webhook_delivery


def create_app(settings: Settings) -> ASGIApp:
    """Build the ASGI application; the store must already be migrated (see bootstrap)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store(settings.store_url)
        hub = Hub(broker.from_url(settings.broker_url))
        await hub.start()
        suggester = Suggester.open(settings.data_dir, settings.search_meaning)
        # Words first: the help centre is searchable at once; its meaning joins within a
        # minute on a first start (embedding 100 articles on 2 cores) and at once after it.
        await suggester.refresh(store, embed_missing=False)
        secret = await auth.instance_secret(store)
        rt = Runtime(settings, store, hub, auth.Signer(secret), suggester)
        app.state.runtime = rt
        await rt.gate.blocks.refresh()
        hub.on_resume = lambda since: resync.catch_up(rt, since)
        tasks = [
            asyncio.create_task(_keep_presence(rt)),
            asyncio.create_task(sla_watch.run(rt)),
            asyncio.create_task(suggester.keep_fresh(store)),
            asyncio.create_task(suggester.embed_rest(store)),
            asyncio.create_task(metrics.watch(store)),
            asyncio.create_task(rt.gate.blocks.keep_fresh()),
            asyncio.create_task(rt.live.keep_flushing(store)),
        ]
        mail = await mail_service.start(rt, secret)
        rt.webhooks = webhook_delivery.start(store, settings.webhooks)
        hub.recorder = rt.webhooks.recorder
        # What exists now (modules, the help index, settings) lives as long as the process:
        # frozen, the collector's full passes, which pause every socket, stop walking it.
        gc.freeze()
        try:
            yield
        finally:
            await mail.stop()
            await rt.webhooks.stop()
            for task in tasks:
                task.cancel()
            await hub.broker.close()
            await rt.gate.close()
            suggester.close()
            await rt.files.close()
            await store.close()

    routes = [
        Route("/healthz", api.healthz),
        Route("/metrics", api.metrics_page),
        Route("/api/v1/sites/{key}/visitors", api.visitors, methods=["POST", "OPTIONS"]),
        Route("/api/v1/login", api.login, methods=["POST"]),
        Route("/api/v1/logout", api.logout, methods=["POST"]),
        *widget.routes(),
        *helpcenter.routes(),
        *console.routes(),
        *ticket_api.routes(),
        *reports_api.routes(),
        *proactive.routes(),
        *public_api.routes(),
        *contact_form.routes(),
        *webhooks_api.routes(),
        *console_blocks.routes(),
        *files_routes.routes(),
    ]
    web = Starlette(
        routes=routes, lifespan=lifespan,
        # The JSON API answers every error in the one shape (docs/protocol.md), 500 included.
        exception_handlers={
            api.ApiError: api.api_error, HTTPException: api.http_error, 500: api.server_error,
        },
    )
    return SocketsFirst(web, {"/ws/visitor": sockets.visitor_endpoint,
                              "/ws/agent": sockets.agent_endpoint})


class SocketsFirst:
    """Hands the chat sockets straight to their endpoints and everything else to Starlette.

    A socket lives for hours, and under Starlette's router and middleware each one keeps
    their frames and closures alive and passes every frame through their wrappers: 5 KiB
    more per idle socket, measured (bench/idle.py). The endpoints keep Starlette's WebSocket.
    """

    def __init__(self, web: Starlette, endpoints: dict[str, sockets.Endpoint]) -> None:
        self.web = web
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoints.get(scope["path"]) if scope["type"] == "websocket" else None
        if endpoint is None:
            await self.web(scope, receive, send)
            return
        scope["app"] = self.web
        await endpoint(WebSocket(scope, receive, send))


async def _keep_presence(rt: Runtime) -> None:
    while True:
        await asyncio.sleep(agents.PRESENCE_REFRESH_SECONDS)
        await agents.refresh_presence(rt.store, rt.process_id)
        await live_visitors.refresh(rt.store, rt.process_id)
