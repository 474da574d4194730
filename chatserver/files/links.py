"""Links to a chat's files that work without a session: for mails (transcripts, tickets)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from chatserver.auth import Signer

# A link in a mail opens the file for this long: a customer reading the mail a few weeks
# later still gets the screenshot; after that the agents' console has it.
MAIL_LINK_SECONDS = 30 * 24 * 3600


def mail_linker(public_url: str, signer: Signer) -> Callable[[str], str | None]:
    """Return file id -> signed address, or -> None when CHATSERVER_PUBLIC_URL is not set."""

    def link(file_id: str) -> str | None:
        if not public_url:
            return None  # no address the reader could reach: the mail names the file only
        return f"{public_url}/api/v1/files/{file_id}?sig={quote(signer.file_link(file_id))}"

    return link
