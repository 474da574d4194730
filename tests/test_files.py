"""Files and images in chats: the sniffing rules, and uploads and downloads over real HTTP."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import httpx
import pytest

from chatserver.files import settings as files_settings
from chatserver.files import sniff
from conftest import Client, Server, agent, assigned_chat, login, visitor

ORIGIN_HEADERS = {"X-Content-Type-Options": "nosniff",
                  "Content-Security-Policy": "sandbox; default-src 'none'"}


def png(width: int = 2, height: int = 2) -> bytes:
    """Return a real PNG of a small red square."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


HTML = b"<!doctype html><html><body><script>parent.stolen = document.cookie</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
       b"<script>alert(document.domain)</script></svg>")
# A valid GIF whose bytes also read as HTML: a browser that guessed would run the script.
POLYGLOT = b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;<script>alert(1)</script>;\x00\x3b"


# The rules, without a server ----------------------------------------------------------------

def test_the_bytes_decide_the_type_never_the_name() -> None:
    assert sniff.sniff(png()) == "image/png"
    assert sniff.sniff(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff.sniff(b"GIF87a....") == "image/gif"
    assert sniff.sniff(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff.sniff(b"%PDF-1.7\n") == "application/pdf"
    assert sniff.sniff("plain words, ünïcode".encode()) == "text/plain; charset=utf-8"
    assert sniff.sniff(b"\x00\x01\x02binary") == sniff.OCTET_STREAM
    for hostile in (HTML, SVG):
        assert sniff.sniff(hostile) == sniff.OCTET_STREAM


def test_only_four_raster_image_types_are_shown_inline() -> None:
    for kind in ("image/png", "image/jpeg", "image/gif", "image/webp"):
        assert sniff.served(kind, b"just pixels") == sniff.Served(kind, True)
    assert sniff.served("image/gif", POLYGLOT) == sniff.Served(sniff.OCTET_STREAM, False)
    assert sniff.served("application/pdf", b"%PDF-") == sniff.Served("application/pdf", False)
    assert sniff.served("image/svg+xml", SVG) == sniff.Served(sniff.OCTET_STREAM, False)
    assert sniff.served(sniff.sniff(SVG), SVG).inline is False


def test_names_lose_paths_and_control_characters_and_keep_their_letters() -> None:
    assert sniff.clean_name("../../etc/passwd") == "passwd"
    assert sniff.clean_name("C:\\Users\\me\\foto.png") == "foto.png"
    assert sniff.clean_name("a\r\nb\x00.txt") == "ab.txt"
    assert sniff.clean_name("") == "file"
    long = sniff.clean_name("x" * 500 + ".pdf")
    assert len(long) == sniff.MAX_NAME_CHARS and long.endswith(".pdf")
    header = sniff.disposition('rapport "één".pdf', inline=False)
    assert header.startswith('attachment; filename="rapport ___n_.pdf"')
    assert "filename*=UTF-8''rapport%20%22%C3%A9%C3%A9n%22.pdf" in header
    assert sniff.disposition("a.png", inline=True).startswith("inline;")


def test_settings_say_what_is_wrong() -> None:
    with pytest.raises(files_settings.FilesConfigError, match="expected dir or s3"):
        files_settings.from_env({"CHATSERVER_FILES": "ftp"})
    with pytest.raises(files_settings.FilesConfigError, match="CHATSERVER_S3_BUCKET"):
        files_settings.from_env({"CHATSERVER_FILES": "s3", "CHATSERVER_S3_ENDPOINT": "http://x"})
    with pytest.raises(files_settings.FilesConfigError, match="above 0"):
        files_settings.from_env({"CHATSERVER_FILE_MAX_BYTES": "ten"})
    made = files_settings.from_env({})
    assert (made.backend, made.max_file_bytes, made.max_conversation_bytes) == (
        "dir", 10 * 1024 * 1024, 50 * 1024 * 1024)


# Over real HTTP -------------------------------------------------------------------------------

async def _chat(server: Server, clients: list[Client]) -> tuple[Client, Client, str, str, str]:
    """Return ann, a visitor, their assigned chat, the site key and ann's session cookie."""
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    guest = await visitor(server, site)
    clients += [ann, guest]
    conversation = await assigned_chat(ann, guest)
    await ann.send(type="sync", conversation=conversation, after=0)  # the console opens the chat
    await ann.expect("synced", conversation=conversation)
    return ann, guest, conversation, site.public_key, await login(server, "ann@example.com")


async def _visitor_upload(
    server: Server, key: str, token: str, conversation: str, name: str, data: bytes,
    client_id: str = "f1",
) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{server.http}/api/v1/sites/{key}/conversations/{conversation}/files",
            params={"name": name, "client_id": client_id}, content=data,
            headers={"Authorization": f"Bearer {token}", "Origin": server.http,
                     "Content-Type": "text/html"},  # the uploader's word: ignored
        )


async def _agent_get(server: Server, cookie: str, file_id: str) -> httpx.Response:
    async with httpx.AsyncClient(cookies={"chatserver_session": cookie}) as http:
        return await http.get(f"{server.http}/api/v1/files/{file_id}")


async def _visitor_get(server: Server, key: str, token: str, file_id: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(f"{server.http}/api/v1/sites/{key}/files/{file_id}",
                              headers={"Authorization": f"Bearer {token}", "Origin": server.http})


def _inert(answer: httpx.Response) -> None:
    for name, value in ORIGIN_HEADERS.items():
        assert answer.headers[name] == value


@pytest.mark.shared_server
async def test_a_visitor_sends_an_image_the_agent_sees_and_downloads_it(
    server: Server, clients: list[Client]
) -> None:
    ann, guest, conversation, key, cookie = await _chat(server, clients)
    image = png(40, 30)
    sent = await _visitor_upload(server, key, guest.token or "", conversation, "screenshot.png", image)
    assert sent.status_code == 201, sent.text
    file = sent.json()["file"]
    assert file == {"id": file["id"], "name": "screenshot.png", "type": "image/png",
                    "size": len(image), "inline": True}

    event = await ann.expect("message", conversation=conversation, seq=2)
    assert event["files"] == [file] and event["author"]["kind"] == "visitor"
    # Every tab of the visitor, the sending one too, gets the message (the upload was HTTP).
    assert (await guest.expect("message", conversation=conversation, seq=2))["files"] == [file]

    got = await _agent_get(server, cookie, file["id"])
    assert got.status_code == 200 and got.content == image
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith('inline; filename="screenshot.png"')
    _inert(got)
    # A reconnecting client gets the files with the messages it missed.
    await ann.send(type="sync", conversation=conversation, after=1)
    assert (await ann.expect("message", conversation=conversation, seq=2))["files"] == [file]


@pytest.mark.shared_server
async def test_an_agent_sends_a_file_the_visitor_gets_a_link_and_downloads_it(
    server: Server, clients: list[Client]
) -> None:
    ann, guest, conversation, key, cookie = await _chat(server, clients)
    pdf = b"%PDF-1.4\n" + b"0123456789" * 5000
    async with httpx.AsyncClient(cookies={"chatserver_session": cookie}) as http:
        sent = await http.post(f"{server.http}/api/v1/conversations/{conversation}/files",
                               params={"name": "invoice.pdf", "client_id": "a1"}, content=pdf,
                               headers={"Origin": server.http})
    assert sent.status_code == 201, sent.text
    file = sent.json()["file"]
    assert (file["type"], file["inline"]) == ("application/pdf", False)
    event = await guest.expect("message", conversation=conversation, seq=2)
    assert event["files"] == [file] and event["author"]["kind"] == "agent"

    got = await _visitor_get(server, key, guest.token or "", file["id"])
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["content-disposition"].startswith('attachment; filename="invoice.pdf"')
    assert got.headers["access-control-allow-origin"] == server.http
    _inert(got)


@pytest.mark.shared_server
async def test_only_those_who_may_read_the_conversation_get_its_files(
    server: Server, clients: list[Client]
) -> None:
    ann, guest, conversation, key, cookie = await _chat(server, clients)
    sent = await _visitor_upload(server, key, guest.token or "", conversation, "a.png", png())
    file_id = sent.json()["file"]["id"]
    stranger = await visitor(server, (await _site_of(server, key)))
    clients.append(stranger)

    refused = await _visitor_get(server, key, stranger.token or "", file_id)
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"
    async with httpx.AsyncClient() as http:
        anonymous = await http.get(f"{server.http}/api/v1/files/{file_id}")
        forged = await http.get(f"{server.http}/api/v1/files/{file_id}", params={"sig": "x.y.z"})
    assert anonymous.status_code == 401 and forged.status_code == 403
    # Another site's agent: the file is no file at all to them.
    other = await server.add_site("Other")
    await server.add_agent("bob@example.com", other)
    assert (await _agent_get(server, await login(server, "bob@example.com"), file_id)).status_code == 404
    # Nor may a stranger put a file into someone else's chat.
    wrote = await _visitor_upload(server, key, stranger.token or "", conversation, "b.png", png())
    assert wrote.status_code == 404


async def _site_of(server: Server, key: str):  # type: ignore[no-untyped-def]
    from chatserver import sites
    from chatserver.store import Store

    store = Store(server.store_url)
    try:
        return await sites.by_key(store, key)
    finally:
        await store.close()


@pytest.mark.shared_server
@pytest.mark.parametrize("name,data", [("page.html", HTML), ("logo.svg", SVG), ("cat.gif", POLYGLOT)])
async def test_a_hostile_file_is_served_inert(
    server: Server, clients: list[Client], name: str, data: bytes
) -> None:
    ann, guest, conversation, key, cookie = await _chat(server, clients)
    sent = await _visitor_upload(server, key, guest.token or "", conversation, name, data)
    assert sent.status_code == 201
    assert sent.json()["file"]["inline"] is False
    got = await _agent_get(server, cookie, sent.json()["file"]["id"])
    assert got.content == data
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment;")
    _inert(got)


@pytest.mark.shared_server
async def test_a_resent_upload_is_stored_once(server: Server, clients: list[Client]) -> None:
    ann, guest, conversation, key, cookie = await _chat(server, clients)
    first = await _visitor_upload(server, key, guest.token or "", conversation, "a.png", png(), "same")
    again = await _visitor_upload(server, key, guest.token or "", conversation, "a.png", png(), "same")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["file"] == first.json()["file"]
    assert again.json()["ack"]["duplicate"] is True
    assert again.json()["ack"]["seq"] == first.json()["ack"]["seq"]


@pytest.mark.shared_server
async def test_an_agent_who_does_not_hold_the_chat_may_not_send_files(
    server: Server, clients: list[Client]
) -> None:
    ann, guest, conversation, key, cookie = await _chat(server, clients)
    await server.add_agent("cy@example.com", await _site_of(server, key))
    cy = await login(server, "cy@example.com")
    async with httpx.AsyncClient(cookies={"chatserver_session": cy}) as http:
        refused = await http.post(f"{server.http}/api/v1/conversations/{conversation}/files",
                                  params={"name": "x.txt"}, content=b"hello")
        foreign = await http.post(f"{server.http}/api/v1/conversations/{conversation}/files",
                                  params={"name": "x.txt"}, content=b"hello",
                                  headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert foreign.status_code == 403


def _stored_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "files").rglob("*") if p.is_file()]


async def test_over_the_limits_is_413_in_the_one_shape_and_nothing_is_stored(
    tmp_path: Path, clients: list[Client]
) -> None:
    server = Server(tmp_path / "data", {"CHATSERVER_FILE_MAX_BYTES": "1000",
                                        "CHATSERVER_CONVERSATION_FILES_MAX_BYTES": "2500"})
    server.start()
    try:
        ann, guest, conversation, key, cookie = await _chat(server, clients)
        token = guest.token or ""
        big = await _visitor_upload(server, key, token, conversation, "big.bin", b"x" * 1001)
        assert big.status_code == 413
        assert big.json() == {"type": "error", "code": "too_large",
                              "message": "files may be at most 1000 bytes"}

        # Without a Content-Length (chunked), the bytes are counted as they come.
        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(20):
                yield b"y" * 100
        async with httpx.AsyncClient() as http:
            streamed = await http.post(
                f"{server.http}/api/v1/sites/{key}/conversations/{conversation}/files",
                params={"name": "s.bin"}, content=chunks(),
                headers={"Authorization": f"Bearer {token}", "Origin": server.http})
        assert streamed.status_code == 413 and streamed.json()["code"] == "too_large"
        assert _stored_files(server.data_dir) == []

        for n in range(2):
            ok = await _visitor_upload(server, key, token, conversation, f"{n}.txt", b"z" * 1000, f"k{n}")
            assert ok.status_code == 201
        full = await _visitor_upload(server, key, token, conversation, "3.txt", b"z" * 600, "k3")
        assert full.status_code == 413
        assert "at most 2500 bytes of files and holds 2000 bytes" in full.json()["message"]
        assert len(_stored_files(server.data_dir)) == 2
        # The refused uploads left no message: the chat holds the question and two files.
        await guest.send(type="sync", conversation=conversation, after=0)
        synced = await guest.expect("synced", conversation=conversation)
        assert synced["last_seq"] == 3
    finally:
        server.stop()


def test_storage_keys_are_ids_never_paths(tmp_path: Path) -> None:
    from chatserver.files.storage import DirStorage

    storage = DirStorage(tmp_path)
    with pytest.raises(KeyError):
        storage.path("../../etc/passwd")
    assert storage.path("AbCdEfGh12345678") == tmp_path / "Ab" / "Cd" / "AbCdEfGh12345678"


def test_transcripts_name_a_chats_files_and_link_them_when_the_server_has_an_address() -> None:
    from chatserver.auth import Signer
    from chatserver.chat.model import ChatMessage
    from chatserver.files.links import mail_linker
    from chatserver.tickets.handover import transcript

    file = {"id": "F1le1d000001", "name": "foto.png", "type": "image/png", "size": 9, "inline": True}
    chat = [ChatMessage("m1", "c1", 1, "visitor", "v1", "Vi", "x", "", 1, (file,))]
    signer = Signer("secret")
    [line] = transcript(chat, "Acme", mail_linker("https://chat.example", signer))
    assert line["text"] == "foto.png"
    url = line["files"][0]["url"]
    assert url.startswith("https://chat.example/api/v1/files/F1le1d000001?sig=")
    assert signer.file_of_link(url.split("sig=")[1].replace("%3A", ":"), 60) == "F1le1d000001"
    assert transcript(chat, "Acme", mail_linker("", signer))[0]["files"] == [
        {"name": "foto.png", "url": None}]


@pytest.mark.shared_server
async def test_a_signed_mail_link_opens_the_file_without_a_session(
    server: Server, clients: list[Client]
) -> None:
    from chatserver import auth
    from chatserver.files.links import mail_linker
    from chatserver.store import Store

    ann, guest, conversation, key, cookie = await _chat(server, clients)
    sent = await _visitor_upload(server, key, guest.token or "", conversation, "a.png", png())
    store = Store(server.store_url)
    try:
        signer = auth.Signer(await auth.instance_secret(store))
    finally:
        await store.close()
    link = mail_linker(server.http, signer)(sent.json()["file"]["id"])
    assert link is not None
    async with httpx.AsyncClient() as http:
        got = await http.get(link)
        other = await http.get(link.replace(sent.json()["file"]["id"], "AAAAAAAAAAAAAAAA"))
    assert got.status_code == 200 and got.content == png()
    assert other.status_code == 403  # a link opens the one file it was made for
