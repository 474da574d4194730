"""The objects one process shares between its handlers: settings, store, hub, signer."""

from __future__ import annotations

from dataclasses import dataclass, field

from chatserver.auth import Signer
from chatserver.config import Settings
from chatserver.hub import Hub
from chatserver.store import Store, new_id


@dataclass
class Runtime:
    settings: Settings
    store: Store
    hub: Hub
    signer: Signer
    # Names this process's presence rows, so a restarted process never refreshes a dead one's.
    process_id: str = field(default_factory=new_id)
