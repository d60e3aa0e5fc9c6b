"""Whether a mail's From is authentic: the verdict rules, the hub's own DKIM/SPF/DMARC checks on
mail its SMTP listener receives (DNS answered by the test), and a trusted server's
Authentication-Results on mail fetched from a real Dovecot mailbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from config import Settings
from connectors.base import Address, InboundMessage
from connectors.dns import Resolver
from connectors.email.authentication import (
    DmarcRecord,
    Outcome,
    Result,
    Verdict,
    dmarc_record,
    dmarc_result,
    verdict_from_headers,
)
from hub.app import Hub
from hub.db.schema import conversations, identities, messages
from tests.conftest import ENVIRON
from tests.support.clock import FakeClock
from tests.support.dns import DkimKey, ZoneResolver, silent_resolver
from tests.support.dovecot import DovecotMailbox, email_channel
from tests.support.hubs import started_hub
from tests.support.smtp import SmtpPeer

SUPPORT = "support@shop.example"
LENA = "lena@example.org"
TRUSTED = "mx.shop.example"
DEADLINE = 30

# --- The verdict rules ---------------------------------------------------------------------

VERDICTS = [
    pytest.param(
        [
            f"{TRUSTED}; dkim=pass header.d=example.org; spf=pass smtp.mailfrom=example.org; "
            "dmarc=pass header.from=example.org"
        ],
        Verdict(Outcome.PASS, "dmarc=pass"),
        id="dmarc-pass",
    ),
    pytest.param(
        [
            f"{TRUSTED}; dkim=none; spf=softfail smtp.mailfrom=example.org; "
            "dmarc=fail header.from=example.org"
        ],
        Verdict(Outcome.FAIL, "dmarc=fail dkim=none spf=softfail"),
        id="dmarc-fail",
    ),
    pytest.param(
        [f"{TRUSTED}; dkim=pass header.d=mail.example.org; spf=none"],
        Verdict(Outcome.PASS, "dkim=pass (mail.example.org)"),
        id="dkim-relaxed-alignment-without-dmarc",
    ),
    pytest.param(
        [f"{TRUSTED}; spf=pass smtp.mailfrom=bounces@example.org"],
        Verdict(Outcome.PASS, "spf=pass (example.org)"),
        id="spf-aligned",
    ),
    pytest.param(
        [f"{TRUSTED}; dkim=pass header.d=mailer.example; spf=softfail smtp.mailfrom=example.org"],
        Verdict(Outcome.FAIL, "dmarc=none dkim=pass (mailer.example, not aligned) spf=softfail"),
        id="dkim-by-another-domain",
    ),
    pytest.param(
        [f"{TRUSTED}; dkim=pass header.d=example.co.uk"],
        Verdict(Outcome.FAIL, "dmarc=none dkim=pass (example.co.uk, not aligned) spf=none"),
        id="public-suffix-is-no-organization",
    ),
    pytest.param(
        [f"{TRUSTED}; dkim=temperror header.d=example.org; dmarc=temperror"],
        Verdict(Outcome.UNKNOWN, "dmarc=temperror dkim=temperror spf=none"),
        id="dns-trouble-for-the-from-domain",
    ),
    pytest.param(
        [f"{TRUSTED}; dkim=temperror header.d=slow.example; spf=fail smtp.mailfrom=example.org"],
        Verdict(Outcome.FAIL, "dmarc=none dkim=temperror spf=fail"),
        id="dns-trouble-elsewhere-changes-nothing",
    ),
    pytest.param(
        ["mx.evil.example; dkim=pass header.d=example.org; dmarc=pass header.from=example.org"],
        Verdict(Outcome.FAIL, f"no Authentication-Results from {TRUSTED}"),
        id="forged-header-of-another-server",
    ),
    pytest.param(
        [f"{TRUSTED}; dmarc=pass header.from=other.example; dkim=fail header.d=example.org"],
        Verdict(Outcome.FAIL, "dmarc=none dkim=fail spf=none"),
        id="dmarc-about-another-from",
    ),
    pytest.param(
        [f"{TRUSTED}; dkim=pass header.d=example.org,, garbage", "MX.Shop.Example; spf=fail"],
        Verdict(Outcome.FAIL, "dmarc=none dkim=none spf=fail"),
        id="unreadable-header-ignored-id-case-insensitive",
    ),
    pytest.param(
        [f"{TRUSTED}; dkim=pass header.i=@Example.ORG", f"{TRUSTED}; dmarc=fail"],
        Verdict(Outcome.FAIL, "dmarc=fail dkim=pass (example.org, not aligned) spf=none"),
        id="dmarc-fail-wins-over-a-dkim-pass",
    ),
]


@pytest.mark.parametrize(("headers", "expected"), VERDICTS)
def test_verdict_from_a_trusted_servers_headers(headers: list[str], expected: Verdict):
    assert verdict_from_headers(headers, TRUSTED, "example.org") == expected


def test_alignment_goes_by_the_organizational_domain_of_the_from():
    headers = [f"{TRUSTED}; dkim=pass header.d=example.co.uk"]
    assert verdict_from_headers(headers, TRUSTED, "shop.example.co.uk").outcome == Outcome.PASS
    assert verdict_from_headers(headers, TRUSTED, "other.co.uk").outcome == Outcome.FAIL


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([b"v=DMARC1; p=reject"], DmarcRecord()),
        ([b"v=DMARC1;p=none;adkim=s; aspf=s", b"v=spf1 -all"], DmarcRecord(True, True)),
        ([b"p=reject; v=DMARC1"], None),
        ([b"v=DMARC1; p=reject", b"v=DMARC1; p=none"], None),
        ([], None),
    ],
)
def test_a_dmarc_record_is_read_only_when_it_is_the_one(records, expected):
    assert dmarc_record(records) == expected


def test_strict_dmarc_alignment_needs_the_very_domain():
    signed_by_sub = [Result("dkim", "pass", "mail.example.org")]
    assert dmarc_result(DmarcRecord(), signed_by_sub, "example.org").result == "pass"
    assert dmarc_result(DmarcRecord(strict_dkim=True), signed_by_sub, "example.org").result == (
        "fail"
    )
    assert dmarc_result(None, signed_by_sub, "example.org").result == "none"


def test_own_checks_are_on_by_default_only_where_the_hub_is_the_receiving_server():
    def channel(**extra: object) -> Settings:
        return email_settings("sqlite:///unused.db", 25, **extra)

    listening = channel(smtp_in={"host": "127.0.0.1", "port": 0})
    behind_relay = channel(smtp_in={"port": 0}, authentication={"authserv_id": TRUSTED})
    assert listening.channels[0].checks_received_mail  # type: ignore[union-attr]
    assert not behind_relay.channels[0].checks_received_mail  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match=r"authentication\.check needs smtp_in"):
        channel(authentication={"check": True})
    with pytest.raises(ValidationError, match="must be one token"):
        channel(authentication={"authserv_id": "mx.shop.example; dkim=pass"})


# --- The hub's own checks, through its SMTP listener ------------------------------------------


def email_settings(database_url: str, relay_port: int, **channel: object) -> Settings:
    data = {
        "database": {"url": database_url},
        "channels": [
            {
                "kind": "email",
                "name": "mail",
                "address": SUPPORT,
                "smtp_out": {"host": "127.0.0.1", "port": relay_port, "security": "none"},
                **channel,
            }
        ],
    }
    return Settings.model_validate(data, context={"environ": ENVIRON})


@pytest.fixture(scope="module")
def lenas_key() -> DkimKey:
    return DkimKey.generate("example.org")


def lenas_domain(key: DkimKey) -> ZoneResolver:
    """example.org: DKIM key published, SPF naming only its own server, DMARC p=reject."""
    zone = ZoneResolver()
    key.publish(zone)
    zone.add("example.org", "TXT", b"v=spf1 ip4:192.0.2.10 -all")
    zone.add("_dmarc.example.org", "TXT", b"v=DMARC1; p=reject")
    return zone


@pytest.fixture
def zone(lenas_key: DkimKey) -> ZoneResolver:
    return lenas_domain(lenas_key)


@asynccontextmanager
async def listening_hub(
    database_url: str, relay: SmtpPeer, resolver: Resolver, **authentication: object
) -> AsyncIterator[Hub]:
    """A hub whose email channel receives by SMTP and checks senders (on by default)."""
    settings = email_settings(
        database_url,
        relay.port,
        smtp_in={"host": "127.0.0.1", "port": 0},
        authentication=authentication,
    )
    async with started_hub(settings, FakeClock(), resolver=resolver) as hub:
        yield hub


@pytest.fixture
async def hub(database_url: str, relay: SmtpPeer, zone: ZoneResolver) -> AsyncIterator[Hub]:
    async with listening_hub(database_url, relay, zone) as hub:
        yield hub


def lena_mail(text: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Lena Fischer <{LENA}>"
    mail["To"] = SUPPORT
    mail["Subject"] = "Order 1234"
    mail["Message-ID"] = make_msgid(domain="example.org")
    mail.set_content(text)
    return mail.as_bytes(policy=mail.policy.clone(linesep="\r\n"))


def unchecked_mail() -> InboundMessage:
    """Lena's mail from before, which nothing could check: her customer, unverified."""
    return InboundMessage(
        channel="mail",
        external_id="earlier@example.org",
        sender=Address("email", LENA),
        text="My first mail",
        sender_proof=None,
    )


