"""Whether an inbound mail's From domain is proven: SPF, DKIM and DMARC, as one plain verdict.

All use of the mail-authentication libraries lives here: dkimpy verifies DKIM signatures,
pyspf evaluates SPF, the `dmarc` package parses a published policy and decides alignment, and
publicsuffixlist finds a domain's organisation. DNS goes through one dnspython resolver that
settings may point at a given server (tests run one on loopback).

The rule is DMARC's, applied also to domains that publish no policy: a mail is proven when a
DKIM signature that verifies, or an SPF pass, is for the From domain (relaxed: the same
organisation) or, with a published policy, aligned as that policy says. A policy of p=none
does not make an unproven mail proven: it only tells receivers not to reject it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

import dkim
import dmarc
import dns.exception
import dns.name
import dns.resolver
import spf
from publicsuffixlist import PublicSuffixList

# Each lookup may take this long; SPF may chain up to 10 of them, so its whole check is capped
# at twice that (RFC 7208 4.6.4 allows 20 s; a customer's mail waits on this in the listener).
LOOKUP_SECONDS = 5.0
SPF_SECONDS = 10.0
# dkimpy refuses RSA keys below 1024 bits: shorter ones are factored for little money.
MIN_KEY_BITS = 1024
# More signatures than this are not checked: each costs a DNS lookup and an RSA operation.
MAX_SIGNATURES = 5

_PSL = PublicSuffixList()


@dataclass(frozen=True)
class Origin:
    """Where a mail came from over SMTP: the connecting address, MAIL FROM and HELO."""

    ip: str
    mail_from: str
    helo: str


@dataclass(frozen=True)
class Signature:
    domain: str  # its d= tag
    result: str  # pass, fail, temperror


@dataclass(frozen=True)
class Evidence:
    """What DNS and the signatures said about one mail: the input of decide()."""

    from_domain: str
    spf: str = "none"  # pyspf's result for spf_domain and spf_ip
    spf_domain: str = ""  # the MAIL FROM domain, or the HELO name for a bounce
    spf_ip: str = ""
    signatures: tuple[Signature, ...] = ()
    dmarc_record: str | None = None  # the TXT of _dmarc.<from> or of its organisation
    dmarc_org: str | None = None  # the organisation's domain when its record applied


@dataclass(frozen=True)
class AuthVerdict:
    spf: str
    dkim: str  # pass (one signature verified), fail, temperror, none (unsigned)
    dmarc: str  # pass, fail, none (no policy published)
    passed: bool
    reason: str  # what a site owner reads on the held-mail page

    @property
    def summary(self) -> str:
        return f"{self.reason} (spf={self.spf} dkim={self.dkim} dmarc={self.dmarc})"


class _Organisations:
    """The `dmarc` package's view of the public suffix list: a domain's organisation."""

    def get_public_suffix(self, domain: str) -> str:
        return organisation(domain)


def organisation(domain: str) -> str:
    """Return the registered domain that domain belongs to (mail.example.co.uk: example.co.uk)."""
    return _PSL.privatesuffix(domain.lower()) or domain.lower()


def decide(evidence: Evidence) -> AuthVerdict:
    """Decide whether the evidence proves the From domain; pure, no I/O."""
    fd = evidence.from_domain.lower()
    dkim_result = _dkim_summary(evidence.signatures)
    if not fd:
        return AuthVerdict(evidence.spf, dkim_result, "none", False, "the From line names no domain")
    policy = _policy(evidence)
    checker = dmarc.DMARC(publicsuffix=_Organisations())
    spf_result = None
    if evidence.spf_domain and evidence.spf == "pass":
        spf_result = dmarc.SPF(evidence.spf_domain, dmarc.SPFResult.PASS)
    results = dmarc.AuthResults(spf=spf_result, dkim=[
        dmarc.DKIM(s.domain, dmarc.DKIMResult.PASS) for s in evidence.signatures
        if s.result == "pass" and s.domain
    ])
    outcome = checker.get_result(policy or _no_policy(fd), auth_results=results)
    passed = outcome.result is dmarc.DMARCResult.PASS
    dmarc_result = "none" if policy is None else outcome.result.value
    if passed:
        reason = "DKIM signature verified" if outcome.dkim is dmarc.DMARCResult.PASS else "SPF pass"
    else:
        reason = _why_not(evidence, fd)
        if policy is not None:
            reason = f"{reason}; DMARC fails ({fd} asks receivers to {_policy_action(policy)})"
    return AuthVerdict(evidence.spf, dkim_result, dmarc_result, passed, reason)


def _no_policy(domain: str) -> Any:
    # No published policy: relaxed alignment for both, as DMARC's defaults are.
    return dmarc.DMARC().parse_record("v=DMARC1; p=none", domain)


def _policy(evidence: Evidence) -> Any:
    if evidence.dmarc_record is None:
        return None
    try:
        return dmarc.DMARC().parse_record(evidence.dmarc_record, evidence.from_domain.lower(),
                                          evidence.dmarc_org)
    except dmarc.RecordSyntaxError:
        return None  # RFC 7489 6.6.3: a record that does not parse is no record


def _policy_action(policy: Any) -> str:
    disposition = policy.sp if policy.org_domain and policy.sp.value else policy.p
    return {"reject": "reject it", "quarantine": "quarantine it"}.get(disposition.value, "report it")


def _dkim_summary(signatures: tuple[Signature, ...]) -> str:
    results = {s.result for s in signatures}
    for result in ("pass", "temperror", "fail"):
        if result in results:
            return result
    return "none"


def _why_not(evidence: Evidence, fd: str) -> str:
    signatures = evidence.signatures
    if any(s.result == "fail" for s in signatures):
        return "DKIM signature did not verify"
    if any(s.result == "pass" for s in signatures):
        return f"signed by {', '.join(sorted({s.domain for s in signatures}))}, not {fd}"
    if evidence.spf in ("fail", "softfail"):
        return f"SPF {evidence.spf}: {evidence.spf_ip} may not send mail for {evidence.spf_domain}"
    if evidence.spf == "pass":
        return f"SPF passed for {evidence.spf_domain}, not {fd}"
    if evidence.spf == "temperror" or any(s.result == "temperror" for s in signatures):
        return "DNS did not answer while checking SPF and DKIM"
    if evidence.spf == "permerror":
        return f"the SPF record of {evidence.spf_domain} is broken"
    return f"nothing proves {fd} sent it (no SPF pass, no DKIM)"


# DNS and the libraries' I/O ------------------------------------------------------------------


@functools.cache
def resolver(nameserver: str = "") -> dns.resolver.Resolver:
    """Return the resolver to check mail with: the system's, or host[:port] when given."""
    if not nameserver:
        found = dns.resolver.Resolver()
    else:
        host, _, port = nameserver.rpartition(":") if nameserver.count(":") == 1 else (nameserver, "", "")
        found = dns.resolver.Resolver(configure=False)
        found.nameservers = [str(ipaddress.ip_address(host or nameserver))]
        found.port = int(port or 53)
    found.lifetime = LOOKUP_SECONDS
    return found


