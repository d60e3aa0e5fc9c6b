"""DNS lookups for checking mail (DKIM keys, SPF and DMARC records), injectable.

The hub passes one :class:`Resolver` to its connectors (``HubPort.resolver``): in
production :class:`SystemResolver` (dnspython, the system's name servers, a timeout
per lookup); tests pass one that answers from a dict, so they run offline.
Lookups are blocking: call them off the event loop.
"""

from __future__ import annotations

from typing import Any, Protocol

import dns.exception
import dns.name
import dns.resolver

LOOKUP_SECONDS = 5.0
"""How long one lookup may take before it counts as a temporary error."""

RECORD_TYPES = frozenset({"TXT", "A", "AAAA", "MX", "PTR"})


class DnsTrouble(Exception):
    """No answer could be had (timeout, no server answered): a temporary error, not a "no"."""


class Resolver(Protocol):
    def lookup(self, name: str, rdtype: str) -> list[str | bytes | tuple[int, str]]:
        """The records of ``rdtype`` at ``name``; ``[]`` when there are none (NXDOMAIN too).

        TXT: bytes (the record's strings joined); A, AAAA: address text; MX:
        (preference, exchange); PTR: a name. Raises :class:`DnsTrouble` when DNS
        gave no answer.
        """
        ...


class SystemResolver:
    """dnspython with the system's name servers, read on first use."""

    def __init__(
        self, resolver: dns.resolver.Resolver | None = None, lifetime: float = LOOKUP_SECONDS
    ) -> None:
        self._resolver = resolver
        self._lifetime = lifetime

    def lookup(self, name: str, rdtype: str) -> list[str | bytes | tuple[int, str]]:
        if rdtype not in RECORD_TYPES:
            return []
        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException:
            return []  # a name that cannot exist (a label over 63 octets...): nothing to find
        try:
            answer = self._dnspython().resolve(
                qname, rdtype, lifetime=self._lifetime, raise_on_no_answer=False, search=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as error:
            raise DnsTrouble(f"{rdtype} {name}: {type(error).__name__}") from error
        return [record_value(rdtype, record) for record in answer]

    def _dnspython(self) -> dns.resolver.Resolver:
        if self._resolver is None:
            try:
                self._resolver = dns.resolver.Resolver()
            except dns.exception.DNSException as error:
                raise DnsTrouble(f"no name servers configured: {error}") from error
        return self._resolver


def record_value(rdtype: str, record: Any) -> str | bytes | tuple[int, str]:
    """One dnspython rdata in the shape :meth:`Resolver.lookup` promises."""
    match rdtype:
        case "TXT":
            return b"".join(record.strings)
        case "MX":
            return (record.preference, record.exchange.to_text(omit_final_dot=True))
        case "PTR":
            return record.target.to_text(omit_final_dot=True)
        case _:
            return str(record.address)