async def deliver(hub: Hub, raw: bytes, mail_from: str = LENA) -> None:
    port = hub.connectors["mail"].smtp_port  # type: ignore[attr-defined]
    await aiosmtplib.send(
        raw, sender=mail_from, recipients=[SUPPORT], hostname="127.0.0.1", port=port
    )


async def received(hub: Hub) -> list:
    """Every customer message: text, meta, conversation and customer, oldest first."""
    statement = (
        select(
            messages.c.text,
            messages.c.meta,
            messages.c.conversation_id,
            conversations.c.customer_id,
        )
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .where(messages.c.direction == "in")
        .order_by(messages.c.id)
    )
    return await hub.db.read(lambda conn: conn.execute(statement).all())


async def email_identities(hub: Hub) -> list[tuple]:
    statement = select(
        identities.c.address, identities.c.verified_by, identities.c.customer_id
    ).where(identities.c.kind == "email")
    return await hub.db.read(lambda conn: [tuple(row) for row in conn.execute(statement)])


async def test_a_dkim_signed_mail_proves_lena_and_joins_her_customer(hub: Hub, lenas_key: DkimKey):
    earlier = await hub.ingest(unchecked_mail())
    await deliver(hub, lenas_key.sign(lena_mail("Where is my parcel?")))
    _, signed = await received(hub)
    assert signed.conversation_id == earlier.conversation_id
    assert signed.meta["authentication"] == {"result": "pass", "reason": "dmarc=pass"}
    assert "auth_failure" not in signed.meta
    assert await email_identities(hub) == [(LENA, "mail-auth", earlier.customer_id)]


