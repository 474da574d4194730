"""This process's webhook worker: claims due deliveries, signs them, posts them, marks them.

A post goes to the address guard.py checked (the Host header and TLS name stay the URL's),
follows no redirect, and is bounded: the whole exchange within timeout_seconds, and at most
MAX_RESPONSE_BYTES of the answer read (a receiver streaming without end is cut off).
Only a 2xx answer counts as delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections import OrderedDict
from dataclasses import dataclass, field

import httpx

from chatserver import __version__
from chatserver.store import Store
from chatserver.webhooks import guard, outbox, signing
from chatserver.webhooks.settings import WebhookSettings

log = logging.getLogger("chatserver.webhooks")

# What is kept of an answer: enough for an error message in the dead-letter list.
MAX_RESPONSE_BYTES = 64 * 1024
# Posts in flight at once from one process: a slow receiver holds one slot, not the queue.
CONCURRENCY = 16
# An idle worker looks for due deliveries this often; recording in this process wakes it.
POLL_SECONDS = 1.0
# Clients kept open, one per receiver host (connections are reused between deliveries).
CLIENTS = 64


class DeliveryFailed(Exception):
    """A post that did not end in a 2xx answer; the message is kept as the row's last error."""


async def post(
    client: httpx.AsyncClient, url: str, secret: str, body: bytes, headers: dict[str, str],
    allow: tuple[guard.Network, ...], timeout: float,
) -> int:
    """Post a signed body to url through the guard; return the status or raise DeliveryFailed."""
    try:
        async with asyncio.timeout(timeout):
            target, address = await guard.target(url, allow)
            named = target.host if ":" not in target.host else f"[{target.host}]"
            default = 443 if target.scheme == "https" else 80
            host_header = named if target.port == default else f"{named}:{target.port}"
            by_name = target.scheme == "https" and not _is_address(target.host)
            request = client.build_request(
                "POST", f"{target.scheme}://{_bracketed(address)}:{target.port}{target.path}",
                content=body,
                headers={**headers, "Host": host_header, signing.HEADER: signing.sign(secret, body)},
                # TLS checks the certificate against the URL's name, not the address.
                extensions={"sni_hostname": target.host} if by_name else {},
            )
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                kept = bytearray()
                async for chunk in response.aiter_raw():
                    kept += chunk
                    if len(kept) >= MAX_RESPONSE_BYTES:
                        break
            finally:
                await response.aclose()
    except guard.Refused as refused:
        raise DeliveryFailed(f"refused: {refused}") from None
    except TimeoutError:
        raise DeliveryFailed(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as failed:
        raise DeliveryFailed(f"{type(failed).__name__}: {failed}") from None
    if response.is_redirect:
        raise DeliveryFailed(f"answered {response.status_code} (redirects are not followed)")
    if not response.is_success:
        text = bytes(kept[:200]).decode(errors="replace")
        raise DeliveryFailed(f"answered {response.status_code}: {text}")
    return response.status_code


def _bracketed(address: guard.Address) -> str:
    return f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def new_client(timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False,
        limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=4),
    )


@dataclass
class Worker:
    """Sends due deliveries until cancelled."""

    store: Store
    settings: WebhookSettings
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    # One client per receiver host: pooled connections are keyed by address, so a client
    # shared across hosts could send one host's request on another's TLS connection.
    _clients: OrderedDict[str, httpx.AsyncClient] = field(default_factory=OrderedDict)

    @property
    def lease_ms(self) -> int:
        # Longer than a batch of posts can take (BATCH / CONCURRENCY rounds, each cut off at the
        # timeout), so a live worker never loses a row it is still sending.
        rounds = -(-outbox.BATCH // CONCURRENCY) + 1
        return int(self.settings.timeout_seconds * 1000 * rounds) + 5000

    def wake(self) -> None:
        """Look for deliveries now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                try:
                    tried = await self.send_due()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("event=webhook_outbox_failed")  # the store failed: next poll
                    tried = 0
                if tried:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
        finally:
            for client in self._clients.values():
                await client.aclose()

    def _client(self, url: str) -> httpx.AsyncClient:
        key = url.split("/", 3)[2] if url.count("/") >= 2 else url
        client = self._clients.pop(key, None) or new_client(self.settings.timeout_seconds)
        self._clients[key] = client
        if len(self._clients) > CLIENTS:
            _, oldest = self._clients.popitem(last=False)
            asyncio.get_running_loop().create_task(oldest.aclose())
        return client

    async def send_due(self) -> int:
        """Send what is due now; return how many deliveries were looked at."""
        candidates = await outbox.due(self.store)
        claimed = await outbox.claim(self.store, candidates, self.lease_ms)
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(row: outbox.Claimed) -> bool:
            async with slots:
                return await self.send(row)

        sent = await asyncio.gather(*(one(row) for row in claimed))
        await outbox.mark_sent(self.store, [row.id for row, ok in zip(claimed, sent, strict=True) if ok])
        return len(candidates)

    async def send(self, row: outbox.Claimed) -> bool:
        """Post one delivery; a failure is marked at once, a success left to the caller."""
        headers = {
            "Content-Type": "application/json", "User-Agent": f"chatserver-webhooks/{__version__}",
            signing.EVENT_HEADER: row.event_type, signing.ID_HEADER: row.event_id,
        }
        try:
            await post(self._client(row.url), row.url, row.secret, row.body.encode(), headers,
                       self.settings.allow + row.allow, self.settings.timeout_seconds)
        except DeliveryFailed as failed:
            status = await outbox.mark_failed(self.store, self.settings, row, str(failed))
            log.warning("event=webhook_failed id=%s event=%s type=%s attempt=%d status=%s error=%r",
                        row.id, row.event_id, row.event_type, row.attempts, status, str(failed)[:200])
            return False
        log.info("event=webhook_sent id=%s event=%s type=%s attempt=%d", row.id, row.event_id,
                 row.event_type, row.attempts)
        return True


@dataclass
class WebhookService:
    worker: Worker
    recorder: outbox.Recorder
    task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def start(store: Store, settings: WebhookSettings) -> WebhookService:
    """Start the worker; the returned recorder is what the hub hands Facts to."""
    worker = Worker(store, settings)
    service = WebhookService(worker, outbox.Recorder(store, worker.wake))
    service.task = asyncio.create_task(worker.run())
    log.info("event=webhooks_ready allow=%s", ",".join(str(n) for n in settings.allow) or "-")
    return service
