"""create_app(settings) -> Starlette: wiring only, no logic."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from chatserver import agents, api, auth, broker, sockets, widget
from chatserver.config import Settings
from chatserver.hub import Hub
from chatserver.runtime import Runtime
from chatserver.store import Store


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI application; the store must already be migrated (see bootstrap)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store(settings.store_url)
        hub = Hub(broker.from_url(settings.broker_url))
        await hub.start()
        rt = Runtime(settings, store, hub, auth.Signer(await auth.instance_secret(store)))
        app.state.runtime = rt
        keeper = asyncio.create_task(_keep_presence(rt))
        try:
            yield
        finally:
            keeper.cancel()
            await hub.broker.close()
            await store.close()

    routes = [
        Route("/healthz", api.healthz),
        Route("/api/v1/sites/{key}/visitors", api.visitors, methods=["POST", "OPTIONS"]),
        Route("/api/v1/login", api.login, methods=["POST"]),
        Route("/api/v1/logout", api.logout, methods=["POST"]),
        WebSocketRoute("/ws/visitor", sockets.visitor_endpoint),
        WebSocketRoute("/ws/agent", sockets.agent_endpoint),
        *widget.routes(),
    ]
    return Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={api.ApiError: api.api_error}
    )


async def _keep_presence(rt: Runtime) -> None:
    while True:
        await asyncio.sleep(agents.PRESENCE_REFRESH_SECONDS)
        await agents.refresh_presence(rt.store, rt.process_id)
