"""DNS for mail authentication tests: a zone in a dict, a server that never answers, and a
domain's DKIM key (the test signs with it, the zone publishes it)."""

from __future__ import annotations

import base64
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dkim
import dns.resolver

from connectors.dns import SystemResolver


@dataclass
class ZoneResolver:
    """Answers from ``records`` ({(name, type): [values]}); remembers every question."""

    records: dict[tuple[str, str], list[str | bytes | tuple[int, str]]] = field(
        default_factory=dict
    )
    asked: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, rdtype: str, *values: str | bytes | tuple[int, str]) -> None:
        self.records.setdefault((name.lower(), rdtype), []).extend(values)

    def lookup(self, name: str, rdtype: str) -> list[str | bytes | tuple[int, str]]:
        self.asked.append((name.lower(), rdtype))
        return list(self.records.get((name.lower(), rdtype), []))


@contextmanager
def silent_resolver(lifetime: float) -> Iterator[SystemResolver]:
    """The hub's real resolver (dnspython) asking a loopback server that never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = silent.getsockname()[1]
        yield SystemResolver(resolver, lifetime=lifetime)


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_pem: bytes
    public_record: bytes

    @classmethod
    def generate(cls, domain: str, selector: str = "s2026") -> DkimKey:
        """A new RSA key pair, made with the openssl CLI (PKCS#1, as dkimpy reads it)."""
        private_pem = openssl("genrsa", "-traditional", "2048")
        public_der = openssl("rsa", "-pubout", "-outform", "DER", given=private_pem)
        record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)
        return cls(domain, selector, private_pem, record)

    def publish(self, zone: ZoneResolver) -> None:
        zone.add(f"{self.selector}._domainkey.{self.domain}", "TXT", self.public_record)

    def sign(self, raw: bytes) -> bytes:
        """``raw`` with a DKIM-Signature by this key on top."""
        signature = dkim.sign(
            raw,
            self.selector.encode(),
            self.domain.encode(),
            self.private_pem,
            include_headers=[b"from", b"to", b"subject", b"message-id"],
        )
        return signature + raw


def openssl(*arguments: str, given: bytes = b"") -> bytes:
    done = subprocess.run(("openssl", *arguments), input=given, capture_output=True, check=True)
    return done.stdout