# pyspf looks names up through its module-level DNSLookup, on dnspython's default resolver and
# with a call dnspython deprecates; pointing it at ours is the hook it offers. The resolver of
# the check in progress travels in a context variable (asyncio.to_thread copies the context).
_current: contextvars.ContextVar[dns.resolver.Resolver] = contextvars.ContextVar("spf_resolver")


def _spf_lookup(name: str, qtype: str, strict: bool = True, timeout: float = LOOKUP_SECONDS) -> list[Any]:
    found: list[Any] = []
    try:
        answers = _current.get().resolve(name, qtype, lifetime=timeout, search=False)
    except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN, dns.name.EmptyLabel):
        return found
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
        raise spf.TempError(f"DNS {error}") from None
    for rdata in answers:
        if qtype in ("A", "AAAA"):
            found.append(((name, qtype), rdata.address))
        elif qtype == "MX":
            found.append(((name, qtype), (rdata.preference, rdata.exchange)))
        elif qtype == "PTR":
            found.append(((name, qtype), rdata.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            found.append(((name, qtype), rdata.strings))
    return found


spf.DNSLookup = _spf_lookup


def _txt(found: dns.resolver.Resolver, name: str) -> list[str]:
    try:
        answers = found.resolve(name, "TXT", search=False)
    except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN, dns.name.EmptyLabel):
        return []
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answers]


