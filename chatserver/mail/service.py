"""This process's mail: the composer, the outbox worker and the inbound SMTP listener."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chatserver.mail.compose import Composer
from chatserver.mail.outbox import Worker, transport_for
from chatserver.mail.settings import MailSettings
from chatserver.sites import Site
from chatserver.tickets.records import Mailing

if TYPE_CHECKING:
    from chatserver.runtime import Runtime

log = logging.getLogger("chatserver.mail")


@dataclass
class MailService:
    settings: MailSettings
    composer: Composer
    worker: Worker
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    listener: Any = None  # the inbound SMTP server (asyncio.Server), when --smtp-port is given

    def mailing(self, site: Site) -> Mailing:
        return Mailing(self.composer, site)

    def queued(self) -> None:
        """Tell the worker that mail was just written to the outbox."""
        self.worker.wake()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.listener is not None:
            self.listener.close()
            await self.listener.wait_closed()


async def start(rt: Runtime, secret: str) -> MailService:
    """Start the outbox worker, the unanswered-chat timer and, if asked, the SMTP listener."""
    from chatserver.mail.listener import listen
    from chatserver.tickets import handover

    settings = rt.settings.mail
    worker = Worker(rt.store, settings, transport_for(settings, rt.settings.data_dir))
    service = MailService(settings, Composer(settings, secret), worker)
    rt.mail = service
    service.tasks.append(asyncio.create_task(worker.run()))
    service.tasks.append(asyncio.create_task(handover.watch_unanswered(rt)))
    if rt.settings.smtp_port is not None:
        service.listener = await listen(rt, rt.settings.host, rt.settings.smtp_port)
    target = settings.smtp()
    log.info(
        "event=mail_ready out=%s inbound_smtp=%s inbound_http=%s",
        f"smtp://{target.host}:{target.port}" if target else "eml-files",
        rt.settings.smtp_port, "on" if settings.inbound_secret else "off",
    )
    return service
