"""A Telegram bot as a chatserver channel: customers write to the bot, agents answer in the console.

Stand-alone, written against chatserver's public API and webhooks only (docs/api.md,
docs/webhooks.md), with nothing but httpx and the standard library:

- it long-polls Telegram's getUpdates and posts each private text message to
  POST /api/v2/channels/telegram/messages, naming the Telegram user by their id;
- it serves one HTTP endpoint for chatserver's signed webhooks, checks the signature, and
  sends agents' replies (message.created by an agent) and the close (conversation.closed)
  to the user with Telegram's sendMessage.

Set up (docs/channels.md, "A Telegram bot"), then run `python examples/telegram_bridge.py`
with these environment variables:

    TELEGRAM_BOT_TOKEN          the bot's token from @BotFather
    CHATSERVER_URL              https://chat.example
    CHATSERVER_API_TOKEN        a write token named "Telegram" (channel api:telegram)
    CHATSERVER_WEBHOOK_SECRET   the whsec_... secret of the webhook pointing at this bridge
    BRIDGE_LISTEN               where the webhook endpoint listens (default 127.0.0.1:8088)
    TELEGRAM_API_URL            Telegram's Bot API (default https://api.telegram.org)
    CHATSERVER_CHANNEL          the integration's name (default telegram)
    BRIDGE_CLOSED_TEXT          what the user reads when an agent closes the chat
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

log = logging.getLogger("telegram_bridge")

# Telegram holds a getUpdates call open up to this long when there is nothing new.
POLL_SECONDS = 30
# Telegram refuses longer messages; a longer reply goes as several.
TELEGRAM_MAX_CHARS = 4096
# A signed webhook older than this is refused: a captured one cannot be replayed later.
TOLERANCE_SECONDS = 300
# chatserver delivers at least once: ids already handled are skipped (the last this many).
SEEN_KEPT = 10_000
# After a failure (network, a 5xx) the same updates are fetched again after this long.
RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class Config:
    bot_token: str
    chatserver_url: str
    api_token: str
    webhook_secret: str
    listen: tuple[str, int]
    telegram_url: str = "https://api.telegram.org"
    channel: str = "telegram"
    closed_text: str = "This conversation is closed. Write again any time."

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Config:
        missing = [k for k in ("TELEGRAM_BOT_TOKEN", "CHATSERVER_URL", "CHATSERVER_API_TOKEN",
                               "CHATSERVER_WEBHOOK_SECRET") if not env.get(k)]
        if missing:
            raise SystemExit(f"set {', '.join(missing)} (see the top of {__file__})")
        host, _, port = env.get("BRIDGE_LISTEN", "127.0.0.1:8088").rpartition(":")
        return cls(
            bot_token=env["TELEGRAM_BOT_TOKEN"], chatserver_url=env["CHATSERVER_URL"].rstrip("/"),
            api_token=env["CHATSERVER_API_TOKEN"], webhook_secret=env["CHATSERVER_WEBHOOK_SECRET"],
            listen=(host or "127.0.0.1", int(port)),
            telegram_url=env.get("TELEGRAM_API_URL", cls.telegram_url).rstrip("/"),
            channel=env.get("CHATSERVER_CHANNEL", cls.channel),
            closed_text=env.get("BRIDGE_CLOSED_TEXT", cls.closed_text),
        )


def verify(secret: str, body: bytes, header: str) -> None:
    """Raise ValueError unless header signs body with secret, recently (docs/webhooks.md)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        raise ValueError("no timestamp") from None
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise ValueError("bad signature")
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        raise ValueError("too old")


