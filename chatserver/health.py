"""Is this process ready for traffic: can it write to its store right now?

A load balancer polls /healthz and stops sending visitors to a process that answers 503, so
the answer must reflect what visitors need, a store that takes writes, not merely a live
process: a full disk or a read-only data dir still answers reads.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from chatserver.store import Store
from chatserver.store.schema import instance

log = logging.getLogger("chatserver.health")

# A probe slower than this is as bad as a failed one: a visitor's message would wait as long.
PROBE_SECONDS = 2.0


async def store_writable(store: Store) -> str | None:
    """Return None if the store takes a write now, else the reason it does not."""
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            async with store.write() as conn:
                # A real write (the same value again) that must reach the disk at commit.
                await conn.execute(
                    update(instance).where(instance.c.key == "secret").values(value=instance.c.value)
                )
    except TimeoutError:
        return f"the store did not answer a write within {PROBE_SECONDS:g} s"
    except (DBAPIError, OSError) as failed:
        reason = str(getattr(failed, "orig", None) or failed)
        log.warning("event=not_ready reason=%s", reason)
        return f"the store cannot be written: {reason}"
    return None
