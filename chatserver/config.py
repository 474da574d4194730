"""Settings from command-line flags and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from chatserver.files import settings as files_settings
from chatserver.mail import settings as mail_settings
from chatserver.webhooks import settings as webhook_settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DATA_DIR = "./chatserver-data"
# 16 KiB holds a long message with room for JSON escaping; larger frames are refused
# before they are parsed so one client cannot make the server allocate for everyone.
DEFAULT_MAX_FRAME_BYTES = 16 * 1024


class ConfigError(ValueError):
    """A setting that cannot be used, with a message fit for the person who set it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database_url: str = ""
    broker_url: str = "memory://"
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    # /metrics answers this machine always, and anyone else who brings this token.
    metrics_token: str = ""
    log_level: str = "info"
    # Mail out (SMTP_URL or .eml files) and in; smtp_port is the inbound listener (--smtp-port).
    mail: mail_settings.MailSettings = field(default_factory=mail_settings.MailSettings)
    smtp_port: int | None = None
    # Help search by meaning as well as words (chatserver/embeddings.py); CHATSERVER_SEARCH_MEANING=off
    # leaves Whoosh alone, and saves the model's second of loading and ~120 MB.
    search_meaning: bool = True
    # Webhook deliveries: the operator's allow-list of private networks, retries, timeout.
    webhooks: webhook_settings.WebhookSettings = field(default_factory=webhook_settings.WebhookSettings)
    # CHATSERVER_LIMITS=off turns the rate limits off (blocks still hold): for benchmarks.
    limits: bool = True
    # Sockets one network may hold open on one process. Raise it where many people share an
    # address (a carrier's NAT, a campus) or for a load test from one machine.
    sockets_per_network: int = 500
    # Files in chats (chatserver/files): where they live (CHATSERVER_FILES) and their limits.
    files: files_settings.FilesSettings = field(default_factory=files_settings.FilesSettings)

    @property
    def store_url(self) -> str:
        """Return the database URL, the embedded SQLite file unless DATABASE_URL is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'chatserver.db'}"


def data_dir_default() -> str:
    """Return the data directory from CHATSERVER_DATA_DIR, or the default."""
    return os.environ.get("CHATSERVER_DATA_DIR", DEFAULT_DATA_DIR)


def load(
    data_dir: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    environ: dict[str, str] | None = None,
    smtp_port: int | None = None,
) -> Settings:
    """Build settings from flags plus the environment; raise ConfigError on a bad value."""
    env = dict(os.environ if environ is None else environ)
    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is out of range (0-65535)")
    if smtp_port is not None and not 0 <= smtp_port <= 65535:
        raise ConfigError(f"SMTP port {smtp_port} is out of range (0-65535)")
    frame = env.get("CHATSERVER_MAX_FRAME_BYTES", str(DEFAULT_MAX_FRAME_BYTES))
    if not frame.isdigit() or not 256 <= int(frame) <= 16 * 1024 * 1024:
        raise ConfigError(
            f"CHATSERVER_MAX_FRAME_BYTES={frame!r}: expected a number of bytes from 256 to 16777216"
        )
    meaning = env.get("CHATSERVER_SEARCH_MEANING", "on").strip().lower()
    if meaning not in ("on", "off"):
        raise ConfigError(f"CHATSERVER_SEARCH_MEANING={meaning!r}: expected on or off")
    sockets_per_network = env.get("CHATSERVER_SOCKETS_PER_NETWORK", "500")
    if not sockets_per_network.isdigit() or int(sockets_per_network) < 1:
        raise ConfigError(
            f"CHATSERVER_SOCKETS_PER_NETWORK={sockets_per_network!r}: expected a positive number")
    limits = env.get("CHATSERVER_LIMITS", "on")
    if limits not in ("on", "off"):
        raise ConfigError(f"CHATSERVER_LIMITS={limits!r}: expected on or off")
    database_url = env.get("DATABASE_URL", "")
    if database_url and not database_url.startswith(("sqlite+aiosqlite://", "postgresql")):
        raise ConfigError(
            "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    try:
        files = files_settings.from_env(env)
    except files_settings.FilesConfigError as bad:
        raise ConfigError(str(bad)) from None
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+asyncpg://" + database_url.removeprefix("postgresql://")
    try:
        webhooks = webhook_settings.from_env(env)
    except ValueError as bad:
        raise ConfigError(str(bad)) from None
    return Settings(
        data_dir=Path(data_dir),
        host=host,
        port=port,
        database_url=database_url,
        broker_url=env.get("REDIS_URL", "") or "memory://",
        max_frame_bytes=int(frame),
        metrics_token=env.get("CHATSERVER_METRICS_TOKEN", ""),
        log_level=env.get("CHATSERVER_LOG_LEVEL", "info"),
        mail=mail_settings.from_env(env),
        smtp_port=smtp_port,
        search_meaning=meaning == "on",
        webhooks=webhooks,
        limits=limits == "on",
        sockets_per_network=int(sockets_per_network),
        files=files,
    )