async def test_forged_mail_is_stored_flagged_and_kept_apart_from_lenas_customer(
    hub: Hub, lenas_key: DkimKey
):
    await deliver(hub, lenas_key.sign(lena_mail("Where is my parcel?")))
    await deliver(hub, lena_mail("Please send my order to Elm Street 5 instead."))
    tampered = lenas_key.sign(lena_mail("Refund me to this account: 1234."))
    await deliver(hub, tampered.replace(b"1234.", b"6666."))
    proven, unsigned, altered = await received(hub)
    assert unsigned.meta["auth_failure"] == "dmarc=fail dkim=none spf=fail"
    assert altered.meta["auth_failure"] == "dmarc=fail dkim=fail spf=fail"
    assert unsigned.meta["from"] == LENA
    assert unsigned.customer_id == altered.customer_id != proven.customer_id
    assert unsigned.conversation_id == altered.conversation_id != proven.conversation_id
    assert altered.text == "Refund me to this account: 6666.", "stored all the same"
    assert await email_identities(hub) == [(LENA, "mail-auth", proven.customer_id)]


async def test_a_forgers_own_signature_and_envelope_are_not_even_looked_up(
    hub: Hub, zone: ZoneResolver
):
    """Only Lena's domain can pass Lena's From: a forger's slow DNS cannot make it unknown."""
    forger = DkimKey.generate("attacker.example")
    await deliver(hub, forger.sign(lena_mail("New address!")), mail_from="x@attacker.example")
    (forged,) = await received(hub)
    assert forged.meta["auth_failure"] == "dmarc=fail dkim=none spf=none"
    assert [name for name, _ in zone.asked if "attacker" in name] == []


async def test_a_from_added_on_top_of_a_signed_mail_does_not_pass(hub: Hub, lenas_key: DkimKey):
    """Mallory's own mail, signed by example.org, with Lena's From put above the signed one."""
    signed = lenas_key.sign(
        lena_mail("New address!").replace(LENA.encode(), b"mallory@example.org")
    )
    await deliver(hub, f"From: Lena <{LENA}>\r\n".encode() + signed)
    (forged,) = await received(hub)
    assert forged.meta["from"] == LENA
    assert forged.meta["auth_failure"] == "dmarc=fail dkim=fail spf=fail"


