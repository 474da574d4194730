"""A tiny authoritative DNS server on loopback: the TXT records a test publishes, NXDOMAIN for
every other name. It stands in for the world's DNS when the server checks SPF, DKIM and DMARC."""

from __future__ import annotations

import base64
import functools
import socket
import threading

import dkim
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# A TXT string holds at most 255 bytes; a 2048-bit key is longer, so it goes in pieces.
TXT_PIECE = 255


class Zone:
    """Answer TXT queries on 127.0.0.1 from a dict the test changes at will, in a thread."""

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="dns-zone", daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def txt(self, name: str, *values: str) -> None:
        """Publish name's TXT records (none: the name no longer exists)."""
        if values:
            self.records[name.lower().rstrip(".")] = list(values)
        else:
            self.records.pop(name.lower().rstrip("."), None)

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
            name = question.name.to_text(omit_final_dot=True).lower()
            values = self.records.get(name)
            if values is None:
                answer.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.TXT:
                texts = [" ".join(f'"{value[i:i + TXT_PIECE]}"' for i in range(0, len(value), TXT_PIECE))
                         for value in values]
                answer.answer.append(dns.rrset.from_text_list(
                    question.name, 60, dns.rdataclass.IN, dns.rdatatype.TXT, texts))
            self.sock.sendto(answer.to_wire(), peer)


@functools.cache
def key_pair() -> tuple[bytes, str]:
    """Return a fresh RSA private key (PEM, PKCS#1 as dkimpy signs with) and its DKIM record."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"


def publish_key(zone: Zone, domain: str, selector: str = "test") -> None:
    """Publish the test's DKIM public key for domain under selector."""
    zone.txt(f"{selector}._domainkey.{domain}", key_pair()[1])


def signed(raw: bytes, domain: str, selector: str = "test") -> bytes:
    """Return raw with a DKIM signature of domain on top, made with the test's private key."""
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    header = dkim.sign(raw, selector.encode(), domain.encode(), key_pair()[0],
                       canonicalize=(b"relaxed", b"relaxed"),
                       include_headers=[b"from", b"to", b"subject", b"message-id", b"in-reply-to",
                                        b"references", b"date"])
    return bytes(header) + raw
