"""Whether a mail's From address is authenticated: DMARC, or DKIM or SPF aligned with it.

Pure: authentication results in (read from an ``Authentication-Results`` header that
a trusted mail server added, or from the hub's own checks in ``checks.py``), a
:class:`Verdict` out. The rules, in order:

1. a DMARC result about the From domain decides: ``fail`` fails, ``pass`` passes;
2. else a DKIM or SPF ``pass`` whose domain is aligned with the From domain passes
   (relaxed alignment: the same organizational domain, from the Public Suffix List);
3. else a DKIM or SPF ``temperror`` (DNS gave no answer) for an aligned domain means
   the hub could not know: ``unknown``. Temperrors for other domains are ignored: they
   could not have passed this From, and a forger must not turn ``fail`` into
   ``unknown`` by signing with a domain whose DNS is slow;
4. else the From is not authenticated: ``fail``, also when the domain publishes no
   DKIM, SPF or DMARC at all (anyone can send as it then).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import authres
from publicsuffixlist import PublicSuffixList

METHODS = ("dmarc", "dkim", "spf")
SHOWN_FIRST = ("pass", "temperror", "fail", "permerror", "softfail", "neutral", "policy")
"""Which of several results of one method a reason names: the most telling."""


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"
    """The hub could not tell (DNS gave no answer, the checks took too long)."""


@dataclass(frozen=True)
class Result:
    """One method's result, as RFC 8601 words it (pass, fail, softfail, none, temperror...)."""

    method: str
    result: str
    domain: str | None = None
    """dkim: the signing domain (d=); spf: the domain checked (MAIL FROM, else HELO);
    dmarc: the From domain it judged."""


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    """Short, for agents: "dmarc=pass", "dkim=pass (example.org)", "dmarc=fail dkim=none
    spf=softfail"."""


def decide(results: Sequence[Result], from_domain: str) -> Verdict:
    """The verdict on a mail whose From address is in ``from_domain`` (rules: module doc)."""
    from_domain = normal(from_domain)
    relevant = [result for result in results if concerns(result, from_domain)]
    dmarc = {result.result for result in relevant if result.method == "dmarc"}
    if "fail" in dmarc:
        return Verdict(Outcome.FAIL, summary(relevant))
    if "pass" in dmarc:
        return Verdict(Outcome.PASS, "dmarc=pass")
    for result in relevant:
        if passes_aligned(result, from_domain):
            return Verdict(Outcome.PASS, f"{result.method}=pass ({normal(result.domain or '')})")
    if any(could_have_passed(result, from_domain) for result in relevant):
        return Verdict(Outcome.UNKNOWN, summary(relevant))
    return Verdict(Outcome.FAIL, summary(relevant))


def concerns(result: Result, from_domain: str) -> bool:
    """DKIM, SPF, and DMARC about this From domain (not another From the server saw)."""
    if result.method not in METHODS:
        return False
    return result.method != "dmarc" or result.domain is None or normal(result.domain) == from_domain


def passes_aligned(result: Result, from_domain: str, *, strict: bool = False) -> bool:
    if result.method not in ("dkim", "spf") or result.result != "pass" or not result.domain:
        return False
    return aligned(result.domain, from_domain, strict=strict)


def could_have_passed(result: Result, from_domain: str) -> bool:
    """A DKIM or SPF temperror for this From's domain (or one the server did not name)."""
    if result.method not in ("dkim", "spf") or result.result != "temperror":
        return False
    return result.domain is None or aligned(result.domain, from_domain)


def summary(results: Sequence[Result]) -> str:
    """One word per method, e.g. "dmarc=fail dkim=pass (mailer.example, not aligned) spf=none"."""
    words = []
    for method in METHODS:
        found = [result for result in results if result.method == method]
        shown = min(found, key=rank, default=Result(method, "none"))
        word = f"{method}={shown.result}"
        if method != "dmarc" and shown.result == "pass":
            word += f" ({normal(shown.domain or '?')}, not aligned)"
        words.append(word)
    return " ".join(words)


def rank(result: Result) -> int:
    return SHOWN_FIRST.index(result.result) if result.result in SHOWN_FIRST else len(SHOWN_FIRST)


# --- Domains -----------------------------------------------------------------------------