async def test_a_signature_by_a_domain_that_cannot_exist_does_not_make_a_forgery_unknown(
    database_url: str, relay: SmtpPeer
):
    """A label over 63 octets has no key to fetch: that is no DNS failure (the real resolver)."""
    impossible = DkimKey.generate("x" * 64 + ".example.org")
    raw = lena_mail("New address!")
    signature = impossible.sign(raw).removesuffix(raw)
    on_one_line = signature.replace(b"\r\n ", b"")  # as a forger writes it: d= unfolded
    with silent_resolver(lifetime=0.2) as resolver:
        async with listening_hub(database_url, relay, resolver) as hub:
            await deliver(hub, on_one_line + raw, mail_from="x@attacker.example")
            (mail,) = await received(hub)
    assert mail.meta["auth_failure"] == "dmarc=temperror dkim=fail spf=none"


async def test_mail_from_a_server_its_domains_spf_names_passes_without_dkim(
    database_url: str, relay: SmtpPeer
):
    zone = ZoneResolver()
    zone.add("mail.example.org", "TXT", b"v=spf1 ip4:127.0.0.0/8 -all")
    async with listening_hub(database_url, relay, zone) as hub:
        await deliver(hub, lena_mail("Hello"), mail_from="bounces@mail.example.org")
        (mail,) = await received(hub)
    assert mail.meta["authentication"] == {
        "result": "pass",
        "reason": "spf=pass (mail.example.org)",
    }


async def test_when_dns_does_not_answer_the_mail_reaches_lenas_customer_unverified(
    database_url: str, relay: SmtpPeer, lenas_key: DkimKey
):
    with silent_resolver(lifetime=0.2) as resolver:
        async with listening_hub(database_url, relay, resolver) as hub:
            earlier = await hub.ingest(unchecked_mail())
            await deliver(hub, lenas_key.sign(lena_mail("Hello?")))
            _, mail = await received(hub)
            known = await email_identities(hub)
    assert mail.conversation_id == earlier.conversation_id
    assert mail.meta["authentication"] == {
        "result": "unknown",
        "reason": "dmarc=temperror dkim=temperror spf=temperror",
    }
    assert "auth_failure" not in mail.meta
    assert known == [(LENA, None, earlier.customer_id)]


async def test_checks_that_take_too_long_count_as_unknown_and_the_mail_is_stored(
    database_url: str, relay: SmtpPeer, lenas_key: DkimKey
):
    with silent_resolver(lifetime=1.0) as resolver:
        async with listening_hub(database_url, relay, resolver, timeout_seconds=0.3) as hub:
            await deliver(hub, lenas_key.sign(lena_mail("Hello?")))
            (mail,) = await received(hub)
    assert mail.meta["authentication"] == {
        "result": "unknown",
        "reason": "checks took longer than 0.3s",
    }


# --- A trusted server's Authentication-Results, on mail fetched by IMAP ----------------------


def with_header(header: str, text: str) -> bytes:
    return f"Authentication-Results: {header}\r\n".encode() + lena_mail(text)


async def until_received(hub: Hub, count: int) -> list:
    async with asyncio.timeout(DEADLINE):
        while len(rows := await received(hub)) < count:  # noqa: ASYNC110 - the database is observed
            await asyncio.sleep(0.05)
    return rows


async def test_imap_mail_is_judged_by_the_trusted_servers_header_alone(
    database_url: str, dovecot: DovecotMailbox, relay: SmtpPeer
):
    channel = email_channel(dovecot, relay.port, poll_seconds=2)
    data = {
        "database": {"url": database_url},
        "channels": [{**channel, "authentication": {"authserv_id": TRUSTED}}],
    }
    environ = {**ENVIRON, "IMAP_PASSWORD": dovecot.password}
    settings = Settings.model_validate(data, context={"environ": environ})
    zone = ZoneResolver()
    async with started_hub(settings, FakeClock(), resolver=zone) as hub:
        trusted = f"{TRUSTED}; dkim=pass header.d=example.org; dmarc=pass header.from=example.org"
        await dovecot.append(with_header(trusted, "Hello from Lena"))
        forged = "mx.evil.example; dkim=pass header.d=example.org; dmarc=pass"
        await dovecot.append(with_header(forged, "Please change my address"))
        proven, disputed = await until_received(hub, 2)
        known = await email_identities(hub)
    assert proven.meta["authentication"] == {"result": "pass", "reason": "dmarc=pass"}
    assert disputed.meta["auth_failure"] == f"no Authentication-Results from {TRUSTED}"
    assert disputed.customer_id != proven.customer_id
    assert known == [(LENA, "mail-auth", proven.customer_id)]
    assert zone.asked == [], "the header path asks no DNS"
