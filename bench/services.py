"""What the peak bench runs beside chatserver: PostgreSQL, Redis, an SMTP sink and a DNS zone.

Each runs on a free loopback port, from Debian's binaries or in this process, and is gone at
the end of its `with` block. The DNS zone publishes one DKIM key, so the customers' replies
the bench signs pass chatserver's inbound checks as a real provider's mail would.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import dkim
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.common import free_port, wait_port

START_TIMEOUT = 60.0


class Missing(RuntimeError):
    """A service's binary is not installed."""


def _binary(name: str, pattern: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(pattern), reverse=True)), None)
    if not found:
        raise Missing(f"{name} is not installed (scripts/test installs it as root)")
    return found


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """Run a throw-away PostgreSQL cluster; yield the SQLAlchemy URL of an empty database."""
    bindir = Path(_binary("initdb", "/usr/lib/postgresql/*/bin/initdb")).resolve().parent
    workdir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    # initdb and postgres refuse to run as root: run them as the `postgres` user then.
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        owner = pwd.getpwnam(user)
        os.chown(workdir, owner.pw_uid, owner.pw_gid)
    port = free_port()
    process = None
    try:
        subprocess.run([str(bindir / "initdb"), "-D", str(workdir / "data"), "-U", "postgres", "-A",
                        "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                       user=user, cwd=workdir, check=True, capture_output=True, timeout=START_TIMEOUT)
        # fsync stays on (unlike the tests' clusters): a bench of durable chat must pay for it.
        process = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(workdir / "data"), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={workdir}",
             "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=user, cwd=workdir)
        wait_port(port, process, START_TIMEOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"],
                             check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("postgres did not become ready")
            time.sleep(0.1)
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if process is not None:
            process.send_signal(2)  # SIGINT: PostgreSQL's fast shutdown
            process.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def redis() -> Iterator[str]:
    """Run a throw-away redis-server; yield its URL."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    process = subprocess.Popen(
        [_binary("redis-server", "/usr/bin/redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, process, START_TIMEOUT)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


class Zone:
    """Answer TXT queries on 127.0.0.1 from a dict, in a thread: the world's DNS for DKIM."""

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="bench-dns", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            answer = dns.message.make_response(query)
            answer.flags |= dns.flags.AA
            question = query.question[0]
            values = self.records.get(question.name.to_text(omit_final_dot=True).lower())
            if values is None:
                answer.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.TXT:
                # A TXT string holds at most 255 bytes; a 2048-bit key goes in pieces.
                texts = [" ".join(f'"{v[i:i + 255]}"' for i in range(0, len(v), 255)) for v in values]
                answer.answer.append(dns.rrset.from_text_list(
                    question.name, 60, dns.rdataclass.IN, dns.rdatatype.TXT, texts))
            self.sock.sendto(answer.to_wire(), peer)


class Signer:
    """A customer domain's DKIM key, published in a Zone; signs mail as its provider would."""

    SELECTOR = "bench"

    def __init__(self, zone: Zone, domain: str) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.domain = domain
        self.private = key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        zone.records[f"{self.SELECTOR}._domainkey.{domain}"] = [
            f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"]

    def sign(self, raw: bytes) -> bytes:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        header = dkim.sign(raw, self.SELECTOR.encode(), self.domain.encode(), self.private,
                           canonicalize=(b"relaxed", b"relaxed"),
                           include_headers=[b"from", b"to", b"subject", b"message-id", b"in-reply-to",
                                            b"references", b"date"])
        return bytes(header) + raw


@dataclass
class Sink:
    """An aiosmtpd server on loopback that keeps every mail chatserver sends, by recipient."""

    port: int = field(default_factory=free_port)
    mails: dict[str, list[tuple[float, EmailMessage]]] = field(default_factory=dict)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        assert isinstance(message, EmailMessage)
        for rcpt in envelope.rcpt_tos:
            self.mails.setdefault(rcpt.lower(), []).append((time.perf_counter(), message))
        return "250 OK"

    @contextlib.contextmanager
    def running(self) -> Iterator[Sink]:
        controller = Controller(self, hostname="127.0.0.1", port=self.port)
        controller.start()
        try:
            yield self
        finally:
            controller.stop()