def normal(domain: str) -> str:
    """Lower case, no final dot, internationalized names as A-labels (as DKIM's d= has them)."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


@functools.cache
def public_suffixes() -> PublicSuffixList:
    """The Public Suffix List that ships with ``publicsuffixlist`` (no download)."""
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """RFC 7489 3.2: the public suffix plus one label (shop.example.co.uk -> example.co.uk)."""
    domain = normal(domain)
    return public_suffixes().privatesuffix(domain) or domain


def aligned(domain: str, from_domain: str, *, strict: bool = False) -> bool:
    """RFC 7489 3.1: strict, the same domain; relaxed, the same organizational domain."""
    if strict:
        return normal(domain) == normal(from_domain)
    return organizational_domain(domain) == organizational_domain(from_domain)


def domain_of(address: str) -> str:
    return normal(address.rpartition("@")[2])


# --- Authentication-Results (RFC 8601) ----------------------------------------------------


def verdict_from_headers(values: Iterable[str], authserv_id: str, from_domain: str) -> Verdict:
    """The verdict of the trusted server ``authserv_id`` on a mail, from its headers.

    A mail without that server's header did not pass through it (it was put into the
    mailbox some other way), so nothing vouches for its From: ``fail``.
    """
    results = trusted_results(values, authserv_id)
    if results is None:
        return Verdict(Outcome.FAIL, f"no Authentication-Results from {authserv_id}")
    return decide(results, from_domain)


def trusted_results(values: Iterable[str], authserv_id: str) -> list[Result] | None:
    """The results in the headers ``authserv_id`` added; ``None`` when there is none.

    Every other header is ignored: anyone can write one. Unreadable ones too. The
    server must remove headers that arrive with its own id (RFC 8601 section 5).
    """
    found: list[Result] | None = None
    for value in values:
        header = parsed(value)
        if header is None or str(header.authserv_id).lower() != authserv_id.lower():
            continue
        found = (found or []) + [result_of(entry) for entry in header.results]
    return found


def parsed(value: str) -> authres.AuthenticationResultsHeader | None:
    try:
        return authres.AuthenticationResultsHeader.parse_value(value)
    except authres.AuthResError:
        return None


def result_of(entry: authres.AuthenticationResult) -> Result:
    method = str(entry.method).lower()
    properties = {
        f"{item.type}.{item.name}".lower(): str(item.value)
        for item in entry.properties
        if item.value is not None
    }
    return Result(method, str(entry.result).lower(), reported_domain(method, properties))


def reported_domain(method: str, properties: dict[str, str]) -> str | None:
    """The domain a result speaks for, from its properties (``header.d``, ``smtp.mailfrom``...)."""
    names = {
        "dkim": ("header.d", "header.i"),
        "spf": ("smtp.mailfrom", "smtp.helo"),
        "dmarc": ("header.from",),
    }.get(method, ())
    value = next((properties[name] for name in names if properties.get(name)), None)
    return None if value is None else normal(value.rpartition("@")[2])


# --- DMARC records (RFC 7489), for the hub's own checks --------------------------------------


@dataclass(frozen=True)
class DmarcRecord:
    strict_dkim: bool = False
    strict_spf: bool = False


def dmarc_record(texts: Iterable[bytes]) -> DmarcRecord | None:
    """The DMARC record among the TXT records at ``_dmarc.<domain>``; ``None`` unless one."""
    records = [tags for text in texts if (tags := dmarc_tags(text)) is not None]
    if len(records) != 1:
        return None
    tags = records[0]
    return DmarcRecord(tags.get("adkim") == "s", tags.get("aspf") == "s")


def dmarc_tags(text: bytes) -> dict[str, str] | None:
    pairs = [part.partition("=") for part in text.decode("ascii", "replace").split(";")]
    pairs = [pair for pair in pairs if pair[0].strip()]
    tags = {name.strip().lower(): value.strip().lower() for name, _, value in pairs}
    first = pairs[0] if pairs else ("", "", "")
    if first[0].strip().lower() != "v" or first[2].strip() != "DMARC1":
        return None
    return tags


def dmarc_result(record: DmarcRecord | None, results: Sequence[Result], from_domain: str) -> Result:
    """DMARC's own verdict from the DKIM and SPF results, under the domain's record."""
    from_domain = normal(from_domain)
    if record is None:
        return Result("dmarc", "none", from_domain)
    for result in results:
        strict = record.strict_dkim if result.method == "dkim" else record.strict_spf
        if passes_aligned(result, from_domain, strict=strict):
            return Result("dmarc", "pass", from_domain)
    if any(could_have_passed(result, from_domain) for result in results):
        return Result("dmarc", "temperror", from_domain)
    return Result("dmarc", "fail", from_domain)