class Bridge:
    """Telegram updates in, chatserver webhooks out."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.telegram = httpx.Client(base_url=f"{config.telegram_url}/bot{config.bot_token}",
                                     timeout=POLL_SECONDS + 10)
        self.chatserver = httpx.Client(base_url=config.chatserver_url, timeout=30, headers={
            "Authorization": f"Bearer {config.api_token}"})
        self.offset = 0
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()

    # Telegram to chatserver -----------------------------------------------------------------

    def poll_once(self, timeout: int = POLL_SECONDS) -> None:
        """Fetch new updates and post each; an update is acknowledged only once posted."""
        answer = self.telegram.post("/getUpdates", json={
            "offset": self.offset, "timeout": timeout, "allowed_updates": ["message"]})
        answer.raise_for_status()
        for update in answer.json().get("result", []):
            self.forward(update)
            self.offset = update["update_id"] + 1

    def forward(self, update: dict[str, Any]) -> None:
        """Post one update's message to chatserver; tell the user when chatserver refuses it."""
        message = update.get("message") or {}
        chat, sender = message.get("chat") or {}, message.get("from") or {}
        text = message.get("text") or message.get("caption")
        if chat.get("type") != "private" or not text or "id" not in sender:
            return  # groups, stickers, photos without a caption: not for the support desk
        name = " ".join(filter(None, (sender.get("first_name"), sender.get("last_name")))) or None
        posted = self.chatserver.post(f"/api/v2/channels/{self.config.channel}/messages", json={
            "user": {"id": str(sender["id"]), "name": name}, "text": text,
            # Telegram's own message id: the same update posted twice is stored once.
            "client_id": f"tg-{chat['id']}-{message['message_id']}",
        })
        if posted.status_code >= 500 or posted.status_code == 429:
            posted.raise_for_status()  # kept: the update is fetched and posted again
        if posted.status_code >= 400:
            # Refused for good (the channel is off, the text too long): say so, go on.
            log.warning("chatserver refused an update: %s", posted.text)
            self.send(chat["id"], posted.json().get("message", "Your message could not be delivered."))

    def poll_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except (httpx.HTTPError, ValueError) as failed:
                log.warning("polling failed, trying again: %s", failed)
                stop.wait(RETRY_SECONDS)

    # chatserver to Telegram -----------------------------------------------------------------

    def send(self, chat_id: int | str, text: str) -> None:
        for start in range(0, len(text), TELEGRAM_MAX_CHARS):
            sent = self.telegram.post("/sendMessage", json={
                "chat_id": chat_id, "text": text[start:start + TELEGRAM_MAX_CHARS]})
            sent.raise_for_status()

    def handle(self, event: dict[str, Any]) -> None:
        """Send an agent's reply or the close on to the Telegram user it belongs to."""
        data = event.get("data") or {}
        channel = data.get("channel") or {}
        if channel.get("name") != f"api:{self.config.channel}" or not channel.get("user_id"):
            return  # a widget chat, or another integration's
        # In a private chat, Telegram's chat id is the user's id.
        user = channel["user_id"]
        if event.get("type") == "message.created" and data["message"]["author"]["kind"] == "agent":
            self.send(user, data["message"]["text"])
        elif event.get("type") == "conversation.closed":
            self.send(user, self.config.closed_text)

    def receive(self, body: bytes, signature: str) -> int:
        """Answer one webhook delivery with an HTTP status; a failed send asks for a retry."""
        try:
            verify(self.config.webhook_secret, body, signature)
            event = json.loads(body)
        except ValueError as bad:
            log.warning("refused a webhook: %s", bad)
            return 401
        with self._seen_lock:
            if event["id"] in self._seen:
                return 200
        try:
            self.handle(event)
        except httpx.HTTPError as failed:
            log.warning("could not send to Telegram, chatserver will retry: %s", failed)
            return 502
        with self._seen_lock:
            self._seen[event["id"]] = None
            while len(self._seen) > SEEN_KEPT:
                self._seen.popitem(last=False)
        return 200

    def serve(self) -> ThreadingHTTPServer:
        """Start the webhook endpoint in a thread; return its server (shutdown() stops it)."""
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > 1_000_000:
                    self.send_response(413)
                    self.end_headers()
                    return
                status = bridge.receive(self.rfile.read(length), self.headers.get("Chatserver-Signature", ""))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

        server = ThreadingHTTPServer(self.config.listen, Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    bridge = Bridge(Config.from_env(dict(os.environ)))
    server = bridge.serve()
    log.info("webhooks on http://%s:%d/, polling Telegram", *server.server_address[:2])
    stop = threading.Event()
    try:
        bridge.poll_forever(stop)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
