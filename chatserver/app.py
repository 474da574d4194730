"""create_app(settings) -> Starlette: wiring only, no logic."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from chatserver import (
    agents,
    api,
    auth,
    broker,
    console,
    helpcenter,
    proactive,
    resync,
    sockets,
    ticket_api,
    widget,
)
from chatserver.config import Settings
from chatserver.hub import Hub
from chatserver.mail import service as mail_service
from chatserver.reports import api as reports_api
from chatserver.reports import sla_watch
from chatserver.runtime import Runtime
from chatserver.store import Store
from chatserver.suggestions import Suggester


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI application; the store must already be migrated (see bootstrap)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store(settings.store_url)
        hub = Hub(broker.from_url(settings.broker_url))
        await hub.start()
        suggester = Suggester.open(settings.data_dir)
        await suggester.refresh(store)
        secret = await auth.instance_secret(store)
        rt = Runtime(settings, store, hub, auth.Signer(secret), suggester)
        app.state.runtime = rt
        hub.on_resume = lambda since: resync.catch_up(rt, since)
        tasks = [
            asyncio.create_task(_keep_presence(rt)),
            asyncio.create_task(sla_watch.run(rt)),
            asyncio.create_task(suggester.keep_fresh(store)),
        ]
        mail = await mail_service.start(rt, secret)
        try:
            yield
        finally:
            await mail.stop()
            for task in tasks:
                task.cancel()
            await hub.broker.close()
            suggester.close()
            await store.close()

    routes = [
        Route("/healthz", api.healthz),
        Route("/api/v1/sites/{key}/visitors", api.visitors, methods=["POST", "OPTIONS"]),
        Route("/api/v1/login", api.login, methods=["POST"]),
        Route("/api/v1/logout", api.logout, methods=["POST"]),
        WebSocketRoute("/ws/visitor", sockets.visitor_endpoint),
        WebSocketRoute("/ws/agent", sockets.agent_endpoint),
        *widget.routes(),
        *helpcenter.routes(),
        *console.routes(),
        *ticket_api.routes(),
        *reports_api.routes(),
        *proactive.routes(),
    ]
    return Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={api.ApiError: api.api_error}
    )


async def _keep_presence(rt: Runtime) -> None:
    while True:
        await asyncio.sleep(agents.PRESENCE_REFRESH_SECONDS)
        await agents.refresh_presence(rt.store, rt.process_id)