def _dkim_lookup(found: dns.resolver.Resolver) -> Any:
    def lookup(name: bytes | str, timeout: float = LOOKUP_SECONDS) -> bytes | None:
        text = name.decode() if isinstance(name, bytes) else name
        try:
            records = _txt(found, text.rstrip("."))
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            raise dkim.DnsTimeoutError(str(error)) from None
        return records[0].encode() if records else None

    return lookup


def gather(raw: bytes, origin: Origin | None, found: dns.resolver.Resolver) -> Evidence:
    """Ask DNS and check the signatures of one mail; blocking, so run it in a thread."""
    _current.set(found)
    from_domain = _from_domain(raw)
    spf_result, spf_domain, spf_ip = "none", "", ""
    if origin is not None:
        # A bounce (MAIL FROM:<>) is checked for its HELO name, as RFC 7208 2.3 says.
        spf_domain = (origin.mail_from.rpartition("@")[2] or origin.helo).lower()
        spf_ip = origin.ip
        spf_result, _ = spf.check2(i=origin.ip, s=origin.mail_from, h=origin.helo, querytime=SPF_SECONDS)
    signatures = _signatures(raw, found)
    record, org = _dmarc_record(found, from_domain)
    return Evidence(from_domain, spf_result, spf_domain, spf_ip, signatures, record, org)


async def authenticate(raw: bytes, origin: Origin | None, nameserver: str = "") -> AuthVerdict:
    """Check one mail's SPF, DKIM and DMARC and decide; DNS failures count as unproven."""
    try:
        evidence = await asyncio.to_thread(gather, raw, origin, resolver(nameserver))
    except dns.exception.DNSException as error:
        return AuthVerdict("temperror", "temperror", "temperror", False, f"DNS failed: {error}")
    return decide(evidence)


def _from_domain(raw: bytes) -> str:
    from email.parser import BytesHeaderParser

    header = BytesHeaderParser().parsebytes(raw).get("From", "")
    return parseaddr(str(header))[1].rpartition("@")[2].lower()


def _signatures(raw: bytes, found: dns.resolver.Resolver) -> tuple[Signature, ...]:
    try:
        checker = dkim.DKIM(raw, minkey=MIN_KEY_BITS, timeout=LOOKUP_SECONDS)
    except dkim.DKIMException:
        return ()  # headers dkimpy cannot split: nothing it could verify either
    count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
    signatures: list[Signature] = []
    for index in range(min(count, MAX_SIGNATURES)):
        checker.signature_fields = {}
        try:
            result = "pass" if checker.verify(idx=index, dnsfunc=_dkim_lookup(found)) else "fail"
        except dkim.DnsTimeoutError:
            result = "temperror"
        except dkim.DKIMException:
            result = "fail"
        domain = checker.signature_fields.get(b"d", b"").decode("ascii", "replace").lower()
        signatures.append(Signature(domain, result))
    return tuple(signatures)


def _dmarc_record(found: dns.resolver.Resolver, domain: str) -> tuple[str | None, str | None]:
    if not domain:
        return None, None
    for where in dict.fromkeys([domain, organisation(domain)]):
        records = [r for r in _txt(found, f"_dmarc.{where}") if r.startswith("v=DMARC1")]
        if len(records) == 1:
            return records[0], (where if where != domain else None)
    return None, None
