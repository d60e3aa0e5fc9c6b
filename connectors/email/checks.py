"""The hub's own DKIM, SPF and DMARC checks, for mail its SMTP listener received itself.

dkimpy verifies the signatures, pyspf evaluates SPF for the client's address, the
DMARC record is read here (``authentication.dmarc_result`` applies it). Every DNS
lookup goes through the injected :class:`~connectors.dns.Resolver`. The checks
block, so :class:`MailChecker` runs them on threads of its own, within a deadline:
a slow DNS neither stalls the event loop nor holds the mail up for long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass

import dkim
import spf
from dkim.util import InvalidTagValueList, parse_tag_value

from connectors.dns import DnsTrouble, Resolver
from connectors.email.authentication import (
    Outcome,
    Result,
    Verdict,
    aligned,
    decide,
    dmarc_record,
    dmarc_result,
    domain_of,
    normal,
    organizational_domain,
)

log = logging.getLogger(__name__)

MAX_SIGNATURES = 5
"""DKIM signatures verified per mail (each costs a DNS lookup): the first ones."""
CHECK_THREADS = 4


@dataclass(frozen=True)
class Envelope:
    """What the SMTP client told the listener before the message: SPF checks it."""

    client_ip: str
    helo: str
    mail_from: str
    """Empty for a null sender (a bounce): SPF checks the HELO name then."""


class MailChecker:
    """Checks mail on its own threads; a check that takes too long gives ``unknown``."""

    def __init__(self, resolver: Resolver, seconds: float) -> None:
        self._resolver = resolver
        self._seconds = seconds
        self._threads = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="mail-checks")

    async def verdict(self, raw: bytes, from_address: str, envelope: Envelope) -> Verdict:
        from_domain = domain_of(from_address)
        work = asyncio.get_running_loop().run_in_executor(
            self._threads, check_mail, raw, from_domain, envelope, self._resolver, self._seconds
        )
        try:
            results = await asyncio.wait_for(work, self._seconds)
        except TimeoutError:
            return Verdict(Outcome.UNKNOWN, f"checks took longer than {self._seconds:g}s")
        except Exception as error:  # stored all the same, but vouched for by nothing
            log.warning("mail authentication checks failed: %s", type(error).__name__)
            return Verdict(Outcome.FAIL, "checks failed")
        return decide(results, from_domain)

    def close(self) -> None:
        """Drop waiting checks; running ones end with their DNS timeouts."""
        self._threads.shutdown(wait=False, cancel_futures=True)


def check_mail(
    raw: bytes, from_domain: str, envelope: Envelope, resolver: Resolver, seconds: float
) -> list[Result]:
    """DKIM, SPF and DMARC results for one mail (blocking)."""
    own = [
        *check_dkim(raw, from_domain, resolver),
        check_spf(envelope, from_domain, resolver, seconds),
    ]
    return [*own, check_dmarc(own, from_domain, resolver)]


# --- DKIM (dkimpy) -------------------------------------------------------------------------


def check_dkim(raw: bytes, from_domain: str, resolver: Resolver) -> list[Result]:
    """The signatures by the From's (organizational) domain, verified; only they can pass it.

    Others are not even looked up: their keys may sit behind a forger's slow DNS.
    """
    try:
        signed = dkim.DKIM(raw)
    except Exception:  # dkimpy's parser on hostile input
        return [Result("dkim", "permerror")]
    signatures = [
        index
        for index, domain in enumerate(signature_domains(signed))
        if domain is not None and aligned(domain, from_domain)
    ]
    if not signatures:
        return [Result("dkim", "none")]
    lookup = txt_lookup(resolver)
    return [verify_signature(signed, index, lookup) for index in signatures[:MAX_SIGNATURES]]


def signature_domains(signed: dkim.DKIM) -> list[str | None]:
    """The d= of each DKIM-Signature, top down (``None`` where it cannot be read)."""
    domains: list[str | None] = []
    for name, value in signed.headers:
        if name.lower() != b"dkim-signature":
            continue
        try:
            domain = parse_tag_value(value).get(b"d")
        except InvalidTagValueList:
            domain = None
        domains.append(None if domain is None else normal(domain.decode("ascii", "replace")))
    return domains


def verify_signature(signed: dkim.DKIM, index: int, lookup: Callable[..., bytes | None]) -> Result:
    signed.domain = None
    try:
        good = signed.verify(idx=index, dnsfunc=lookup)
    except DnsTrouble:
        return Result("dkim", "temperror", signing_domain(signed))
    except dkim.ValidationError:  # the body hash or a tag does not match
        return Result("dkim", "fail", signing_domain(signed))
    except Exception:  # a malformed message, signature or key, or worse
        return Result("dkim", "permerror", signing_domain(signed))
    return Result("dkim", "pass" if good else "fail", signing_domain(signed))


def signing_domain(signed: dkim.DKIM) -> str | None:
    domain = signed.domain
    return None if domain is None else normal(domain.decode("ascii", "replace"))


def txt_lookup(resolver: Resolver) -> Callable[..., bytes | None]:
    """dkimpy's ``dnsfunc``: the first TXT record at a name, ``None`` if there is none."""

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        records = txt_records(resolver, name.decode("ascii", "replace"))
        return records[0] if records else None

    return lookup


def txt_records(resolver: Resolver, name: str) -> list[bytes]:
    records = resolver.lookup(name.rstrip("."), "TXT")
    return [record for record in records if isinstance(record, bytes)]


# --- SPF (pyspf) ---------------------------------------------------------------------------

SPF_RESOLVER: ContextVar[Resolver] = ContextVar("spf_resolver")


def spf_lookup(name: str, qtype: str, strict: object = True, timeout: object = None) -> list:
    """pyspf's ``DNSLookup`` through the resolver of the check running in this context."""
    try:
        records = SPF_RESOLVER.get().lookup(name, qtype)
    except DnsTrouble as trouble:
        raise spf.TempError(f"DNS {trouble}") from trouble
    return [((name, qtype), (record,) if qtype == "TXT" else record) for record in records]


# pyspf looks every name up through this module-level function (its own tests replace it too).
spf.DNSLookup = spf_lookup


def check_spf(envelope: Envelope, from_domain: str, resolver: Resolver, seconds: float) -> Result:
    """SPF for the envelope's domain (MAIL FROM, else HELO), when it is aligned with the From.

    An unaligned domain could not pass the From, and its DNS may be a forger's.
    """
    domain = domain_of(envelope.mail_from) if envelope.mail_from else normal(envelope.helo)
    if not domain or not envelope.client_ip or not aligned(domain, from_domain):
        return Result("spf", "none")
    token = SPF_RESOLVER.set(resolver)
    try:
        result, _explanation = spf.check2(
            i=envelope.client_ip, s=envelope.mail_from, h=envelope.helo, querytime=seconds
        )
    except Exception:  # pyspf on input it cannot take (an odd address)
        return Result("spf", "permerror", domain)
    finally:
        SPF_RESOLVER.reset(token)
    return Result("spf", str(result), domain)


# --- DMARC ---------------------------------------------------------------------------------


def check_dmarc(own: list[Result], from_domain: str, resolver: Resolver) -> Result:
    """The From domain's DMARC record (else its organizational domain's) applied to ``own``."""
    try:
        record = dmarc_record(txt_records(resolver, f"_dmarc.{from_domain}"))
        organization = organizational_domain(from_domain)
        if record is None and organization != from_domain:
            record = dmarc_record(txt_records(resolver, f"_dmarc.{organization}"))
    except DnsTrouble:
        return Result("dmarc", "temperror", from_domain)
    return dmarc_result(record, own, from_domain)
