"""How this instance delivers webhooks: the operator's allow-list, retry and dead-letter limits."""

from __future__ import annotations

from dataclasses import dataclass

from chatserver.webhooks import guard

# A receiver down for a day has had its chance; its deliveries wait as dead letters for an
# admin to replay.
GIVE_UP_SECONDS = 24 * 3600
DEFAULT_ATTEMPTS = 12
DEFAULT_RETRY_SECONDS = 10.0
# A receiver should answer at once and do its work later; one that takes longer is cut off.
DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class WebhookSettings:
    # Private networks every site may deliver to (CHATSERVER_WEBHOOK_ALLOW, CIDRs).
    allow: tuple[guard.Network, ...] = ()
    # The first retry waits about this long; each next one twice as long (with jitter).
    retry_seconds: float = DEFAULT_RETRY_SECONDS
    max_attempts: int = DEFAULT_ATTEMPTS
    give_up_seconds: float = GIVE_UP_SECONDS
    # The whole of one delivery: connect, send, the answer's status and first 64 KiB.
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


def from_env(env: dict[str, str]) -> WebhookSettings:
    """Read CHATSERVER_WEBHOOK_ALLOW, _RETRY_SECONDS, _ATTEMPTS and _TIMEOUT_SECONDS; raise
    ValueError on a bad one."""
    allow = guard.parse_networks(env.get("CHATSERVER_WEBHOOK_ALLOW", "").replace(",", " ").split())
    retry = env.get("CHATSERVER_WEBHOOK_RETRY_SECONDS", str(DEFAULT_RETRY_SECONDS))
    attempts = env.get("CHATSERVER_WEBHOOK_ATTEMPTS", str(DEFAULT_ATTEMPTS))
    timeout = env.get("CHATSERVER_WEBHOOK_TIMEOUT_SECONDS", str(DEFAULT_TIMEOUT_SECONDS))
    try:
        retry_seconds, max_attempts, timeout_seconds = float(retry), int(attempts), float(timeout)
    except ValueError:
        raise ValueError(
            "CHATSERVER_WEBHOOK_RETRY_SECONDS, _ATTEMPTS and _TIMEOUT_SECONDS must be numbers"
        ) from None
    if not 0.01 <= retry_seconds <= 3600 or not 1 <= max_attempts <= 100:
        raise ValueError("CHATSERVER_WEBHOOK_RETRY_SECONDS must be 0.01-3600, _ATTEMPTS 1-100")
    if not 0.1 <= timeout_seconds <= 60:
        raise ValueError("CHATSERVER_WEBHOOK_TIMEOUT_SECONDS must be 0.1-60")
    return WebhookSettings(allow, retry_seconds, max_attempts, timeout_seconds=timeout_seconds)

