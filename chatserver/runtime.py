"""The objects one process shares between its handlers: settings, store, hub, signer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chatserver.auth import Signer
from chatserver.chat.messages import MessageWriter
from chatserver.config import Settings
from chatserver.files.storage import Storage, open_storage
from chatserver.limits import counter
from chatserver.limits.blocks import BlockList
from chatserver.limits.gate import Gate
from chatserver.live_visitors import Arrivals
from chatserver.server.hub import Hub
from chatserver.store import Store, new_id
from chatserver.suggestions import Suggester

if TYPE_CHECKING:
    from chatserver.mail.service import MailService
    from chatserver.webhooks.delivery import WebhookService


@dataclass
class Runtime:
    settings: Settings
    store: Store
    hub: Hub
    signer: Signer
    suggester: Suggester
    # Names this process's presence rows, so a restarted process never refreshes a dead one's.
    process_id: str = field(default_factory=new_id)
    # The composer, outbox worker and inbound listener; set by mail.service.start at startup.
    mail: MailService | None = None
    # The webhook outbox's recorder and worker; set at startup (webhooks/delivery.start).
    webhooks: WebhookService | None = None
    # Chat messages from every socket of this process, committed in shared transactions.
    writer: MessageWriter = field(init=False)
    # Budgets and blocks at every public door (limits/), counted in Redis when scaled out.
    gate: Gate = field(init=False)
    # Where files sent in chats live: the data dir, or S3 (chatserver/files/storage.py).
    files: Storage = field(init=False)
    # This process's visitors on the sites' pages, written for the console's live list.
    live: Arrivals = field(init=False)

    def __post_init__(self) -> None:
        self.writer = MessageWriter(self.store)
        self.gate = Gate(counter.from_url(self.settings.broker_url), BlockList(self.store),
                         self.settings.limits, self.settings.sockets_per_network)
        self.files = open_storage(self.settings.files, self.settings.data_dir)
        self.live = Arrivals(self.process_id)
